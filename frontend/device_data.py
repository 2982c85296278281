"""Read a device's properties with an access key (server side) and shape them for charts.

The device's URLs come from its TD, which is hostile input: only http(s) URLs, a short
timeout, a size cap, and JSON numbers only are taken from the answer.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from frontend.errors import FrontendError

MAX_BODY = 1 << 20
TIMEOUT_S = 5.0
MAX_PROPERTIES = 12


class DeviceReadError(FrontendError):
    """The device did not answer, refused the key, or answered nonsense."""


@dataclass(frozen=True)
class PropertyForm:
    name: str
    title: str
    unit: str
    href: str


def numeric_properties(td: dict | None) -> list[PropertyForm]:
    """Readable numeric properties and their http(s) URLs from a TD (anything odd is skipped)."""
    out = []
    props = (td or {}).get("properties") if isinstance(td, dict) else None
    if not isinstance(props, dict):
        return out
    for name, p in props.items():
        if not isinstance(p, dict) or p.get("type") not in ("number", "integer"):
            continue
        forms = p.get("forms")
        if not isinstance(forms, list) or not forms or not isinstance(forms[0], dict):
            continue
        href = str(forms[0].get("href", ""))
        u = urllib.parse.urlsplit(href)
        if u.scheme not in ("http", "https") or not u.netloc:
            continue
        out.append(PropertyForm(str(name)[:100], str(p.get("title", name))[:100], str(p.get("unit", ""))[:50], href))
        if len(out) >= MAX_PROPERTIES:
            break
    return out


def _get_json(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - scheme checked above
            body = resp.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read(4096)).get("error", "")
        except (ValueError, AttributeError):
            reason = ""
        raise DeviceReadError(f"the device refused: HTTP {exc.code} {reason}".strip()) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeviceReadError(f"the device does not answer: {getattr(exc, 'reason', exc)}") from None
    if len(body) > MAX_BODY:
        raise DeviceReadError("the device's answer is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise DeviceReadError("the device's answer is not JSON") from None
    if not isinstance(data, dict):
        raise DeviceReadError("the device's answer is not a JSON object")
    return data


def read_series(td: dict | None, token: str, not_before: int, not_after: int, now: int | None = None,
                points: int = 200) -> dict:
    """{"series": [{"name", "unit", "labels", "values"}], "errors": [...]} for the key's period so far."""
    now = int(now if now is not None else time.time())
    hi = min(now, not_after - 1)
    lo = max(not_before, hi - 24 * 3600)  # the last day of the period so far
    step = max(1, (hi - lo) // points) if hi > lo else 1
    series, errors = [], []
    for p in numeric_properties(td):
        sep = "&" if "?" in p.href else "?"
        url = f"{p.href}{sep}from={lo}&to={hi}&step={step}"
        try:
            data = _get_json(url, token)
        except DeviceReadError as exc:
            errors.append(f"{p.name}: {exc}")
            continue
        labels, values = [], []
        for r in data.get("readings", [])[:5000]:
            if not isinstance(r, dict):
                continue
            t, v = r.get("t"), r.get("value")
            if isinstance(v, bool) or not isinstance(v, int | float) or not isinstance(t, int | float):
                continue
            if not math.isfinite(v):
                continue
            labels.append(time.strftime("%H:%M", time.gmtime(t)))
            values.append(v)
        if values:
            series.append({"name": p.name, "unit": p.unit, "labels": labels, "values": values})
    return {"series": series, "errors": errors, "from": lo, "to": hi}
