"""Reading a device's history with an access key, as its TD says, paged into one tidy frame.

The TD's ``history`` action (``POST {property, from, to, step}``) answers at most
``MAX_POINTS`` readings per call, the last reading of each ``step``-second bucket; a longer
span is asked for in windows of ``MAX_POINTS`` buckets (``windows``), so with ``step`` no
larger than the source's sampling interval every recorded reading is returned once. Devices
are read in parallel, their windows one after another (a device rate-limits each key).

``windows`` and ``history_forms`` are pure; ``read_many`` does the HTTP.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from exchange.client.errors import ClientInputError, DeviceReadError
from exchange.client.frames import DeviceSeries

MAX_POINTS = 5_000  # a device answers at most this many readings per history call
TIMEOUT_S = 30.0
MAX_BODY = 16 << 20
MAX_RETRIES = 5  # 429 answers honoured (Retry-After) before giving up on a window
READABLE = ("number", "integer", "boolean")


@dataclass(frozen=True)
class Key:
    """An access key as the buyer holds it (the claims are the holder's copy; the device checks them)."""

    auction_id: int
    device_id: str  # 0x + 64 hex
    token: str
    not_before: int
    not_after: int


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    unit: str
    data_type: str


@dataclass(frozen=True)
class HistoryForm:
    href: str
    method: str  # "POST" (the TD's invokeaction)
    properties: tuple[PropertyInfo, ...]


def history_forms(td: dict | None) -> HistoryForm:
    """Where and how to ask a TD's device for history, and which properties it can give."""
    if not isinstance(td, dict):
        raise DeviceReadError("the device has no readable Thing Description in the catalog")
    props = td.get("properties") if isinstance(td.get("properties"), dict) else {}
    infos = tuple(PropertyInfo(str(n), str(p.get("unit") or ""), str(p.get("type")))
                  for n, p in props.items() if isinstance(p, dict) and p.get("type") in READABLE)
    action = (td.get("actions") or {}).get("history") if isinstance(td.get("actions"), dict) else None
    forms = action.get("forms") if isinstance(action, dict) else None
    if not isinstance(forms, list) or not forms or not isinstance(forms[0], dict):
        raise DeviceReadError("the device's TD offers no history action")
    href = str(forms[0].get("href", ""))
    base = td.get("base")
    if isinstance(base, str) and base:
        href = urllib.parse.urljoin(base, href)
    u = urllib.parse.urlsplit(href)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise DeviceReadError(f"the device's history form is not an http(s) URL: {href[:100]!r}")
    return HistoryForm(href, str(forms[0].get("htv:methodName", "POST")).upper(), infos)


def windows(start: int, end: int, step: int) -> list[tuple[int, int]]:
    """[lo, hi] spans (inclusive, unix s) covering [start, end], each at most MAX_POINTS buckets of
    ``step`` seconds and aligned to the step grid, so a bucket is never split across two calls."""
    if step < 1:
        raise ClientInputError(f"step must be at least 1 second, got {step}")
    if end < start:
        return []
    span = MAX_POINTS * step
    out = []
    lo = start
    while lo <= end:
        hi = min(end, (lo // step) * step + span - 1)
        out.append((lo, hi))
        lo = hi + 1
    return out


def _post_json(url: str, token: str, body: dict, timeout: float) -> dict:
    data = json.dumps(body).encode()
    for attempt in range(MAX_RETRIES + 1):
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read(MAX_BODY + 1)
            break
        except urllib.error.HTTPError as exc:
            detail = _reason(exc)
            if exc.code == 429 and attempt < MAX_RETRIES:
                time.sleep(min(5.0, float(exc.headers.get("Retry-After") or 1)))
                continue
            if exc.code == 400 and detail.startswith("empty_range"):
                return {"readings": []}
            raise DeviceReadError(f"the device refused: HTTP {exc.code} {detail}".strip()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeviceReadError(f"the device does not answer at {url}: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > MAX_BODY:
        raise DeviceReadError("the device's answer is too large")
    try:
        out = json.loads(raw)
    except ValueError:
        raise DeviceReadError("the device's answer is not JSON") from None
    if not isinstance(out, dict) or not isinstance(out.get("readings"), list):
        raise DeviceReadError("the device's history answer has no readings list")
    return out


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(4096))
        return f"{body.get('error', '')}: {body.get('detail', '')}"[:200].strip(": ")
    except (ValueError, AttributeError, OSError):
        return ""


def read_device(key: Key, form: HistoryForm, start: int, end: int, step: int,
                properties: Iterable[str] | None = None, timeout: float = TIMEOUT_S) -> DeviceSeries:
    """Every window of every wanted property of one device, within the key's period."""
    lo, hi = max(start, key.not_before), min(end, key.not_after - 1)
    wanted = set(properties) if properties is not None else None
    series = DeviceSeries(key.device_id)
    for prop in form.properties:
        if wanted is not None and prop.name not in wanted:
            continue
        for w_lo, w_hi in windows(lo, hi, step):
            answer = _post_json(form.href, key.token, {"property": prop.name, "from": w_lo, "to": w_hi, "step": step},
                                timeout)
            series.add(prop.name, str(answer.get("unit") or prop.unit), answer["readings"])
    return series


def read_many(jobs: list[tuple[Key, HistoryForm]], start: int, end: int, step: int,
              properties: Iterable[str] | None = None, workers: int = 8,
              on_device: Callable[[str, DeviceReadError | None], None] | None = None) -> list[DeviceSeries]:
    """``read_device`` for each (key, form) on ``workers`` threads; a device that fails is
    reported to ``on_device`` (or raised when there is none) and the others still read."""
    props = list(properties) if properties is not None else None
    out: list[DeviceSeries] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        futures = {pool.submit(read_device, k, f, start, end, step, props): k for k, f in jobs}
        for fut in as_completed(futures):
            key = futures[fut]
            try:
                out.append(fut.result())
            except DeviceReadError as exc:
                if on_device is None:
                    raise DeviceReadError(f"device {key.device_id}: {exc}") from None
                on_device(key.device_id, exc)
                continue
            if on_device is not None:
                on_device(key.device_id, None)
    return out
