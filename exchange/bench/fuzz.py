"""``thingbid bench fuzz``: hostile requests per server (the fuzz suite's harness), one row each.

Every server registered in ``exchange.fuzz.targets.TARGETS`` gets ``--requests`` generated
requests (valid, mutated, garbage, wrong types, huge numbers, deep JSON, bad encodings, NUL,
oversized bodies and headers, bad framing, concurrent repeats) over raw sockets. A row:
``{"server", "requests", "status_5xx", "requests_per_s", ...}``; ``failure`` names the first
broken rule (with the seed) when there is one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

NAME = "fuzz"
HELP = "fuzz every HTTP server: requests, 5xx answers (must be 0) and requests/s per server"


def add_arguments(parser) -> None:
    parser.add_argument("--requests", type=int, default=20_000, help="requests per server")
    parser.add_argument("--servers", default="", help="comma-separated subset of the registered servers")
    parser.add_argument("--seed", type=int, default=None, help="generation seed (default: random, reported)")


def run(args):
    from exchange.fuzz import FuzzFailure
    from exchange.fuzz import run as fuzz
    from exchange.fuzz.harness import resolve_seed
    from exchange.fuzz.targets import TARGETS, load

    names = [n for n in args.servers.split(",") if n] or sorted(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        raise SystemExit(f"bench fuzz: unknown server(s) {', '.join(unknown)} (known: {', '.join(sorted(TARGETS))})")
    seed = resolve_seed(args.seed)
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-fuzz-{name}-") as tmp, load(name)(Path(tmp)) as target:
            try:
                row = fuzz(target, args.requests, seed=seed).row()
            except FuzzFailure as exc:
                row = {"server": name, "requests": None, "status_5xx": None, "requests_per_s": None,
                       "seed": seed, "failure": str(exc)[:500]}
        yield row
