"""Pure shaping into pandas: catalog rows -> a devices frame, device answers -> one tidy frame.

The tidy frame has one row per reading: ``device`` (0x id), ``property``, ``time`` (UTC,
``datetime64[ns, UTC]``), ``value`` (float; booleans as 0/1) and ``unit`` (from the TD);
device, property and unit are categoricals, so millions of rows stay small.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

READING_COLUMNS = ["device", "property", "time", "value", "unit"]
DEVICE_COLUMNS = ["device_id", "title", "types", "properties", "units", "geohash", "lat", "lon", "reserve_eth",
                  "reserve_wei", "attested", "rating_avg", "rating_count", "rating_weight_wei", "active", "owner"]
WEI_PER_ETH = 10**18


class DeviceSeries:
    """The readings of one device as numpy columns, filled window by window."""

    def __init__(self, device_id: str):
        self.device_id = device_id
        # property -> (unit, time chunks, value chunks)
        self.columns: dict[str, tuple[str, list[np.ndarray], list[np.ndarray]]] = {}
        self.dropped = 0  # readings whose time or value is not a number

    def add(self, prop: str, unit: str, readings: list) -> None:
        _, ts, vs = self.columns.setdefault(prop, (unit, [], []))
        try:  # the common case, a device answering its TD's output schema: two list passes, no per-row checks
            t = [r["t"] for r in readings]
            v = [r["value"] for r in readings]
            clean = set(map(type, t)) <= {int, float} and set(map(type, v)) <= {int, float, bool}
        except (KeyError, TypeError):
            clean = False
        if not clean:
            t, v = [], []
            for r in readings:
                tt, vv = (r.get("t"), r.get("value")) if isinstance(r, dict) else (None, None)
                if type(tt) in (int, float) and type(vv) in (int, float, bool):
                    t.append(tt)
                    v.append(vv)
        t_arr, v_arr = np.asarray(t, dtype=np.float64), np.asarray(v, dtype=np.float64)
        ok = np.isfinite(t_arr) & np.isfinite(v_arr)
        self.dropped += len(readings) - int(ok.sum())
        ts.append(t_arr[ok])
        vs.append(v_arr[ok])

    def __len__(self) -> int:
        return sum(len(c) for _, ts, _ in self.columns.values() for c in ts)


def _categorical(codes: list[np.ndarray], categories: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(np.concatenate(codes) if codes else np.array([], dtype=np.int32),
                                     categories=pd.Index(categories, dtype="str"))


def readings_frame(series: Iterable[DeviceSeries]) -> pd.DataFrame:
    """One tidy frame of every reading, sorted by device, property and time, duplicates dropped
    (a reading on a window edge is answered once, but a device may repeat one)."""
    devices: dict[str, int] = {}
    props: dict[str, int] = {}
    units: dict[str, int] = {}
    dev_codes, prop_codes, unit_codes, times, values = [], [], [], [], []
    for s in series:
        d = devices.setdefault(s.device_id, len(devices))
        for prop, (unit, ts, vs) in s.columns.items():
            n = sum(len(c) for c in ts)
            if not n:
                continue
            p, u = props.setdefault(prop, len(props)), units.setdefault(unit, len(units))
            dev_codes.append(np.full(n, d, dtype=np.int32))
            prop_codes.append(np.full(n, p, dtype=np.int32))
            unit_codes.append(np.full(n, u, dtype=np.int32))
            times.extend(ts)
            values.extend(vs)
    seconds = np.concatenate(times) if times else np.array([], dtype=np.float64)
    frame = pd.DataFrame({
        "device": _categorical(dev_codes, list(devices)),
        "property": _categorical(prop_codes, list(props)),
        "time": pd.to_datetime(np.round(seconds * 1000).astype(np.int64), unit="ms", utc=True),
        "value": np.concatenate(values) if values else np.array([], dtype=np.float64),
        "unit": _categorical(unit_codes, list(units)),
    })
    frame = frame.drop_duplicates(["device", "property", "time"])
    return frame.sort_values(["device", "property", "time"], kind="stable").reset_index(drop=True)


def devices_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Catalog rows (``DeviceOut`` fields plus ``properties``/``units`` lists) as a frame."""
    out = []
    for r in rows:
        reserve = int(r.get("reserve_wei") or 0)
        out.append({"device_id": r["device_id"], "title": r.get("title", ""), "types": ", ".join(r.get("types") or []),
                    "properties": list(r.get("properties") or []), "units": list(r.get("units") or []),
                    "geohash": r.get("geohash"), "lat": r.get("lat"), "lon": r.get("lon"),
                    "reserve_eth": reserve / WEI_PER_ETH, "reserve_wei": reserve, "attested": bool(r.get("attested")),
                    "rating_avg": r.get("rating_avg"), "rating_count": int(r.get("rating_count") or 0),
                    "rating_weight_wei": int(r.get("rating_weight_wei") or 0),
                    "active": bool(r.get("active", True)), "owner": r.get("owner", "")})
    frame = pd.DataFrame(out, columns=DEVICE_COLUMNS)
    frame["reserve_wei"] = frame["reserve_wei"].astype(object)  # a uint80: wider than int64
    frame["rating_weight_wei"] = frame["rating_weight_wei"].astype(object)  # sums of fees: wider than int64
    return frame


def to_jsonl(frame: pd.DataFrame, path) -> None:
    """One JSON object per reading; time as ISO 8601 UTC."""
    frame.to_json(path, orient="records", lines=True, date_format="iso", date_unit="ms")
