"""Read a device's properties with an access key (server side) and shape them for charts.

The device's URLs come from its TD, which is hostile input: only http(s) URLs, a short
timeout, a size cap, no redirects, and JSON numbers only are taken from the answer. The
server fetches them itself, so a TD must not be able to point it at internal services (a
cloud metadata endpoint, a database, the tangle node's admin API): every address the host
name resolves to must be a public one, or inside a network the operator allowed
(``DEVICE_NETWORKS``; ``thingbid up`` allows loopback, where its simulated devices live).
The connection goes to the address that was checked, so a second DNS answer cannot
redirect it (DNS rebinding).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from exchange.relay.e2e import (
    NONCE_HEADER,
    SEALED_ANSWER_TYPE,
    SEALED_PATH,
    SEALED_TYPE,
    SIGNATURE_HEADER,
    AnswerError,
    device_target,
    new_client_nonce,
    open_answer,
    seal_request,
    verify_answer,
)
from frontend.errors import FrontendError

MAX_BODY = 1 << 20
TIMEOUT_S = 5.0
MAX_PROPERTIES = 12


class DeviceReadError(FrontendError):
    """The device did not answer, refused the key, or answered nonsense."""


class DeviceAddressRefused(DeviceReadError):
    """The TD points at an address the server does not fetch from."""


@dataclass(frozen=True)
class PropertyForm:
    name: str
    title: str
    unit: str
    href: str  # the readproperty form (the latest value)


class DeviceNetworkPolicy:
    """Which addresses the server may fetch device data from: public ones, plus ``allowed`` networks."""

    def __init__(self, allowed: Iterable[str] = ()):
        try:
            self.allowed = tuple(ipaddress.ip_network(str(n), strict=False) for n in allowed)
        except ValueError as exc:
            raise FrontendError(f"DEVICE_NETWORKS: {exc}") from None

    def check(self, ip: str) -> None:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self.allowed):
            return
        if not addr.is_global or addr.is_multicast:
            raise DeviceAddressRefused(f"the device's address {addr} is not public; this server does not "
                                       "fetch from internal networks")

    def resolve(self, host: str, port: int) -> str:
        """The checked address to connect to; every address the name has must pass."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise DeviceReadError(f"the device's host {host!r} does not resolve: {exc}") from None
        ips = list(dict.fromkeys(info[4][0] for info in infos))
        if not ips:
            raise DeviceReadError(f"the device's host {host!r} does not resolve")
        for ip in ips:
            self.check(ip)
        return ips[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # certificate checked by name


def _http_url(href) -> str | None:
    u = urllib.parse.urlsplit(str(href))
    return str(href) if u.scheme in ("http", "https") and u.netloc else None


def history_href(td: dict | None) -> str | None:
    """The http(s) URL of the TD's ``history`` action (invokeaction), if it has one."""
    try:
        forms = td["actions"]["history"]["forms"]
        return _http_url(forms[0]["href"]) if isinstance(forms[0], dict) else None
    except (KeyError, IndexError, TypeError):
        return None


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
        href = _http_url(forms[0].get("href", ""))
        if href is None:
            continue
        out.append(PropertyForm(str(name)[:100], str(p.get("title", name))[:100], str(p.get("unit", ""))[:50], href))
        if len(out) >= MAX_PROPERTIES:
            break
    return out


@dataclass(frozen=True)
class DeviceKeys:
    """The device's keys as its registry record holds them: with them, a read through a relay
    (``RELAY/devices/<id>/...``) is sealed to the device and its answer checked against its signature."""

    device_id_hex: str
    signing_key: bytes
    x25519_key: bytes


def _relayed(path: str, keys: DeviceKeys | None) -> str | None:
    """The device's target when ``path`` is under a relay's ``/devices/<id>/`` for this device."""
    if keys is None or f"/devices/{keys.device_id_hex}/" not in path:
        return None
    return device_target(path, keys.device_id_hex)


def _sealed_exchange(conn, path: str, target: str, method: str, headers: dict, body: bytes,
                     keys: DeviceKeys) -> tuple[int, bytes]:
    """Send the request sealed to the device through the relay; (status, body) of the device's
    verified answer (the relay learns neither the path, the key nor the data)."""
    nonce = new_client_nonce()
    headers = {**headers, NONCE_HEADER: nonce}
    box, reply_key = seal_request(keys.x25519_key, keys.device_id_hex, method, target, headers, body)
    conn.request("POST", path[: len(path) - len(target)] + SEALED_PATH, body=box,
                 headers={"Content-Type": SEALED_TYPE, "Accept": SEALED_ANSWER_TYPE})
    resp = conn.getresponse()
    sealed = resp.read(MAX_BODY + 1)
    if resp.status != 200 or resp.getheader("Content-Type", "") != SEALED_ANSWER_TYPE:
        raise DeviceReadError(f"the relay did not pass the sealed request to the device: HTTP {resp.status}")
    try:
        status, answer_headers, answer = open_answer(reply_key, keys.device_id_hex, sealed)
        verify_answer(keys.signing_key, answer_headers.get(SIGNATURE_HEADER), device_id_hex=keys.device_id_hex,
                      method=method, target=target, nonce=nonce, status=status,
                      content_type=answer_headers.get("Content-Type", ""), body=answer, request_body=body)
    except AnswerError as exc:
        raise DeviceReadError(f"the answer is not the device's: {exc}") from None
    return status, answer


def get_json(url: str, token: str, policy: DeviceNetworkPolicy, post: dict | None = None,
             keys: DeviceKeys | None = None) -> dict:
    """GET ``url`` (POST ``post`` as JSON when given) with the access key as a bearer token; the
    JSON object it answers. With the device's ``keys`` a URL on a relay is read sealed and verified."""
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        raise DeviceReadError("the device's URL has a bad port") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise DeviceReadError("the device's URL is not an http(s) URL")
    ip = policy.resolve(u.hostname, port)
    conn = (_PinnedHTTPS if u.scheme == "https" else _PinnedHTTP)(u.hostname, port, ip, TIMEOUT_S)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    target = _relayed(path, keys)
    try:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if target is not None:
            payload = b"" if post is None else json.dumps(post).encode()
            extra = {} if post is None else {"Content-Type": "application/json"}
            status, body = _sealed_exchange(conn, path, target, "GET" if post is None else "POST",
                                            {**headers, **extra}, payload, keys)
        elif post is None:
            conn.request("GET", path, headers=headers)
        else:
            conn.request("POST", path, body=json.dumps(post).encode(),
                         headers={**headers, "Content-Type": "application/json"})
        if target is None:
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
            status = resp.status
    except (http.client.HTTPException, OSError) as exc:
        raise DeviceReadError(f"the device does not answer: {exc}") from None
    finally:
        conn.close()
    if status >= 400:
        try:
            reason = str(json.loads(body[:4096]).get("error", ""))[:200]
        except (ValueError, AttributeError):
            reason = ""
        raise DeviceReadError(f"the device refused: HTTP {status} {reason}".strip())
    if status != 200:
        raise DeviceReadError(f"the device answered HTTP {status}; redirects are not followed")
    if len(body) > MAX_BODY:
        raise DeviceReadError("the device's answer is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise DeviceReadError("the device's answer is not JSON") from None
    if not isinstance(data, dict):
        raise DeviceReadError("the device's answer is not a JSON object")
    return data


CHART_RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600, "all": None}  # the chart's choices


def time_label(t: float, with_date: bool) -> str:
    return time.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M", time.gmtime(t))


def read_series(td: dict | None, token: str, not_before: int, not_after: int, now: int | None = None,
                points: int = 200, policy: DeviceNetworkPolicy | None = None, keys: DeviceKeys | None = None,
                span_s: int | None = 24 * 3600) -> dict:
    """{"series": [{"name", "unit", "labels", "t", "times", "values"}], "errors": [...], "from", "to"}
    for the last ``span_s`` seconds of the key's period so far (None: all of it). ``t`` is unix
    seconds, ``times`` ISO 8601 UTC; ``labels`` carry the date when the range spans two UTC days.

    ``policy`` defaults to public addresses only."""
    policy = policy or DeviceNetworkPolicy()
    now = int(now if now is not None else time.time())
    hi = min(now, not_after - 1)
    lo = not_before if span_s is None else max(not_before, hi - span_s)
    step = max(1, (hi - lo) // points) if hi > lo else 1
    series, errors = [], []
    props = numeric_properties(td)
    action = history_href(td)
    if props and action is None:
        return {"series": [], "errors": ["the device's TD has no history action"], "from": lo, "to": hi}
    for p in props:
        try:
            data = get_json(action, token, policy, post={"property": p.name, "from": lo, "to": hi, "step": step},
                            keys=keys)
        except DeviceReadError as exc:
            errors.append(f"{p.name}: {exc}")
            continue
        labels, stamps, values = [], [], []
        with_date = time.gmtime(lo)[:3] != time.gmtime(max(lo, hi))[:3]  # across midnight: the date too
        readings = data.get("readings")
        for r in (readings if isinstance(readings, list) else [])[:5000]:
            if not isinstance(r, dict):
                continue
            t, v = r.get("t"), r.get("value")
            if isinstance(v, bool) or not isinstance(v, int | float) or not isinstance(t, int | float):
                continue
            if not math.isfinite(v):
                continue
            labels.append(time_label(t, with_date))
            stamps.append(t)
            values.append(v)
        if values:
            series.append({"name": p.name, "unit": p.unit, "labels": labels, "t": stamps,
                           "times": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in stamps],
                           "values": values})
    return {"series": series, "errors": errors, "from": lo, "to": hi,
            "range": f"{time_label(lo, True)} – {time_label(hi, True)} UTC"}


EXPORT_STEP_S = 60  # one reading a minute: what the agents record
MAX_EXPORT_ROWS = 2_000_000  # readings in one web export (ask a larger step or fewer keys beyond)


@dataclass(frozen=True)
class ExportJob:
    """One key's share of an export: the device's TD and keys, the token and its period."""

    device_id: str
    td: dict | None
    token: str
    not_before: int
    not_after: int
    keys: DeviceKeys | None = None


def export_rows_estimate(jobs: list[ExportJob], now: int, step: int) -> int:
    """At most how many readings ``read_frame`` would return (for a refusal before any read)."""
    total = 0
    for j in jobs:
        hi = min(now, j.not_after - 1)
        if hi >= j.not_before:
            total += ((hi - j.not_before) // step + 1) * max(1, len(numeric_properties(j.td)))
    return total


def read_device_series(job: ExportJob, now: int, step: int, policy: DeviceNetworkPolicy):
    """Every reading of the key's period so far (paged in windows of at most 5,000 buckets), as
    ``exchange.client.frames.DeviceSeries``; raises DeviceReadError when nothing could be read."""
    from exchange.client.frames import DeviceSeries
    from exchange.client.reader import windows

    series = DeviceSeries(job.device_id)
    hi = min(now, job.not_after - 1)
    props = numeric_properties(job.td)
    action = history_href(job.td)
    if not props:
        raise DeviceReadError("the device's TD has no readable numeric property")
    if action is None:
        raise DeviceReadError("the device's TD has no history action")
    for p in props:
        for lo, w_hi in windows(job.not_before, hi, step):
            try:
                data = get_json(action, job.token, policy, post={"property": p.name, "from": lo, "to": w_hi, "step": step},
                                keys=job.keys)
            except DeviceReadError as exc:
                if "empty_range" in str(exc):
                    continue
                raise
            readings = data.get("readings")
            series.add(p.name, p.unit, readings if isinstance(readings, list) else [])
    return series


def read_frame(jobs: list[ExportJob], now: int, step: int = EXPORT_STEP_S, policy: DeviceNetworkPolicy | None = None,
               workers: int = 8):
    """(tidy DataFrame of every key's readings: device, property, time (UTC), value, unit;
    {device id: why it could not be read}). Devices are read in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from exchange.client.frames import readings_frame

    policy = policy or DeviceNetworkPolicy()
    failed: dict[str, str] = {}
    got = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        futures = [(j, pool.submit(read_device_series, j, now, step, policy)) for j in jobs]
        for j, fut in futures:
            try:
                got.append(fut.result())
            except DeviceReadError as exc:
                failed[j.device_id] = str(exc)
    return readings_frame(got), failed
