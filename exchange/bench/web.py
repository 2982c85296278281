"""``thingbid bench web``: p50/p95 of the web app's catalog, auctions and bids pages over a large catalog.

N synthetic devices (``bench catalog``'s filler) and M auctions in the catalog's auction tables, a
signed-in user standing in some of them; the pages are served by the app (its test client: the
same views, SQL and per-row chain reads as a browser gets). The measurement lives in
``frontend.bench`` (a child process, so ``exchange`` never imports ``frontend``).
"""

from __future__ import annotations

NAME = "web"
HELP = "p50/p95 of the catalog, auctions and bids pages at N devices and M indexed auctions"


def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--auctions", type=int, default=10_000)
    parser.add_argument("--mine", type=int, default=20, help="auctions the signed-in user bid on")
    parser.add_argument("--requests", type=int, default=60, help="requests per page")


def run(args):
    import json
    import subprocess
    import sys

    from exchange.config import REPO_ROOT
    from exchange.errors import ExchangeError

    cmd = [sys.executable, "-m", "frontend.bench", "--web", "--devices", str(args.devices), "--auctions",
           str(args.auctions), "--mine", str(args.mine), "--requests", str(args.requests)]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise ExchangeError(f"bench web failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    for line in res.stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)
