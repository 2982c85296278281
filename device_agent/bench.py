"""``device-agent bench``: figures of the agent (TD size and check-in gas per appliance, HTTP
read latency with token checks, settle+deliver gas), one JSON object per line."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from device_agent.config import AgentConfig
from device_agent.simulators import SIMULATORS
from exchange.waiting import poll_until

PASSWORD = "bench"


def _agent(root: Path, chain, manifest, kind: str, i: int, **cfg):
    from device_agent.agent import DeviceAgent
    from device_agent.runner import _fund, init_agent

    d = root / f"{kind}-{i}"
    init_agent(d, PASSWORD, AgentConfig(appliance=kind, seed=i, **cfg), kdf_n=2**8)
    agent = DeviceAgent(d, PASSWORD)
    _fund(chain, agent, 10**19)
    agent.attach_chain(chain, manifest)
    return agent


def rows(reads: int = 300):
    from device_agent.house import HousePort
    from device_agent.selling import Seller
    from device_agent.server import ServingContext, create_app
    from exchange.chain.auction import AuctionHouseClient
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all
    from exchange.crypto import generate_x25519

    chain = embedded_chain()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest, _ = deploy_all(chain, root / "deployments", fresh=True)
        for i, kind in enumerate(SIMULATORS):
            agent = _agent(root, chain, manifest, kind, i)
            agent.state.set_enabled(True)
            before = chain.block_number()
            out = agent.sync_registration()
            gas = chain.gas_used(out["tx"])
            assert chain.block_number() == before + 1
            yield {"op": "checkin", "appliance": kind, "td_bytes": out["td_bytes"], "gas": gas}
            agent.close()

        # One sale: open, bid, settle, deliver; gas of the agent's own transactions.
        agent = _agent(root, chain, manifest, "fridge", 99, bidding_seconds=60)
        agent.enable()
        seller = Seller(agent, HousePort.from_manifest(chain, manifest, agent))
        aid = seller.tick()["opened"]
        house = AuctionHouseClient.from_manifest(chain, manifest)
        buyer = chain.accounts[4]
        house.register_buyer_key(generate_x25519()[1], sender=buyer)
        house.deposit(10**18, sender=buyer)
        house.bid(aid, 2 * 10**15, sender=buyer)
        chain.time_travel(61)
        t0 = time.perf_counter()
        seller.tick()
        tx = agent.state.auction(aid).delivered_tx
        yield {"op": "settle_and_deliver", "seconds": round(time.perf_counter() - t0, 3),
               "deliver_gas": chain.gas_used(tx)}

        # HTTP reads through the real app: token verification + the recorded data, in process.
        from exchange.crypto import AccessClaims, issue_token

        now = agent.clock()
        token = issue_token(agent.identity.ed25519_private, AccessClaims(agent.identity.device_id_hex, 1, "0xB",
                                                                         now - 2 * 86_400, now + 86_400))
        ctx = ServingContext(agent.identity.device_id_hex, agent.identity.ed25519_public, agent.data,
                             agent.profile, agent.td, lambda: now, frozenset, 10**6, 10**6)
        client = create_app(ctx).test_client()
        headers = {"Authorization": f"Bearer {token}"}
        day = {"property": "temperature", "from": now - 86_400 + 20, "to": now}
        for name, read in (("http_read_latest", lambda: client.get("/properties/temperature", headers=headers)),
                           ("http_read_day_history", lambda: client.post("/actions/history", json=day, headers=headers))):
            times = []
            for _ in range(reads):
                t0 = time.perf_counter()
                r = read()
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
            times.sort()
            yield {"op": name, "reads": reads, "p50_ms": round(statistics.median(times) * 1000, 3),
                   "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 3)}
        agent.close()
    chain.close()


def stream_rows(purchases: int = 10):
    """Stream spans bought from a running agent over Ethereum (MessageBoard) on a fresh anvil:
    payment-to-key latency (the buyer's clock, from sending the payment to opening the sealed root)."""
    from device_agent.runner import AgentRunner, init_agent
    from exchange.chain.connect import anvil_chain
    from exchange.chain.deploy import deploy_all
    from exchange.chain.registry import RegistryClient
    from exchange.ledger.ethereum import EthereumLedger
    from exchange.streams import RegistryRecords, StreamBuyer

    chain = anvil_chain(port=None, reuse=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            manifest, _ = deploy_all(chain, root / "deployments", fresh=True)
            cfg = AgentConfig(appliance="fridge", stream_ledgers=["ethereum"], publish_every_seconds=1.0)
            device = init_agent(root / "agent", PASSWORD, cfg, kdf_n=2**8)
            runner = AgentRunner(root / "agent", PASSWORD, chain_url=chain.url,
                                 manifest=manifest, enable=True, sell=False, kdf_n=2**8)
            chain.send_value(runner.agent.address, 10**19)
            with runner:
                buyer = StreamBuyer(EthereumLedger.connect(chain, manifest["contracts"]["MessageBoard"]["address"],
                                                           chain.accounts[3]),
                                    registry=RegistryRecords(RegistryClient.from_manifest(chain, manifest)))
                poll_until(lambda: buyer.offers(device), timeout=30, interval=0.1,
                           on_timeout=lambda: TimeoutError(f"device {device} published no stream offer in 30 s"))
                times = sorted(buyer.buy(device, 2, timeout=30).seconds for _ in range(purchases))
            yield {"op": "stream_purchase", "ledger": "ethereum", "chain": "anvil", "purchases": purchases,
                   "payment_to_key_p50_ms": round(statistics.median(times) * 1000, 1),
                   "payment_to_key_max_ms": round(times[-1] * 1000, 1)}
    finally:
        chain.close()


def recorder_rows(ingest: int = 50_000, queries: int = 50):
    """The recorder (issue 16): ingest through the Sink path a running source uses (one reading
    per call) and in batches; 92 days of one property at one reading per 10 s queried as the
    server does for a key's history; a read passed to a real node-wot Thing (when node is there)."""
    import random

    from device_agent.recorder import Recorder
    from device_agent.sources import Reading

    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(Path(tmp) / "ingest.db")
        t0 = time.time() - ingest
        start = time.perf_counter()
        for i in range(ingest):
            rec.reading("temperature", t0 + i, 4.0 + (i % 100) / 100)
        sink_s = time.perf_counter() - start
        start = time.perf_counter()
        for lo in range(0, ingest, 1000):
            rec.record(Reading("humidity", t0 + i, 40.0) for i in range(lo, min(lo + 1000, ingest)))
        batch_s = time.perf_counter() - start
        rec.close()
        yield {"op": "recorder_ingest", "path": "sink", "readings": ingest, "readings_per_s": round(ingest / sink_s)}
        yield {"op": "recorder_ingest", "path": "batch1000", "readings": ingest,
               "readings_per_s": round(ingest / batch_s)}

        rec = Recorder(Path(tmp) / "history.db")
        end = int(time.time())
        span = 92 * 86_400
        n = span // 10
        for lo in range(0, n, 20_000):
            rec.record(Reading("temperature", end - span + 10 * i, round(4 + (i % 360) / 100, 2))
                       for i in range(lo, min(lo + 20_000, n)))
        rng = random.Random(7)
        times = []
        for _ in range(queries):
            # A key's whole 92 days, or a random window of at least a day inside it.
            a = end - span if rng.random() < 0.5 else rng.randrange(end - span, end - 86_400)
            q0 = time.perf_counter()
            points = rec.history("temperature", a, end)
            times.append(time.perf_counter() - q0)
            assert points
        rec.close()
        times.sort()
        yield {"op": "history_92d", "readings": n, "queries": queries,
               "p50_ms": round(statistics.median(times) * 1000, 2),
               "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 2)}
    row = _proxy_read_row(queries)
    if row:
        yield row


def _proxy_read_row(reads: int):
    """``proxy_read``: a WotSource read of a property from a node-wot ExposedThing (the upstream)."""
    import json
    import shutil
    import subprocess

    from exchange.chain.anvil import free_port
    from exchange.config import REPO_ROOT

    script = Path(__file__).parent / "sources" / "upstream_thing.js"
    if shutil.which("node") is None or not (REPO_ROOT / "node_modules" / "@node-wot" / "core").is_dir():
        return {"op": "proxy_read", "skipped": "node-wot not installed: run ./scripts/setup"}
    from device_agent.sources.wot import WotSource

    port = free_port()
    proc = subprocess.Popen(["node", str(script), str(port), "nosec"], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        td_url = json.loads(proc.stdout.readline())["td"]
        with tempfile.TemporaryDirectory() as tmp:
            src = WotSource(td_url, td_cache=Path(tmp) / "td.json")
            src.read("temperature")  # the TD fetch and first connection are not the figure
            times = []
            for _ in range(reads):
                t0 = time.perf_counter()
                src.read("temperature")
                times.append(time.perf_counter() - t0)
        times.sort()
        return {"op": "proxy_read", "reads": reads, "p50_ms": round(statistics.median(times) * 1000, 2),
                "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 2)}
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def nodewot_rows(reads: int = 50):
    """``nodewot_read_all``: Eclipse Thingweb node-wot (a standard WoT client) reads every property
    of a served fridge from its TD with a valid key: ``readAllProperties`` timed in node, over HTTP."""
    import json
    import shutil
    import subprocess
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    from device_agent.profiles import profile
    from device_agent.server import ServingContext, create_app
    from device_agent.simulators import make_simulator
    from device_agent.td import build_td
    from exchange.config import REPO_ROOT
    from exchange.crypto import AccessClaims, generate_ed25519, issue_token

    if shutil.which("node") is None or not (REPO_ROOT / "node_modules" / "@node-wot" / "core").is_dir():
        yield {"op": "nodewot_read_all", "skipped": "node-wot not installed: run ./scripts/setup"}
        return
    device = "ab" * 32
    sk, pk = generate_ed25519()
    prof = profile("fridge")
    now = int(time.time())
    holder: dict = {}
    ctx = ServingContext(device, pk, make_simulator("fridge", 3), prof, td=lambda: holder["td"],
                         clock=lambda: int(time.time()), revoked=frozenset, rate_per_second=10**6, rate_burst=10**6)
    class Quiet(WSGIRequestHandler):
        def log_request(self, *args) -> None:  # one line per read would drown the figures
            pass

    server = make_server("127.0.0.1", 0, create_app(ctx), threaded=True, request_handler=Quiet)
    base = f"http://127.0.0.1:{server.server_port}"
    holder["td"] = build_td(AgentConfig(appliance="fridge", http_port=server.server_port).validate(), device, base, prof)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        key = issue_token(sk, AccessClaims(device, 1, "0xB", now - 3600, now + 86_400))
        run = subprocess.run(["node", str(Path(__file__).with_name("nodewot_consumer.js")), base + "/.well-known/wot",
                              key, "--read-all", str(reads + 1)], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=300)
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        times = next((r["read_all_ms"] for r in lines if "read_all_ms" in r), None)
        if run.returncode != 0 or not times:
            yield {"op": "nodewot_read_all", "error": next((r["fatal"] for r in lines if "fatal" in r), run.stderr[-200:])}
            return
        times = sorted(times[1:])  # the first read opens the connections: not the figure
        yield {"op": "nodewot_read_all", "properties": len(prof.properties), "reads": reads,
               "p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(len(times) * 0.95)], 2)}
    finally:
        server.shutdown()
        thread.join(10)
