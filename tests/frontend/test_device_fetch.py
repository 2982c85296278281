"""The data viewer's fetches: a hostile TD cannot point the server at internal addresses."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from frontend.device_data import (
    DeviceAddressRefused,
    DeviceNetworkPolicy,
    DeviceReadError,
    get_json,
    read_series,
)
from frontend.errors import FrontendError

INTERNAL = ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "224.0.0.1", "255.255.255.255", "::1", "fc00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
            "::"]


@pytest.mark.parametrize("ip", INTERNAL)
def test_internal_addresses_are_refused_by_default(ip):
    with pytest.raises(DeviceAddressRefused, match="not public"):
        DeviceNetworkPolicy().check(ip)


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.4.4"])
def test_public_addresses_pass(ip):
    DeviceNetworkPolicy().check(ip)


def test_an_allowed_network_passes_but_nothing_else_internal_does():
    policy = DeviceNetworkPolicy(["127.0.0.0/8"])
    policy.check("127.0.0.1")
    policy.check("::ffff:127.0.0.5")
    for ip in ("169.254.169.254", "10.0.0.1", "::1"):
        with pytest.raises(DeviceAddressRefused):
            policy.check(ip)


@pytest.mark.parametrize("bad", ["not-a-net", "10.0.0.0/33", "300.1.1.1"])
def test_a_bad_allowed_network_is_a_configuration_error(bad):
    with pytest.raises(FrontendError, match="DEVICE_NETWORKS"):
        DeviceNetworkPolicy([bad])


def test_a_name_resolving_to_loopback_is_refused():
    with pytest.raises(DeviceAddressRefused):
        DeviceNetworkPolicy().resolve("localhost", 80)


@pytest.mark.parametrize("url, message", [
    ("ftp://example.org/x", "not an http"),
    ("http://127.0.0.1:99999/x", "bad port"),
    ("http:///nohost", "not an http"),
    ("http://no-such-host.invalid/x", "does not resolve"),
])
def test_bad_device_urls_give_a_reason(url, message):
    with pytest.raises(DeviceReadError, match=message):
        get_json(url, "token", DeviceNetworkPolicy(["127.0.0.0/8"]))


class _Device(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_POST(self):  # noqa: N802 - the http.server interface
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, asked))
        self._answer(json.dumps({"property": asked["property"], "readings": [
            {"t": 1000, "value": 4.5}, {"t": 1060, "value": "x"}, {"t": 1120, "value": 5.0}]}).encode())

    def do_GET(self):  # noqa: N802 - the http.server interface
        type(self).requests.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        self._answer(b"4.5")

    def _answer(self, ok: bytes):
        if self.headers.get("Authorization") != "Bearer good":
            body, status = json.dumps({"error": "no valid access key"}).encode(), 401
        else:
            body, status = ok, 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def device():
    _Device.requests = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Device)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def _td(href, history="/actions/history"):
    base = href.rsplit("/properties/", 1)[0]
    td = {"properties": {"temperature": {"type": "number", "unit": "degC", "forms": [{"href": href}]}}}
    if history:
        td["actions"] = {"history": {"forms": [{"href": base + history, "op": "invokeaction"}]}}
    return td


def test_the_viewer_does_not_even_connect_to_a_loopback_device_by_default(device):
    out = read_series(_td(f"{device}/properties/temperature"), "good", 0, 2000, now=1500)
    assert out["series"] == [] and "not public" in out["errors"][0]
    assert _Device.requests == []


def test_an_allowed_network_reads_only_the_numeric_readings(device):
    out = read_series(_td(f"{device}/properties/temperature"), "good", 0, 2000, now=1500,
                      policy=DeviceNetworkPolicy(["127.0.0.0/8"]))
    assert out["errors"] == []
    assert out["series"][0]["values"] == [4.5, 5.0]
    ((path, asked),) = _Device.requests
    assert path == "/actions/history"  # the TD's history action, with the key's period so far
    assert (asked["property"], asked["from"], asked["to"]) == ("temperature", 0, 1500) and asked["step"] >= 1


def test_a_td_without_a_history_action_is_reported_not_fetched(device):
    out = read_series(_td(f"{device}/properties/temperature", history=None), "good", 0, 2000, now=1500,
                      policy=DeviceNetworkPolicy(["127.0.0.0/8"]))
    assert out["series"] == [] and "no history action" in out["errors"][0]
    assert _Device.requests == []


def test_the_device_refusing_the_key_is_reported_with_its_reason(device):
    with pytest.raises(DeviceReadError, match="HTTP 401 no valid access key"):
        get_json(f"{device}/properties/temperature", "bad", DeviceNetworkPolicy(["127.0.0.0/8"]))


def test_redirects_are_not_followed(device):
    with pytest.raises(DeviceReadError, match="redirects are not followed"):
        get_json(f"{device}/redirect", "good", DeviceNetworkPolicy(["127.0.0.0/8"]))
    assert _Device.requests == ["/redirect"]


def test_chart_labels_carry_the_date_when_the_range_crosses_midnight(device):
    """Issue 17: a chart over more than one UTC day said "00:16" for two different days."""
    allowed = DeviceNetworkPolicy(["127.0.0.0/8"])
    td = _td(f"{device}/properties/temperature")
    whole = read_series(td, "good", 0, 10**6, now=90_000, policy=allowed, span_s=None)
    s = whole["series"][0]
    assert (whole["from"], whole["to"]) == (0, 90_000)
    assert s["labels"] == ["1970-01-01 00:16", "1970-01-01 00:18"]
    assert s["times"] == ["1970-01-01T00:16:40Z", "1970-01-01T00:18:40Z"] and s["t"] == [1000, 1120]
    assert whole["range"] == "1970-01-01 00:00 – 1970-01-02 01:00 UTC"
    same_day = read_series(td, "good", 0, 10**6, now=1500, policy=allowed)
    assert same_day["series"][0]["labels"] == ["00:16", "00:18"]  # one day: the time is enough
    last_hour = read_series(td, "good", 0, 10**6, now=90_000, policy=allowed, span_s=3600)
    assert (last_hour["from"], last_hour["to"]) == (86_400, 90_000)  # the time-range control's window
    assert _Device.requests[-1][1]["from"] == 86_400


def test_an_export_reads_the_whole_key_period_in_windows_into_one_dated_frame(device):
    from frontend.device_data import ExportJob, export_rows_estimate, read_frame

    td = _td(f"{device}/properties/temperature")
    jobs = [ExportJob("0x" + "ab" * 32, td, "good", 0, 10**6), ExportJob("0x" + "cd" * 32, td, "bad", 0, 10**6)]
    assert export_rows_estimate(jobs, now=600_000, step=60) == 2 * 10_001
    frame, failed = read_frame(jobs, now=600_000, step=60, policy=DeviceNetworkPolicy(["127.0.0.0/8"]))
    assert list(frame.columns) == ["device", "property", "time", "value", "unit"]
    assert frame["value"].tolist() == [4.5, 5.0] and frame["unit"].tolist() == ["degC", "degC"]
    assert str(frame["time"].dt.tz) == "UTC" and frame["time"].iloc[0].isoformat() == "1970-01-01T00:16:40+00:00"
    assert list(failed) == ["0x" + "cd" * 32] and "HTTP 401" in failed["0x" + "cd" * 32]
    asked = [a for p, a in (r for r in _Device.requests if isinstance(r, tuple)) if a.get("step") == 60]
    # 600,001 s at one bucket a minute: three windows of at most 5,000 buckets each, per key
    assert len(asked) == 4  # three windows of the readable key; the refused one stops at its first
    assert {(a["from"], a["to"]) for a in asked} == {(0, 299_999), (300_000, 599_999), (600_000, 600_000)}
