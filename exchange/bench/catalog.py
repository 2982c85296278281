"""``thingbid bench catalog``: filter-query latency over a large synthetic catalog.

Rows are written straight into the catalog tables (the same column builder the indexer uses,
``td_columns``), because checking 100k devices in through a chain would measure the chain.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from exchange.geo import BASE32

NAME = "catalog"
HELP = "p50/p95 of Catalog.search over a mix of filters on N synthetic devices (SQLite unless --database-url)"

def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--seed", type=int, default=7)

CITIES = {"u33d": (52.52, 13.40), "u281": (48.14, 11.58), "gcpv": (51.51, -0.13), "u09t": (48.86, 2.35),
          "sr2y": (41.90, 12.50), "dr5r": (40.71, -74.0), "xn76": (35.68, 139.69), "r3gx": (-33.87, 151.21)}
WORDS = ["kitchen", "garage", "basement", "office", "garden", "attic", "bathroom", "cellar", "shop", "lab"]

def fill(engine, n: int, rng: random.Random, batch: int = 5000, whole_tds: bool = False) -> None:
    """``n`` synthetic devices. ``whole_tds``: each stored TD carries the device's own title,
    geohash and tags (as a registered TD would), not its kind's template (what the directory serves)."""
    from sqlalchemy import insert

    from exchange.catalog.indexer import GWEI, A, D, G, J, T, W, td_columns
    from exchange.catalog.models import Reputation
    from exchange.catalog.text import words_of
    from exchange.geo import decode
    from exchange.wot import canonical_td
    from exchange.wot.samples import APPLIANCES, appliance_td, random_geohash

    kinds = sorted(APPLIANCES)
    templates = {k: td_columns(canonical_td(appliance_td(k))) for k in kinds}
    tds = {k: appliance_td(k) for k in kinds}
    prefixes = sorted(CITIES)
    with engine.begin() as conn:
        for start in range(0, n, batch):
            devs, types, affs, tags, words_rows, docs, reps = [], [], [], [], [], [], []
            for i in range(start, min(n, start + batch)):
                kind = kinds[i % len(kinds)]
                cols, ty, af, _, _, doc = templates[kind]
                did = "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()
                gh = random_geohash(rng, 5, rng.choice(prefixes))

                lat, lon = decode(gh)
                words = rng.sample(WORDS, 2)
                reserve = rng.randrange(10**15, 10**18)
                text = f"{kind} {i} {cols['description']} {' '.join(words)}".lower()
                devs.append({**cols, "device_id": did, "owner": "0x" + "11" * 20, "title": f"{kind} {i}",
                             "geohash": gh, "lat": lat, "lon": lon,
                             "reserve_wei": str(reserve), "reserve_gwei": reserve // GWEI, "mechanism": i % 2,
                             "active": rng.random() < 0.9, "attested": rng.random() < 0.3, "oem": None,
                             "td_hash": "0x" + "00" * 32, "x25519_key": "0x" + "00" * 32, "tangle_address": "t",
                             "checked_in_block": i // 50, "updated_block": i // 50, "last_block": i // 50,
                             "last_log_index": i % 50})
                types += [{**t, "device_id": did} for t in ty]
                affs += [{**a, "device_id": did} for a in af]
                tags += [{"tag": w, "device_id": did} for w in words]
                if whole_tds:
                    td = {**tds[kind], "id": "urn:thingbid:device:" + did[2:], "title": f"{kind} {i}",
                          "geohash": gh, "tags": words}
                    docs.append({"td_json": json.dumps(td, separators=(",", ":"), sort_keys=True), "device_id": did})
                else:
                    docs.append({**doc[0], "device_id": did})
                words_rows += [{"word": w, "device_id": did} for w in words_of(text)]
                if rng.random() < 0.4:
                    reps.append({"device_id": did, "count": rng.randint(1, 20), "average": round(rng.uniform(1, 5), 2)})
            conn.execute(insert(D), devs)
            conn.execute(insert(T), types)
            conn.execute(insert(A), affs)
            conn.execute(insert(G), tags)
            conn.execute(insert(W), words_rows)
            conn.execute(insert(J), docs)
            if reps:
                conn.execute(insert(Reputation.__table__), reps)

def filter_mix(rng: random.Random) -> list[dict]:
    from exchange.wot.samples import APPLIANCES

    kinds = sorted(APPLIANCES)
    mix = []
    for _ in range(40):
        city, (lat, lon) = rng.choice(sorted(CITIES.items()))
        mix += [
            {"device_type": rng.choice(kinds)},
            {"device_type": rng.choice(kinds), "attested_only": True, "sort": "reserve_asc"},
            {"properties": ["powerDraw"], "units": ["watt"], "page": rng.randint(1, 20)},
            {"text": rng.choice(WORDS)},
            {"geohash_prefix": city + rng.choice(BASE32)},
            {"lat": lat, "lon": lon, "radius_km": rng.choice([5, 25, 100]), "sort": "distance"},
            {"reserve_min": 10**17, "reserve_max": 3 * 10**17, "sort": "reserve_desc"},
            {"min_reputation": 4.0, "sort": "reputation"},
            {"device_type": "HeatPump", "geohash_prefix": city, "min_reputation": 3, "text": "garden"},
            {"sort": "title", "page": rng.randint(1, 50), "per_page": 50},
        ]
    return mix

def database_label(engine) -> str:
    """``sqlite``, or ``postgresql`` with the database's collation (the catalog must be fast with any)."""
    if engine.dialect.name != "postgresql":
        return engine.dialect.name
    import sqlalchemy as sa

    with engine.connect() as c:
        provider, collate, icu = c.execute(sa.text(
            "SELECT datlocprovider, datcollate, daticulocale FROM pg_database WHERE datname = current_database()")).one()
    return f"postgresql (icu {icu})" if provider == "i" else f"postgresql (collation {collate})"


def run(args):
    from exchange.bench import percentile
    from exchange.catalog import Catalog, CatalogFilter
    from exchange.catalog.db import analyze

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'catalog.db'}"
        cat = Catalog(url)
        database = database_label(cat.engine)
        t = time.perf_counter()
        fill(cat.engine, args.devices, rng)
        analyze(cat.engine)
        fill_s = time.perf_counter() - t
        mix = [CatalogFilter(**f) for f in filter_mix(rng)]
        times = []
        for i in range(args.queries):
            f = mix[i % len(mix)]
            t = time.perf_counter()
            cat.search(f)
            times.append((time.perf_counter() - t) * 1000)
        cat.close()
    yield {"database": database, "devices": args.devices, "queries": args.queries, "p50_ms": round(percentile(times, 50), 2),
           "p95_ms": round(percentile(times, 95), 2), "max_ms": round(max(times), 2), "fill_s": round(fill_s, 1)}
