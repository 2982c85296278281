"""``thingbid bench tangle-net``: a 16-node tangle network under seeded faults (issue 19).

Runs ``exchange.tangle.netsim.run_scenario``: node processes on loopback, a TCP proxy per link
(latency, loss, partitions), minutes of random partitions, node kills (the coordinator once) and
double spends, then heals everything and checks that every node agrees on every conflict and on
the ledger commitment and that nothing seen confirmed was lost. One row ``{"op": "network", ...}``
with the checks, the event counts, confirmation p50/p99 in normal operation and the load average.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

NAME = "tangle-net"
HELP = "16 tangle nodes behind per-link proxies: partitions, kills (coordinator too), double spends; agreement"


def add_arguments(parser) -> None:
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of faults (the long form)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step", type=float, default=4.0, help="mean seconds between fault events")


def run(args):
    from exchange.tangle.netsim import run_scenario

    if args.nodes < 2 or args.duration <= 0 or args.step <= 0:
        raise SystemExit("bench tangle-net: --nodes >= 2, --duration and --step > 0")
    with tempfile.TemporaryDirectory(prefix="bench-tangle-net-") as tmp:
        report = run_scenario(Path(tmp), nodes=args.nodes, duration_s=args.duration, seed=args.seed, step_s=args.step)
    yield {"op": "network", **report}
