"""``thingbid bench relay``: what a relay costs and holds (issue 20).

A real relay (``thingbid relay`` as its own process, so its memory is its own) and ``--agents``
agent connections from this process (``exchange.relay.link``, one event loop), each answering with
a fixed small body; the same handler also serves directly over HTTP for the comparison. The hello
keys come from a table (``--keys-file``): the registry lookup is cached by a relay after the first
hello, and checking in a thousand devices would time the chain, not the relay.

Rows: ``added_latency`` (relay minus direct, keep-alive GETs on loopback taking turns: p50/p99 ms),
``devices`` (agents connected to the one relay and its RSS), ``reconnect`` (relay killed and
restarted on the same port: seconds from the kill to each agent's next accepted hello, p95, so the
relay's own start-up counts; ``from_listening_p95_s`` leaves it out), and
``throughput`` (GETs per second through the relay, ``--concurrency`` at once, spread over devices).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "relay"
HELP = "the relay: added latency vs direct, agents held by one relay (RSS), reconnect after a restart, throughput"
ANSWER = (200, [("Content-Type", "application/json")], b"4.25")
PATH = "/properties/temperature"


def add_arguments(parser) -> None:
    parser.add_argument("--agents", type=int, default=1000, help="agent connections held by the relay")
    parser.add_argument("--samples", type=int, default=500, help="sequential requests per latency figure")
    parser.add_argument("--requests", type=int, default=4000, help="requests in the throughput run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in the throughput run")


def _handle(_method, _target, _headers, _client, _body):
    return ANSWER


async def _start_direct(pool):
    """The same handler served directly (aiohttp, on the agents' loop, via the same thread pool):
    what a buyer would see without the relay."""
    from aiohttp import web

    loop = asyncio.get_running_loop()

    async def device(request):
        body = await request.read()
        status, headers, payload = await loop.run_in_executor(pool, _handle, request.method, request.path_qs,
                                                              list(request.headers.items()), request.remote or "", body)
        return web.Response(status=status, headers=headers, body=payload)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", device)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


class _RelayProcess:
    def __init__(self, port: int, keys_file: Path, workdir: Path):
        self.port, self.keys_file, self.workdir = port, keys_file, workdir
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> _RelayProcess:
        ready = self.workdir / f"ready-{time.monotonic_ns()}"
        self.proc = subprocess.Popen([sys.executable, "-m", "exchange.cli", "--log-level", "WARNING", "relay", "--port",
                                      str(self.port), "--keys-file", str(self.keys_file), "--relay-id", "bench-relay",
                                      "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench relay: the relay process did not start")
            time.sleep(0.02)
        return self

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _latencies(targets: list[tuple[int, str]], n: int) -> list[list[float]]:
    """ms per GET for each (port, path), the targets taking turns so that both see the same load."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port, _ in targets]
    out: list[list[float]] = [[] for _ in targets]
    try:
        for _ in range(n):
            for i, (conn, (_, path)) in enumerate(zip(conns, targets, strict=True)):
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                out[i].append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    raise SystemExit(f"bench relay: {path} answered {resp.status}")
    finally:
        for conn in conns:
            conn.close()
    return out


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def _throughput(url: str, devices: list[str], total: int, concurrency: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        counter = iter(range(total))
        failures = []

        async def worker():
            for i in counter:
                async with session.get(f"{url}/devices/{devices[i % len(devices)]}{PATH}") as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures.append(resp.status)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"bench relay: {len(failures)} throughput requests failed (first {failures[0]})")
    return total / elapsed


def _wait_connected(links, after: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(link.connected.is_set() and link.connected_at > after for link in links):
            return
        time.sleep(0.02)
    missing = sum(1 for link in links if not (link.connected.is_set() and link.connected_at > after))
    raise SystemExit(f"bench relay: {missing} of {len(links)} agents did not connect in {timeout:.0f} s")


def run(args):
    # Imported here: ``thingbid`` imports every bench module to build its parser, and a relay restart
    # (``thingbid relay``) should not pay for aiohttp's client and the chain helpers before it listens.
    from exchange.chain.anvil import free_port
    from exchange.crypto import generate_ed25519
    from exchange.relay.link import RelayConnector

    if args.agents < 1 or args.samples < 2 or args.requests < 1 or args.concurrency < 1:
        raise SystemExit("bench relay: --agents, --requests and --concurrency must be >= 1, --samples >= 2")
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        workdir = Path(tmp)
        pairs = [(os.urandom(20) + bytes(12), generate_ed25519()) for _ in range(args.agents)]
        keys_file = workdir / "keys.json"
        keys_file.write_text(json.dumps({d.hex(): pk.hex() for d, (_sk, pk) in pairs}))
        relay = _RelayProcess(free_port(), keys_file, workdir).start()
        connector = RelayConnector(workers=8).start()
        direct, direct_port = asyncio.run_coroutine_threadsafe(_start_direct(connector.pool), connector.loop).result(30)
        try:
            t0 = time.monotonic()
            links = [connector.add(relay.url, d, sk, _handle) for d, (sk, _pk) in pairs]
            _wait_connected(links, 0.0, 180)
            connect_s = time.monotonic() - t0
            first = pairs[0][0].hex()
            targets = [(relay.port, f"/devices/{first}{PATH}"), (direct_port, PATH)]
            _latencies(targets, 50)  # warm both paths
            via, plain = _latencies(targets, args.samples)
            with urlopen_json(relay.url + "/v1/info") as info:
                connected = info["devices_connected"]
            rss = relay.rss_mb()
            rps = asyncio.run(_throughput(relay.url, [d.hex() for d, _ in pairs], args.requests, args.concurrency))
            killed = time.monotonic()
            relay.kill()
            relay.start()
            ready = time.monotonic()
            _wait_connected(links, killed, 120)
            back = sorted(link.connected_at - ready for link in links)
            from_kill = sorted(link.connected_at - killed for link in links)
            load = round(os.getloadavg()[0], 1)  # the machine is shared: a busy one slows the hello storm
        finally:
            asyncio.run_coroutine_threadsafe(direct.cleanup(), connector.loop).result(30)
            connector.stop()
            relay.stop()
    yield {"op": "added_latency", "p50_ms": round(_pct(via, 50) - _pct(plain, 50), 3),
           "p99_ms": round(_pct(via, 99) - _pct(plain, 99), 3), "relay_p50_ms": round(_pct(via, 50), 3),
           "direct_p50_ms": round(_pct(plain, 50), 3), "samples": args.samples}
    yield {"op": "devices", "connected": connected, "rss_mb": rss, "connect_all_s": round(connect_s, 2)}
    yield {"op": "reconnect", "p95_s": round(_pct(from_kill, 95), 3), "max_s": round(from_kill[-1], 3),
           "relay_restart_s": round(ready - killed, 3), "from_listening_p95_s": round(_pct(back, 95), 3),
           "agents": len(links), "load_avg_1m": load}
    yield {"op": "throughput", "requests_per_s": round(rps, 1), "requests": args.requests,
           "concurrency": args.concurrency}


class urlopen_json:  # noqa: N801 - used as a context manager like urlopen
    def __init__(self, url: str):
        import urllib.request

        self._resp = urllib.request.urlopen(url, timeout=10)  # noqa: S310 - the bench's own loopback relay

    def __enter__(self) -> dict:
        return json.loads(self._resp.read())

    def __exit__(self, *exc) -> None:
        self._resp.close()
