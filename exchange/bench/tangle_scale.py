"""``thingbid bench tangle-scale``: restart time and memory of a pruning node after N transactions.

N chained value transfers (64 issuers, each approving its own previous transfer and the
newest transaction) go through one node's full API ingest path in batches, a milestone after
every batch, with pruning on (``--prune-depth`` milestones kept; 0 keeps everything, for
comparison). Then the node is stopped and started again in a fresh process: ``restart_s`` is
how long ``Node(config)`` takes there (database open, ledger and live window loaded, pending
milestones applied) and ``rss_mb`` that process's resident memory afterwards. The goal is
for 1,000,000 transactions (``--txs 1000000``): restart < 10 s, RSS < 500 MB. PoW difficulty 1
keeps issuing cheap; what is measured does not depend on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "tangle-scale"
HELP = "tangle node restart time and RSS after --txs transactions with pruning (goal: 1M txs, <10 s, <500 MB)"

ISSUERS = 64

_RESTART = """
import json, sys, time
t0 = time.perf_counter()
from exchange.tangle.node import Node, NodeConfig
node = Node(NodeConfig(**json.loads(sys.argv[1])))
restart_s = time.perf_counter() - t0
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"restart_s": restart_s, "rss_mb": rss / 1024, "live_txs": len(node.graph.parents) - 1,
                  "latest_milestone": node.latest_milestone, "ledger_root": node.ledger_root.hex(),
                  "status": node.status()["status"]}))
node.stop()
"""


def add_arguments(parser) -> None:
    parser.add_argument("--txs", type=int, default=50_000, help="transactions to issue (goal figure: 1000000)")
    parser.add_argument("--batch", type=int, default=500, help="transactions per batch (a milestone after each)")
    parser.add_argument("--prune-depth", type=int, default=20, help="milestones kept below the latest (0: no pruning)")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _config(db: Path, prune_depth: int) -> dict:
    from exchange.tangle.wallet import Wallet

    genesis = {Wallet.from_seed(b"scale-%d" % i).address: 10**12 for i in range(ISSUERS)}
    return {"db_url": f"sqlite:///{db}", "genesis": genesis, "difficulty": 1, "run_coordinator": False,
            "rate_per_s": 0, "pow_free_rate": 0, "pow_free_rate_per_sender": 0, "prune_depth": prune_depth,
            "prune_min_age_s": 0}


def _issue(node, n: int, batch: int) -> float:
    """Build and ingest ``n`` chained transfers; returns the ingest rate (tx/s, building excluded)."""
    from exchange.tangle import tx as txm
    from exchange.tangle.wallet import Wallet

    wallets = [Wallet.from_seed(b"scale-%d" % i) for i in range(ISSUERS)]
    last = [txm.GENESIS_ID] * ISSUERS
    seqs = [0] * ISSUERS
    newest = txm.GENESIS_ID
    ingest_s = 0.0
    done = 0
    while done < n:
        raws = []
        for _ in range(min(batch, n - done)):
            k = done % ISSUERS
            raw = txm.build(wallets[k]._key, txm.VALUE, txm.value_payload(wallets[(k + 1) % ISSUERS].address, 1,
                                                                          seqs[k]),
                            sorted({last[k], newest}) * (1 if last[k] != newest else 2), network=1, difficulty=1)
            last[k] = newest = txm.blake(raw)
            seqs[k] += 1
            raws.append(raw)
            done += 1
        t0 = time.perf_counter()
        bad = [r for r in node.ingest_many(raws, source="api") if not hasattr(r, "id")]
        if bad:
            raise AssertionError(f"bench transaction refused: {bad[0]}")
        node.issue_milestone()
        ingest_s += time.perf_counter() - t0
    return n / ingest_s


def run(args):
    from exchange.tangle.node import Node, NodeConfig

    work = Path(tempfile.mkdtemp(prefix="tangle-scale-"))
    db = work / "scale.db"
    cfg = _config(db, args.prune_depth)
    node = Node(NodeConfig(**cfg))
    try:
        ingest_tps = _issue(node, args.txs, args.batch)
        for _ in range(5):  # what is still unconfirmed
            node.issue_milestone()
        before = {"latest_milestone": node.latest_milestone, "ledger_root": node.ledger_root.hex(),
                  "live_txs": len(node.graph.parents) - 1, "stored": node.count}
        ingest_rss = _rss_mb()
    finally:
        node.stop()
    out = subprocess.run([sys.executable, "-c", _RESTART, json.dumps(cfg)], capture_output=True, text=True,
                         check=True, timeout=600)
    after = json.loads(out.stdout.strip().splitlines()[-1])
    if (after["latest_milestone"], after["ledger_root"]) != (before["latest_milestone"], before["ledger_root"]):
        raise AssertionError(f"the restarted node lost its ledger: {before} != {after}")
    yield {"txs": args.txs, "restart_s": round(after["restart_s"], 3), "rss_mb": round(after["rss_mb"], 1),
           "live_txs": after["live_txs"], "stored_rows": before["stored"], "prune_depth": args.prune_depth,
           "milestones": before["latest_milestone"], "ingest_tps": round(ingest_tps, 1),
           "ingest_process_rss_mb": round(ingest_rss, 1), "db_mb": round(db.stat().st_size / 2**20, 1),
           "goal_txs": 1_000_000, "goal_restart_s": 10, "goal_rss_mb": 500}
