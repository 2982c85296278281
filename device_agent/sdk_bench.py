"""Devices for ``thingbid bench sdk``: N device WoT servers (the agent's own Flask app, real
Ed25519 access keys checked on every request) in this process, each with D days of one
reading a minute, mounted under one HTTP listener.

``python -m device_agent.sdk_bench --devices 100 --days 30`` prints one JSON line (the
listener's URL, and per device its TD and a key sold for the whole span), then serves until
its stdin closes. ``exchange.bench.sdk`` starts it as a child process, so the devices' work
runs beside the client's and ``exchange`` never imports ``device_agent``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import math
import sys
import threading
import time

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from device_agent.profiles import Profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import PropertySpec
from exchange.crypto import AccessClaims, issue_token
from exchange.crypto.tokens import generate_ed25519

MINUTE = 60
PROPERTY = PropertySpec("temperature", "Room temperature", "number", "degree Celsius", -40, 60)


class MinuteReadings:
    """One property recorded once a minute: the server's Readings protocol over sorted lists
    (``history`` answers the last reading of each ``step`` bucket, like the recorder)."""

    def __init__(self, start: int, minutes: int, seed: int):
        self.t = [start + i * MINUTE for i in range(minutes)]
        self.rows = [{"t": t, "value": round(20 + 3 * math.sin(t / 3600 + seed), 3)} for t in self.t]

    def latest(self, name: str, now: int) -> dict:
        return self.rows[-1]

    def history(self, name: str, start: int, end: int, step: int | None = None) -> list[dict]:
        lo, hi = bisect.bisect_left(self.t, start), bisect.bisect_right(self.t, end)
        if not step or step <= MINUTE:
            return self.rows[lo:hi][:5_000]
        out, bucket = [], None
        for r in self.rows[lo:hi]:
            b = r["t"] // step
            if b == bucket:
                out[-1] = r
            else:
                out.append(r)
                bucket = b
        return out[:5_000]

    def events(self, start: float, end: float, name: str | None = None) -> list[dict]:
        return []


def build(devices: int, days: int, base: str) -> tuple[DispatcherMiddleware, list[dict]]:
    now = int(time.time())
    start = (now - days * 86_400) // MINUTE * MINUTE
    profile = Profile("sensor", "Room sensor", "TemperatureSensor", (PROPERTY,), ())
    mounts, listing = {}, []
    for i in range(devices):
        sk, pk = generate_ed25519()
        device = f"{i + 1:064x}"
        prefix = f"/d{i}"
        href = f"{base}{prefix}/actions/history"
        td = {"title": f"Room sensor {i}", "properties": {PROPERTY.name: {"type": "number", "unit": PROPERTY.unit,
                                                                          "forms": [{"href": f"{base}{prefix}/properties/temperature"}]}},
              "actions": {"history": {"forms": [{"href": href, "op": "invokeaction"}]}}}
        data = MinuteReadings(start, days * 86_400 // MINUTE, i)
        ctx = ServingContext(device, pk, data, profile, td=lambda td=td: td, clock=lambda: int(time.time()),
                             revoked=frozenset)
        mounts[prefix] = create_app(ctx)
        claims = AccessClaims(device, i + 1, "0x" + "b" * 40, start, now + 3_600)
        listing.append({"device_id": "0x" + device, "auction_id": i + 1, "token": issue_token(sk, claims),
                        "not_before": start, "not_after": now + 3_600, "td": td})
    return DispatcherMiddleware(lambda env, resp: (resp("404 Not Found", []), [b""])[1], mounts), listing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m device_agent.sdk_bench")
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on the parent's terminal
    server = make_server("127.0.0.1", 0, lambda e, r: app(e, r), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app, listing = build(args.devices, args.days, base)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"url": base, "devices": listing}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
