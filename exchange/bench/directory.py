"""``thingbid bench directory``: the WoT Thing Description Directory over a large catalog.

Rows: ``list`` (a page of ``/things``: ThingDirectory.list and the JSON body, at random depths,
half of them by the ``after`` cursor of a ``next`` link and half by ``offset``) and ``jsonpath``
(a mix of typical queries: those the catalog's indexes narrow, and projections and filters that
are evaluated on TDs in id order up to the page). In process, without HTTP.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

NAME = "directory"
HELP = "p95 of a /things page and of typical JSONPath searches over N synthetic TDs (SQLite unless --database-url)"

INDEXED = [
    "$[?@.title == '{title}']",
    "$[?@['@type'][?@ == '{kind}'] && match(@.geohash, '{city}.*')]",
    "$[?@.properties.powerDraw && @.properties[?@.unit == 'degree Celsius'] && match(@.geohash, '{city}.*')].id",
    "$[?@.id == '{urn}']",
]
SCANNED = [
    "$[*].title",
    "$[?@.properties.powerDraw.maximum > 100].id",
    "$..unit",
]


def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=10_000, help="TDs in the catalog (default 10,000; "
                        "docs/benchmarks.md has 100,000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--page", type=int, default=100, help="TDs per /things page (the directory's default)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--seed", type=int, default=7)


def run(args):
    from sqlalchemy import select

    from exchange.bench import percentile
    from exchange.bench.catalog import CITIES, fill
    from exchange.catalog import Catalog, CatalogFilter
    from exchange.catalog.db import analyze
    from exchange.catalog.directory import ThingDirectory, device_urn
    from exchange.catalog.models import Device
    from exchange.wot.samples import APPLIANCES

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'catalog.db'}"
        cat = Catalog(url)
        t = time.perf_counter()
        fill(cat.engine, args.devices, rng, whole_tds=True)
        analyze(cat.engine)
        fill_s = time.perf_counter() - t
        directory = ThingDirectory(cat)
        everyone = CatalogFilter()
        with cat.engine.connect() as conn:
            ids = list(conn.execute(select(Device.device_id).where(Device.active.is_(True))
                                    .order_by(Device.device_id)).scalars())
            titles = list(conn.execute(select(Device.title).limit(1000)).scalars())

        list_ms = []
        for i in range(args.queries):
            depth = rng.randrange(max(1, len(ids) - args.page))
            t = time.perf_counter()
            if i % 2:
                tds, _ = directory.list(everyone, limit=args.page, after=ids[depth])
            else:
                tds, _ = directory.list(everyone, offset=depth, limit=args.page)
            json.dumps(tds)
            list_ms.append((time.perf_counter() - t) * 1000)

        indexed_ms, scanned_ms = [], []
        kinds, cities = sorted(APPLIANCES), sorted(CITIES)
        for i in range(args.queries):
            scan = i % 4 == 3  # one query in four is evaluated without an index
            template = rng.choice(SCANNED if scan else INDEXED)
            query = template.format(title=rng.choice(titles), kind=rng.choice(kinds), city=rng.choice(cities),
                                    urn=device_urn(rng.choice(ids)))
            t = time.perf_counter()
            nodes, _, _ = directory.search(query, everyone, limit=args.page)
            json.dumps(nodes)
            (scanned_ms if scan else indexed_ms).append((time.perf_counter() - t) * 1000)
        cat.close()
    all_ms = indexed_ms + scanned_ms
    yield {"op": "list", "devices": args.devices, "page": args.page, "queries": args.queries,
           "p50_ms": round(percentile(list_ms, 50), 2), "p95_ms": round(percentile(list_ms, 95), 2),
           "fill_s": round(fill_s, 1)}
    yield {"op": "jsonpath", "devices": args.devices, "queries": args.queries,
           "p50_ms": round(percentile(all_ms, 50), 2), "p95_ms": round(percentile(all_ms, 95), 2),
           "indexed_p95_ms": round(percentile(indexed_ms, 95), 2),
           "scanned_p95_ms": round(percentile(scanned_ms, 95), 2)}
