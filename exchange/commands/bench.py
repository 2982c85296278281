"""``thingbid bench NAME [--json]`` and ``thingbid bench all``."""

from __future__ import annotations

import json


def register(sub) -> None:
    from exchange.bench import discover

    p = sub.add_parser("bench", help="run a benchmark; one JSON object per line with --json")
    s = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    benches = discover()
    for name, mod in benches.items():
        bp = s.add_parser(name, help=mod.HELP)
        mod.add_arguments(bp)
        bp.add_argument("--json", action="store_true", help="one JSON object per line")
        bp.set_defaults(func=lambda args, mod=mod: (_quiet(args), _emit(mod.run(args), args.json))[1])
    ap = s.add_parser("all", help="run every benchmark with its defaults")
    ap.add_argument("--json", action="store_true")
    ap.set_defaults(func=lambda args: (_quiet(args), _all(benches, args.json))[1])


def _quiet(args) -> None:
    # Benchmarks print figures on stdout; INFO logs of the code under test would only add noise.
    import logging

    if getattr(args, "log_level", None) is None:
        logging.getLogger().setLevel(logging.WARNING)


def _emit(rows, as_json: bool) -> int:
    for row in rows:
        print(json.dumps(row) if as_json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0


def _all(benches: dict, as_json: bool) -> int:
    import argparse

    for name, mod in benches.items():
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        args = p.parse_args([])
        args.json = as_json
        _emit(({"bench": name, **row} for row in mod.run(args)), as_json)
    return 0
