"""Indexer: registry events on a real chain -> catalog rows; resume, idempotence, rebuild."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from exchange.catalog import Catalog, CatalogFilter
from exchange.catalog.db import make_engine
from exchange.catalog.indexer import HANDLERS, Indexer, IndexerError, apply_events
from exchange.chain.devicekey import DeviceKey
from exchange.chain.registry import EventDecoder, event_abi


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def test_sync_indexes_every_registry_event(chain, reg, fleet, db_url):
    items, oem = fleet
    ix = Indexer(chain, reg.address, db_url)
    r = ix.sync()
    assert r.to_block == chain.w3.eth.block_number and r.applied >= len(items) + 4
    cat = Catalog(db_url)
    d0 = cat.device(items[0].device_id)
    assert d0.attested and d0.oem == oem.address and d0.active and d0.types == ["Thing", "Refrigerator"]
    assert (d0.geohash, round(d0.lat, 1), round(d0.lon, 1)) == ("u33db", 52.5, 13.4)
    assert d0.td["title"] == d0.title and d0.reserve_wei == 10**17 and d0.x25519_key == "0x" + items[0].x25519_key.hex()
    assert {a.name for a in d0.affordances} >= {"temperature", "doorOpen", "alert"}
    assert cat.device(items[1].device_id).owner == chain.accounts[2]  # transferred
    d2 = cat.device(items[2].device_id)
    assert d2.tags == ["cellar"] and d2.reserve_wei == 6 * 10**16 and d2.tangle_address == "tangle-2b"  # updated
    assert not cat.device(items[5].device_id).active  # checked out
    assert cat.device(b"\x00" * 32) is None


def test_property_and_unit_filters_match_a_case_insensitive_part_of_the_name(chain, reg, fleet, db_url):
    """Issue 17: `temperature` finds `flowTemperature` too, `celsius` finds "degree Celsius", and
    the catalog lists the names and units that exist (the web form's suggestions)."""
    items, _ = fleet
    Indexer(chain, reg.address, db_url).sync()
    cat = Catalog(db_url)

    def ids(**f):
        return {d.device_id for d in cat.search(CatalogFilter(**f)).items}

    hexid = ["0x" + i.device_id.hex() for i in items]
    with_temperature = {hexid[0], hexid[1], hexid[3], hexid[4]}  # fridges, heat pump (flow/outdoor), air sensor
    assert ids(properties=["temperature"]) == with_temperature
    assert ids(properties=["TEMPERATURE"]) == with_temperature
    assert ids(properties=["outdoortemp"]) == {hexid[3]}
    assert ids(units=["celsius"]) == with_temperature
    assert ids(units=["Celsius"], properties=["power", "humid"]) == {hexid[0], hexid[1]}  # each term is required
    assert ids(properties=["nosuchthing"]) == set() and ids(units=["furlong"]) == set()
    assert cat.count(CatalogFilter(properties=["temperature"])) == 4
    assert cat.device_ids(CatalogFilter(units=["ampere"])) == [hexid[2]]
    vocab = cat.vocabulary()
    assert ("flowTemperature", 1) in vocab["properties"] and ("degree Celsius", 4) in vocab["units"]
    assert [n for n, _ in vocab["properties"]] == sorted({n for n, _ in vocab["properties"]}, key=str.lower)


def test_filters_over_an_indexed_fleet(chain, reg, fleet, db_url):
    items, _ = fleet
    Indexer(chain, reg.address, db_url).sync()
    cat = Catalog(db_url)

    def ids(**f):
        return {d.device_id for d in cat.search(CatalogFilter(**f)).items}

    hexid = ["0x" + i.device_id.hex() for i in items]
    assert ids() == set(hexid[:5])
    assert ids(active_only=False) == set(hexid)
    assert ids(device_type="Refrigerator") == set(hexid[:2])
    assert ids(properties=["powerDraw", "humidity"]) == {hexid[0], hexid[1]}
    assert ids(units=["ampere"]) == {hexid[2]}
    assert ids(text="garage") == {hexid[1]} and ids(text="HOUSEHOLD heatpump") == {hexid[3]}
    assert ids(geohash_prefix="u33d") == set(hexid[:3])
    assert ids(lat=51.5, lon=-0.12, radius_km=50) == {hexid[4]}  # London, the washer is checked out
    assert ids(reserve_min=10**17, reserve_max=3 * 10**17) == {hexid[0], hexid[1], hexid[4]}
    assert ids(attested_only=True) == {hexid[0]}
    page = cat.search(CatalogFilter(sort="reserve_desc", per_page=2, page=2))
    ahead = cat.search(CatalogFilter(per_page=1, active_only=False))  # counts 5 pages ahead only
    assert (ahead.total, ahead.total_exact) == (5, False)
    last = cat.search(CatalogFilter(per_page=4, page=2, active_only=False))
    assert (last.total, last.total_exact, len(last.items)) == (6, True, 2)
    beyond = cat.search(CatalogFilter(per_page=4, page=9))
    assert (beyond.total, beyond.items) == (5, [])
    assert page.total == 5 and page.total_exact and cat.count(CatalogFilter(active_only=False)) == 6 and [d.device_id for d in page.items] == [hexid[4], hexid[0]]
    near = cat.search(CatalogFilter(lat=52.52, lon=13.40, radius_km=1000, sort="distance")).items
    # Berlin's three, then Bavaria, then London (the checked-out washer is not listed), nearest first.
    assert [d.device_id for d in near] == hexid[:5]
    dist = [d.distance_km for d in near]
    assert dist == sorted(dist) and len(set(dist)) == 5 and dist[-1] <= 1000, dist
    from exchange.geo import haversine_km

    assert all(d.distance_km == pytest.approx(haversine_km(52.52, 13.40, d.lat, d.lon), abs=1e-3) for d in near)
    from sqlalchemy.orm import Session

    from exchange.catalog import build_query

    for f in (CatalogFilter(sort="title", per_page=3, page=2), CatalogFilter(units=["watt"], sort="reserve_asc")):
        with Session(cat.engine) as s:
            direct = [row[0].device_id for row in s.execute(build_query(f)).all()]
        assert direct == [d.device_id for d in cat.search(f).items]
    assert cat.device_ids(CatalogFilter(per_page=1)) == [d.device_id for d in cat.search(CatalogFilter()).items]


def test_reindexing_a_range_changes_nothing(chain, reg, fleet, db_url):
    ix = Indexer(chain, reg.address, db_url)
    ix.sync()
    before = ix.dump()
    r = ix.reindex(0, chain.w3.eth.block_number)
    assert r.events > 0 and r.applied == 0 and ix.dump() == before


class PowerCut(BaseException):
    """The process ending mid-range (like KeyboardInterrupt or SystemExit: nothing catches it)."""


def test_resume_after_restart_mid_range(chain, reg, fleet, db_url, tmp_path):
    head = chain.w3.eth.block_number
    first = Indexer(chain, reg.address, db_url, batch_blocks=3)
    first.sync(to_block=head // 2)
    assert first.status()["next_block"] == head // 2 + 1
    first.close()
    # A crash inside a range (the process dies after some events: not an exception an event causes,
    # which would be quarantined); nothing of that range is kept.
    crashing = Indexer(chain, reg.address, db_url, batch_blocks=1000)
    boom = {"n": 0}
    originals = dict(HANDLERS)

    def failing(handler):
        def wrapped(batch, ev):
            boom["n"] += 1
            if boom["n"] == 2:
                raise PowerCut("power cut")
            handler(batch, ev)
        return wrapped

    HANDLERS.update({name: failing(h) for name, h in originals.items()})
    try:
        with pytest.raises(PowerCut, match="power cut"):
            crashing.sync()
    finally:
        HANDLERS.update(originals)
    assert crashing.status()["next_block"] == head // 2 + 1
    crashing.close()
    resumed = Indexer(chain, reg.address, db_url)
    resumed.sync()
    full = Indexer(chain, reg.address, f"sqlite:///{tmp_path / 'full.db'}")
    full.sync()
    assert resumed.dump() == full.dump() and resumed.status()["next_block"] == head + 1


def test_rebuild_equals_incremental(chain, reg, db_url, tmp_path, fleet_items):
    items = fleet_items()
    inc = Indexer(chain, reg.address, db_url, batch_blocks=2)
    for it in items:  # index after every change, as a live indexer would
        reg.check_in(it.device_key, it.td, it.x25519_key, it.signing_key, it.tangle_address, it.reserve_price,
                     sender=chain.accounts[1])
        inc.sync()
    reg.check_out(items[0].device_id, sender=chain.accounts[1])
    inc.sync()
    reg.update(items[1].device_id, items[3].td, "t", 7, 1, sender=chain.accounts[1])
    inc.sync()
    rebuilt = Indexer(chain, reg.address, f"sqlite:///{tmp_path / 'rebuilt.db'}")
    rebuilt.sync()
    assert rebuilt.dump() == inc.dump()
    inc.rebuild()
    assert rebuilt.dump() == inc.dump()


def test_confirmations_hold_back_recent_blocks(chain, reg, db_url, fleet_items):
    it = fleet_items(1)[0]
    reg.check_in(it.device_key, it.td, it.x25519_key, it.signing_key, "t", 1, sender=chain.accounts[1])
    ix = Indexer(chain, reg.address, db_url, confirmations=3)
    ix.sync()
    assert Catalog(db_url).device(it.device_id) is None
    chain.tester.mine_blocks(3)
    ix.sync()
    assert Catalog(db_url).device(it.device_id) is not None


def test_catalog_of_another_registry_is_refused(chain, reg, db_url):
    from exchange.chain.registry import RegistryClient

    Indexer(chain, reg.address, db_url).sync()
    other = RegistryClient.deploy(chain)
    with pytest.raises(IndexerError, match="rebuild it"):
        Indexer(chain, other.address, db_url).sync()


def test_invalid_td_bytes_are_kept_but_not_searchable(chain, reg, db_url):
    junk = DeviceKey.from_seed(keccak(b"junk"))
    did = junk.device_id
    reg.check_in(junk, b"{not json", keccak(b"k"), keccak(b"s"), "t", 1, sender=chain.accounts[1])
    Indexer(chain, reg.address, db_url).sync()
    cat = Catalog(db_url)
    assert cat.device(did).title == "" and cat.device(did).td is None
    assert cat.search(CatalogFilter(text="not")).total == 0


def rated_log(device_id: bytes, auction_id: int, rater: str, score: int, block: int, index: int,
              house: str = "0x" + "ab" * 20, weight: int = 10**15) -> dict:
    """A raw log as get_logs returns it for AuctionHouse.DeviceRated (weight: the fee the purchase paid)."""
    topic0 = keccak(text="DeviceRated(bytes32,uint256,address,uint8,uint256)")
    return {"address": house, "blockNumber": block, "logIndex": index, "transactionHash": b"\x01" * 32,
            "topics": [topic0, device_id, auction_id.to_bytes(32, "big"), bytes(12) + bytes.fromhex(rater[2:])],
            "data": encode(["uint8", "uint256"], [score, weight])}


def test_device_rated_events_build_fee_weighted_reputation_idempotently(chain, reg, fleet, db_url):
    """A rating weighs the fee its purchase paid: a 4 backed by 0.003 ETH and a 5 backed by 0.001 ETH
    average 4.25, not 4.5 (issue 12 case 5: cheap wash-traded ratings weigh little)."""
    items, _ = fleet
    Indexer(chain, reg.address, db_url).sync()
    dec = EventDecoder([event_abi("AuctionHouse", "DeviceRated")])
    did, other = items[0].device_id, items[1].device_id
    events = [dec.decode(rated_log(did, 1, chain.accounts[3], 4, 100, 0, weight=3 * 10**15)),
              dec.decode(rated_log(did, 2, chain.accounts[4], 5, 101, 0, weight=10**15)),
              dec.decode(rated_log(other, 3, chain.accounts[4], 5, 102, 0, weight=2**88 * 5))]
    engine = make_engine(db_url)
    for _ in range(2):  # the second pass is a replay
        with engine.begin() as conn:
            apply_events(conn, events)
    cat = Catalog(db_url)
    d = cat.device(did)
    assert (d.rating_avg, d.rating_count, d.rating_weight_wei) == (4.25, 2, 4 * 10**15)
    assert cat.device(other).rating_weight_wei == 2**88 * 5  # fees above 64 bits are kept exactly
    assert {x.device_id for x in cat.search(CatalogFilter(min_reputation=4.5)).items} == {"0x" + other.hex()}
    assert {x.device_id for x in cat.search(CatalogFilter(min_reputation=4.25)).items} == {"0x" + did.hex(), "0x" + other.hex()}
    assert [x.device_id for x in cat.search(CatalogFilter(sort="reputation")).items[:2]] == ["0x" + other.hex(), "0x" + did.hex()]


@pytest.mark.postgres
def test_postgresql_variant_matches_sqlite(chain, reg, fleet, db_url, postgres_url):
    sq = Indexer(chain, reg.address, db_url)
    sq.sync()
    pg = Indexer(chain, reg.address, postgres_url, batch_blocks=2)
    pg.sync()
    assert pg.reindex(0, chain.w3.eth.block_number).applied == 0
    assert pg.dump() == sq.dump()
    cat_pg, cat_sq = Catalog(postgres_url), Catalog(db_url)
    for f in (CatalogFilter(), CatalogFilter(lat=52.52, lon=13.4, radius_km=30, sort="distance"),
              CatalogFilter(text="kitchen", sort="title"), CatalogFilter(geohash_prefix="u33", units=["watt"]),
              CatalogFilter(reserve_min=10**16, sort="reserve_asc", active_only=False)):
        a, b = cat_pg.search(f), cat_sq.search(f)
        assert [d.device_id for d in a.items] == [d.device_id for d in b.items] and a.total == b.total
    pg.rebuild()
    assert pg.dump() == sq.dump()
    cat_pg.close()
    pg.close()
