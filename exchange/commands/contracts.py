"""``thingbid contracts build|check|compilers``."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("contracts", help="compile contracts, check artifacts are fresh")
    s = p.add_subparsers(dest="action", required=True)
    b = s.add_parser("build", help="compile contracts/*.sol into contracts/build/<Name>.json")
    b.add_argument("only", nargs="*", metavar="SOURCE", help="only these sources (file stem, e.g. AuctionHouse)")
    b.set_defaults(func=_build)
    s.add_parser("check", help="exit non-zero if any artifact is stale against its source").set_defaults(func=_check)
    s.add_parser("compilers", help="list the Solidity compilers found, in resolution order").set_defaults(func=_compilers)


def _build(args) -> int:
    from exchange.chain import artifacts
    from exchange.chain.compiler import resolve_compiler

    compiler = resolve_compiler()
    print(f"compiling with {compiler.kind} solc {compiler.version} ({compiler.path})")
    for path in artifacts.build(compiler, only=args.only or None):
        print(f"wrote {path.relative_to(artifacts.CONTRACTS_DIR.parent)}")
    return 0


def _check(args) -> int:
    from exchange.chain import artifacts

    artifacts.check()
    print("artifacts are fresh")
    return 0


def _compilers(args) -> int:
    from exchange.chain.compiler import available_compilers

    for c in available_compilers():
        print(f"{c.kind:8} {c.version:45} {c.path}")
    return 0
