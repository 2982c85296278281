"""``thingbid``: one CLI, one subcommand per area.

Each module in ``exchange/commands/`` adds its subcommands through ``register(subparsers)``,
so a new area never edits this file. Deliberate errors print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from exchange.errors import ExchangeError
from exchange.log import setup_logging


def build_parser() -> argparse.ArgumentParser:
    import exchange.commands as commands

    parser = argparse.ArgumentParser(prog="thingbid", description="Thingbid: an open exchange for Web-of-Things device data.")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO or $THINGBID_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"exchange.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except ExchangeError as exc:
        print(f"thingbid: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thingbid: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
