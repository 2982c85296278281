"""``thingbid bench gas``: gas of contract operations on a fresh embedded chain.

Rows come from every ``exchange/bench/gas_*.py`` module that defines ``rows(chain)``; each
module gets its own fresh chain so one area's set-up never changes another's figures.
"""

from __future__ import annotations

import importlib
import pkgutil

NAME = "gas"
HELP = "gas used by typical contract operations (rows from every exchange/bench/gas_*.py)"


def add_arguments(parser) -> None:
    parser.add_argument("--only", default=None, help="only the module gas_<ONLY>.py (e.g. registry)")


def gas_modules() -> list:
    import exchange.bench as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("gas_"):
            mod = importlib.import_module(f"exchange.bench.{info.name}")
            if callable(getattr(mod, "rows", None)):
                mods.append(mod)
    return mods


def run(args):
    from exchange.chain.connect import embedded_chain

    for mod in gas_modules():
        if getattr(args, "only", None) and mod.__name__.rsplit(".", 1)[-1] != f"gas_{args.only}":
            continue
        chain = embedded_chain()
        try:
            yield from mod.rows(chain)
        finally:
            chain.close()
