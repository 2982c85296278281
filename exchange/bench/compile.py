"""``thingbid bench compile``: wall time to compile all contracts with each compiler path."""

from __future__ import annotations

NAME = "compile"
HELP = "median time to compile contracts/ with every available compiler"


def add_arguments(parser) -> None:
    parser.add_argument("--repeat", type=int, default=3)


def run(args):
    from exchange.bench import median_ms
    from exchange.chain.compiler import available_compilers, compile_sources, source_files

    sources = {k: p.read_text() for k, p in source_files().items()}
    for c in available_compilers():
        yield {"compiler": c.kind, "version": c.version, "sources": len(sources),
               "compile_p50_ms": median_ms(lambda c=c: compile_sources(sources, c), args.repeat)}
