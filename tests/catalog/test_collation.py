"""The catalog answers the same on SQLite and on PostgreSQL whatever the database's collation
(issue 13). Seen failing before the fix: on an ICU en-US database the range for a geohash cell or
a word ending in "z" had the upper bound "...{", which a linguistic collation sorts before the
letters, so prefix, radius and text filters found nothing there."""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak

from exchange.catalog import Catalog, CatalogFilter
from exchange.catalog.indexer import Indexer
from exchange.chain.registry import CheckInItem, DeviceKey
from exchange.geo import decode
from exchange.wot import canonical_td
from exchange.wot.samples import appliance_td

# Cells and words that end in "z", the last letter of the geohash alphabet.
EDGE = [("Refrigerator", "u33zb", ("jazz",)), ("SmartMeter", "u33zz", ("fizz",)), ("HeatPump", "u33db", ("buzz",))]
FILTERS = [
    CatalogFilter(geohash_prefix="u33z"),
    CatalogFilter(geohash_prefix="u33zz"),
    CatalogFilter(geohash_prefix="u33"),
    CatalogFilter(text="jaz"),
    CatalogFilter(text="fiz"),
    CatalogFilter(text="buz"),
    CatalogFilter(lat=decode("u33zz")[0], lon=decode("u33zz")[1], radius_km=3, sort="distance"),
]


def _index(chain, reg, url: str) -> Catalog:
    owner = chain.accounts[2]
    if not reg.is_active(DeviceKey.from_seed(keccak(b"edge-0")).device_id):
        for i, (kind, gh, tags) in enumerate(EDGE):
            key = DeviceKey.from_seed(keccak(f"edge-{i}".encode()))
            td = appliance_td(kind, gh, device_id=f"urn:dev:thingbid:edge{i}", tags=tags)
            it = CheckInItem(key, canonical_td(td), os.urandom(32), os.urandom(32), f"t{i}", 10**16, 0)
            reg.check_in(it.device_key, it.td, it.x25519_key, it.signing_key, it.tangle_address, it.reserve_price,
                         it.mechanism, sender=owner)
    ix = Indexer(chain, reg.address, url)
    ix.sync()
    ix.close()
    return Catalog(url)


@pytest.mark.postgres
@pytest.mark.parametrize("collation", [None, "icu"], ids=["c", "icu-en-US"])
def test_prefix_text_and_radius_filters_agree_with_sqlite(chain, reg, tmp_path, postgres_database, collation):
    sqlite = _index(chain, reg, f"sqlite:///{tmp_path / 'c.db'}")
    pg = _index(chain, reg, postgres_database(collation))
    for f in FILTERS:
        want = [d.device_id for d in sqlite.search(f).items]
        assert want, f"SQLite finds nothing for {f}: the fixture is wrong"
        got = pg.search(f)
        assert [d.device_id for d in got.items] == want, f
        assert got.total == len(want)
    pg.close()
    sqlite.close()


@pytest.mark.postgres
def test_an_older_catalog_gets_byte_order_columns_when_opened(chain, reg, postgres_database):
    import sqlalchemy

    url = postgres_database("icu")
    _index(chain, reg, url).close()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:  # as the catalog was before: the database's linguistic collation
        conn.execute(sqlalchemy.text('ALTER TABLE devices ALTER COLUMN geohash TYPE varchar(12) COLLATE "en-US-x-icu"'))
        conn.execute(sqlalchemy.text('ALTER TABLE device_words ALTER COLUMN word TYPE varchar(64) COLLATE "en-US-x-icu"'))
    assert Catalog(url, engine=engine).search(FILTERS[0]).items  # opening it fixes the columns
    with engine.connect() as conn:
        got = dict(conn.execute(sqlalchemy.text(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_name IN ('devices', 'device_words') AND column_name IN ('geohash', 'word')")).all())
    assert got == {"geohash": "C", "word": "C"}
    engine.dispose()


def _analyzed_tables(url: str) -> set[str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        if url.startswith("sqlite"):
            has = conn.execute(sqlalchemy.text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
            names = set(conn.execute(sqlalchemy.text("SELECT tbl FROM sqlite_stat1")).scalars()) if has else set()
        else:
            names = set(conn.execute(sqlalchemy.text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")).scalars())
    engine.dispose()
    return names


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_bulk_sync_and_a_rebuild_refresh_the_planner_statistics(chain, reg, tmp_path, postgres_database, database):
    url = f"sqlite:///{tmp_path / 'c.db'}" if database == "sqlite" else postgres_database()
    owner = chain.accounts[2]
    for i, (kind, gh, tags) in enumerate(EDGE):
        key = DeviceKey.from_seed(keccak(f"bulk-{i}".encode()))
        td = appliance_td(kind, gh, device_id=f"urn:dev:thingbid:bulk{i}", tags=tags)
        reg.check_in(key, canonical_td(td), os.urandom(32), os.urandom(32), "t", 10**16, 0, sender=owner)
    ix = Indexer(chain, reg.address, url, analyze_after=len(EDGE))
    ix.sync()
    assert {"devices", "device_words"} <= _analyzed_tables(url)
    ix.rebuild()
    assert {"devices", "device_words"} <= _analyzed_tables(url)
    ix.close()


def test_a_small_sync_leaves_the_statistics_alone(chain, reg, tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    key = DeviceKey.from_seed(keccak(b"small"))
    td = appliance_td("Refrigerator", "u33db", device_id="urn:dev:thingbid:small", tags=("kitchen",))
    reg.check_in(key, canonical_td(td), os.urandom(32), os.urandom(32), "t", 10**16, 0, sender=chain.accounts[2])
    ix = Indexer(chain, reg.address, url)  # analyze_after 1000 by default
    ix.sync()
    assert _analyzed_tables(url) == set()
    ix.close()
