"""``thingbid bench tangle``: ingest rate, confirmation latency and tip selection on one node.

Ingest: pre-built, signed, proof-of-worked value transfers go through the node's full
ingest path (decode, PoW, Ed25519, timestamp, parents, rate limit, replay checks, one SQL
commit per batch, acknowledged after commit) on SQLite. Confirmation: HTTP submit until a
milestone (coordinator every 100 ms) references it. Rows per PoW difficulty show that the
node's cost does not grow with difficulty (verifying is one hash) while issuing does.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

NAME = "tangle"
HELP = "tangle node ingest tx/s, confirmation p50 and tip-selection time (default PoW)"


def add_arguments(parser) -> None:
    parser.add_argument("--txs", type=int, default=3000, help="transactions to ingest")
    parser.add_argument("--batch", type=int, default=100, help="transactions per SQL commit")
    parser.add_argument("--confirm-samples", type=int, default=20)
    parser.add_argument("--difficulties", default="8,10,12,14", help="PoW rows (comma separated)")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs (median reported)")
    parser.add_argument("--value-batch", type=int, default=500, help="transfers per HTTP batch (http_batch_value)")
    parser.add_argument("--verify-workers", type=int, default=1,
                        help="processes sharing the signature checks with the node (http_batch_value)")


def _prebuild(n: int, difficulty: int, issuers: int = 64, seed: int = 1):
    from exchange.tangle import tx as txm
    from exchange.tangle.wallet import Wallet

    rng = random.Random(seed)
    wallets = [Wallet.from_seed(b"bench-%d" % i) for i in range(issuers)]
    seqs = [0] * issuers
    known = [txm.GENESIS_ID]
    raws = []
    t0 = time.perf_counter()
    for i in range(n):
        k = i % issuers
        w = wallets[k]
        parents = [rng.choice(known[-50:]), rng.choice(known[-50:])]
        to = wallets[(k + 1) % issuers].address
        raw = txm.build(w._key, txm.VALUE, txm.value_payload(to, 1, seqs[k]), parents, network=1,
                        difficulty=difficulty)
        seqs[k] += 1
        known.append(txm.blake(raw))
        raws.append(raw)
    return raws, (time.perf_counter() - t0) * 1000 / n


def _ingest_tps(raws, batch: int, workdir: Path, difficulty: int, durable: bool = False) -> float:
    from exchange.tangle.node import Node, NodeConfig

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"ingest-{difficulty}-{batch}{'-durable' if durable else ''}.db"
    node = Node(NodeConfig(db_url=f"sqlite:///{db}", difficulty=difficulty, run_coordinator=False, durable=durable,
                           **NO_LOAD_POW))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(raws), batch):
            res = node.ingest_many(raws[i:i + batch], source="api")
            bad = [r for r in res if not hasattr(r, "id")]
            if bad:
                raise AssertionError(f"bench tx rejected: {bad[0]}")
        _CPU_TPS.append(len(raws) / max(1e-9, time.process_time() - c0))
        return len(raws) / (time.perf_counter() - t0)
    finally:
        node.stop()


# transactions per CPU-second of this process for each _ingest_tps run (a shared machine's load
# slows the wall clock, not the work per transaction)
_CPU_TPS: list[float] = []


# the bench is the node's only client, from loopback: the load-adaptive proof of work (spam
# control against strangers) would measure the bench's own PoW, not the node
NO_LOAD_POW = {"pow_free_rate": 0, "pow_free_rate_per_sender": 0}


def _chained_transfers(n: int, issuers: int = 64):
    """``n`` value transfers, each approving its issuer's previous one and the newest transaction."""
    from exchange.tangle import tx as txm
    from exchange.tangle.wallet import Wallet

    wallets = [Wallet.from_seed(b"http-value-%d" % i) for i in range(issuers)]
    last, seqs, newest, raws = [txm.GENESIS_ID] * issuers, [0] * issuers, txm.GENESIS_ID, []
    for i in range(n):
        k = i % issuers
        parents = sorted({last[k], newest})
        raw = txm.build(wallets[k]._key, txm.VALUE, txm.value_payload(wallets[(k + 1) % issuers].address, 1, seqs[k]),
                        parents * (3 - len(parents)) if len(parents) < 2 else parents, network=1, difficulty=10)
        last[k] = newest = txm.blake(raw)
        seqs[k] += 1
        raws.append(raw)
    return {w.address: 10**9 for w in wallets}, raws


def _http_value_row(work: Path, n: int, batch: int, verify_workers: int) -> dict:
    from exchange.tangle.client import TangleClient
    from exchange.tangle.testing import run_node

    genesis, raws = _chained_transfers(n + batch)
    with run_node(work / "http-value", run_coordinator=False, genesis=genesis, rate_per_s=0,
                  verify_workers=verify_workers, **NO_LOAD_POW) as (url, node):
        c = TangleClient(url, timeout=60)
        c.submit_batch(raws[:batch])  # warm-up: the worker processes start
        raws = raws[batch:]
        workers = list(getattr(node._verify_pool, "_processes", None) or {})
        t0, p0, c0, w0 = time.perf_counter(), time.process_time(), time.thread_time(), _cpu_of(workers)
        for i in range(0, n, batch):
            res = c.submit_batch(raws[i:i + batch])
            if any("error" in r for r in res):
                raise AssertionError(f"bench transfer rejected: {next(r for r in res if 'error' in r)}")
        tps = n / (time.perf_counter() - t0)
        # the node: this process's CPU minus the client's (this thread), plus its verify workers'
        node_cpu = (time.process_time() - p0) - (time.thread_time() - c0) + _cpu_of(workers) - w0
    return {"mode": "http_batch_value", "batch": batch, "submit_tps": round(tps, 1), "txs": n,
            "verify_workers": verify_workers, "node_cpu_tps": round(n / max(1e-9, node_cpu), 1),
            "load_avg_1m": round(os.getloadavg()[0], 1), "goal_submit_tps": 5000}


def _cpu_of(pids) -> float:
    """CPU seconds (user + system) the processes ``pids`` used so far (Linux /proc)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _one_client_row(work: Path, n: int, batch: int) -> dict:
    """One client issuing chained transfers (``Issuer``: cached account, local tips, batches), build,
    PoW, signature and submission all timed; ``Wallet.send`` (three round trips each) for comparison."""
    from exchange.tangle.client import TangleClient
    from exchange.tangle.issuer import Issuer
    from exchange.tangle.testing import run_node
    from exchange.tangle.wallet import Wallet

    w, sink = Wallet.from_seed(b"one-client"), Wallet.from_seed(b"one-client-sink").address
    with run_node(work / "one-client", genesis={w.address: 10**12}, rate_per_s=0, **NO_LOAD_POW) as (url, _):
        c = TangleClient(url, timeout=60)
        issuer = Issuer(w, c, batch=batch)
        issuer.send_many([(sink, 1)] * batch)  # warm-up
        t0, c0 = time.perf_counter(), time.thread_time()
        res = issuer.send_many([(sink, 1)] * n)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        if any("error" in r for r in res):
            raise AssertionError(f"bench transfer rejected: {next(r for r in res if 'error' in r)}")
        k = max(20, n // 20)
        t0 = time.perf_counter()
        for _ in range(k):
            w.send(c, sink, 1)
        wallet_tps = k / (time.perf_counter() - t0)
    return {"mode": "one_client_issuing", "issue_tps": round(n / wall, 1), "client_cpu_tps": round(n / max(1e-9, cpu), 1),
            "batch": batch, "txs": n, "wallet_send_tps": round(wallet_tps, 1), "load_avg_1m": round(os.getloadavg()[0], 1),
            "goal_issue_tps": 1000}


def _http_rows(work: Path, n: int, batch: int):
    """Submission over HTTP (JSON + werkzeug threads): one tx per request from 4 clients, and batches."""
    from concurrent.futures import ThreadPoolExecutor

    from exchange.tangle import tx as txm
    from exchange.tangle.client import TangleClient
    from exchange.tangle.testing import run_node
    from exchange.tangle.wallet import Wallet

    wallets = [Wallet.from_seed(b"http-%d" % i) for i in range(64)]
    raws = [txm.build(wallets[i % 64]._key, txm.DATA, txm.data_payload("bench", b"%d" % i), [txm.GENESIS_ID] * 2,
                      network=1, difficulty=10) for i in range(2 * n)]
    with run_node(work / "http", run_coordinator=False, **NO_LOAD_POW) as (url, _node):
        c = TangleClient(url)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(c.submit, raws[:n]))
        single = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(n, 2 * n, batch):
            res = c.submit_batch(raws[i:i + batch])
            if any("error" in r for r in res):
                raise AssertionError(f"bench batch rejected: {res[0]}")
        batched = n / (time.perf_counter() - t0)
    yield {"mode": "http_one_tx_per_request", "clients": 4, "submit_tps": round(single, 1), "txs": n}
    yield {"mode": "http_batch", "batch": batch, "submit_tps": round(batched, 1), "txs": n}


def run(args):
    from exchange.tangle.client import TangleClient
    from exchange.tangle.testing import run_node
    from exchange.tangle.wallet import Wallet

    work = Path(tempfile.mkdtemp(prefix="tangle-bench-"))
    _CPU_TPS.clear()
    raws, _ = _prebuild(args.txs, 10)
    ingest = statistics.median(_ingest_tps(raws, args.batch, work / f"r{i}", 10) for i in range(args.repeat))
    single = statistics.median(_ingest_tps(raws[: min(len(raws), 1000)], 1, work / f"r{i}", 10)
                               for i in range(args.repeat))
    # --durable (fsync per commit): what power-loss safety costs, batched and one tx per commit.
    durable = statistics.median(_ingest_tps(raws, args.batch, work / f"d{i}", 10, durable=True)
                                for i in range(args.repeat))
    durable_single = statistics.median(_ingest_tps(raws[: min(len(raws), 500)], 1, work / f"d{i}", 10, durable=True)
                                       for i in range(args.repeat))

    with run_node(work / "confirm", **NO_LOAD_POW) as (url, node):
        c = TangleClient(url)
        w = Wallet.generate()
        c.wait_confirmed(c.faucet(w.address, 10**6))
        lat = []
        sink = Wallet.generate().address
        for _ in range(args.confirm_samples):
            t0 = time.perf_counter()
            tx_id = w.send(c, sink, 1)
            c.wait_confirmed(tx_id, timeout=30)
            lat.append((time.perf_counter() - t0) * 1000)
        for _ in range(200):  # some tangle above the entry point for the walk
            w.publish(c, "bench", b"x")
        tip = []
        for _ in range(50):
            node.tipsel._cache = None  # measure the full walk including cumulative weights
            t0 = time.perf_counter()
            node.select_tips(2)
            tip.append((time.perf_counter() - t0) * 1000)
    yield {"ingest_tps": round(ingest, 1), "ingest_cpu_tps": round(statistics.median(_CPU_TPS[:args.repeat]), 1),
           "load_avg_1m": round(os.getloadavg()[0], 1), "confirm_p50_ms": round(statistics.median(lat), 1),
           "tip_select_ms": round(statistics.median(tip), 3), "ingest_tps_unbatched": round(single, 1),
           "ingest_tps_durable": round(durable, 1), "ingest_tps_durable_unbatched": round(durable_single, 1),
           "batch": args.batch, "txs": args.txs, "pow_difficulty": 10}
    yield from _http_rows(work, min(args.txs, 2000), args.batch)
    yield _http_value_row(work, max(args.txs, args.value_batch), args.value_batch, args.verify_workers)
    yield _one_client_row(work, max(args.txs, 1000), 100)
    for d in [int(x) for x in args.difficulties.split(",") if x.strip()]:
        n = min(args.txs, 1000 if d <= 12 else 200)
        raws, pow_ms = _prebuild(n, d, seed=d)
        yield {"pow_difficulty": d, "ingest_tps": round(_ingest_tps(raws, args.batch, work, d), 1),
               "issue_ms_per_tx": round(pow_ms, 2), "txs": n}
