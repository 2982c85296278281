"""The house's events -> the catalog's auction tables: opened, bids and outbids, settlement, delivery;
replays change nothing, a restart resumes, a reorg (a reverted chain) is indexed again."""

from __future__ import annotations

import pytest

from exchange.catalog import Catalog
from exchange.catalog.indexer import Indexer
from exchange.chain.auction import AuctionHouseClient, OpenParams
from exchange.chain.deploy import deploy_all
from exchange.chain.registry import RegistryClient
from tests.catalog.conftest import fleet_items

RESERVE = 10**15


@pytest.fixture
def market(chain, tmp_path):
    """The contracts, three devices checked in by accounts[1], an English auction open on each."""
    manifest, _ = deploy_all(chain, tmp_path / "deployments")
    reg = RegistryClient.from_manifest(chain, manifest)
    house = AuctionHouseClient.from_manifest(chain, manifest)
    items = fleet_items(3)
    owner = chain.accounts[1]
    reg.check_in_batch(items, sender=owner)
    ids = house.open_batch([OpenParams(it.device_id, house.mechanism("english"), reserve=RESERVE,
                                       increment=RESERVE // 10, bidding_period=600, delivery_window=3600)
                            for it in items], sender=owner)
    for i, bidder in enumerate(chain.accounts[2:4]):
        house.register_buyer_key(bytes([i + 1]) * 32, sender=bidder)
        house.deposit(10**18, sender=bidder)
    db = f"sqlite:///{tmp_path / 'catalog.db'}"
    ix = Indexer(chain, reg.address, db, auction_house=house.address)
    return house, items, ids, ix, Catalog(db).auctions


def test_opened_auctions_and_bids_become_rows_with_the_leader(chain, market):
    house, items, ids, ix, reads = market
    alice, bob = chain.accounts[2:4]
    house.bid_batch(ids[:2], [RESERVE, RESERVE], sender=alice)
    house.bid_batch([ids[0]], [RESERVE * 2], sender=bob)  # outbids alice on the first
    ix.sync()
    first = reads.auction(ids[0])
    assert (first.device_id, first.reserve, first.increment, first.closed) == (
        "0x" + items[0].device_id.hex(), RESERVE, RESERVE // 10, False)
    assert (first.highest, first.leader.lower()) == (RESERVE * 2, bob.lower())
    assert first.delivery_window == 3600 and first.bond_bps == 0 and first.fee_bps == house.auction(ids[0]).fee_bps
    opens = reads.latest_open(["0x" + it.device_id.hex() for it in items])
    assert {o.auction_id for o in opens.values()} == set(ids)
    assert [(s.auction_id, s.amount) for s in reads.standings(alice)] == [(ids[1], RESERVE), (ids[0], RESERVE)]
    assert [(s.auction_id, s.amount) for s in reads.standings(bob)] == [(ids[0], RESERVE * 2)]
    assert [a.auction_id for a in reads.of_device("0x" + items[0].device_id.hex())] == [ids[0]]


def test_a_settled_auction_leaves_the_open_ones_and_its_delivered_key_is_kept(chain, market):
    house, items, ids, ix, reads = market
    alice, owner = chain.accounts[2], chain.accounts[1]
    house.bid_batch([ids[0]], [RESERVE], sender=alice)
    chain.time_travel(601)
    house.settle_batch([ids[0], ids[1]], sender=alice)  # ids[1] had no bid: unsold
    house.deliver_key(ids[0], b"sealed key bytes", sender=owner)
    ix.sync()
    a0, a1 = reads.auction(ids[0]), reads.auction(ids[1])
    assert (a0.status, a0.closed, a0.winner, a0.price, a0.sealed_key) == ("delivered", True, alice.lower(), RESERVE,
                                                                         b"sealed key bytes")
    assert (a1.status, a1.closed) == ("unsold", True)
    assert set(reads.latest_open(["0x" + it.device_id.hex() for it in items])) == {"0x" + items[2].device_id.hex()}
    assert [r.auction_id for r in reads.delivered_to(alice)] == [ids[0]] and reads.delivered_to(owner) == []
    assert reads.delivered(ids) == {ids[0]}


def test_reindexing_the_house_events_changes_nothing(chain, market):
    house, _items, ids, ix, _reads = market
    house.bid_batch(ids, [RESERVE] * 3, sender=chain.accounts[2])
    house.bid_batch([ids[0]], [RESERVE * 3], sender=chain.accounts[3])
    ix.sync()
    before = ix.dump()
    assert ix.reindex(0, chain.block_number()).applied == 0
    assert ix.dump() == before and len(before["auction_bids"]) == 4


def test_a_restart_resumes_and_equals_one_sync(chain, market, tmp_path):
    house, _items, ids, ix, _reads = market
    alice = chain.accounts[2]
    house.bid_batch([ids[0]], [RESERVE], sender=alice)
    ix.sync()
    house.bid_batch([ids[1]], [RESERVE], sender=alice)
    house.bid_batch([ids[0]], [RESERVE * 2], sender=chain.accounts[3])
    again = Indexer(chain, ix.registry.address, engine=ix.engine, auction_house=house.address)
    again.sync()
    once = Indexer(chain, ix.registry.address, f"sqlite:///{tmp_path / 'once.db'}", auction_house=house.address)
    once.sync()
    assert again.dump() == once.dump()


def test_a_reverted_chain_is_indexed_again_without_the_blocks_it_lost(chain, market):
    house, items, ids, ix, reads = market
    alice = chain.accounts[2]
    ix.sync()
    snap = chain.tester.take_snapshot()
    house.bid_batch([ids[0]], [RESERVE], sender=alice)
    RegistryClient(chain, ix.registry.address).check_in_batch(fleet_items(1, offset=10), sender=chain.accounts[1])
    ix.sync()
    assert reads.standings(alice) and Catalog(str(ix.engine.url)).device(fleet_items(1, offset=10)[0].device_id)
    chain.tester.revert_to_snapshot(snap)  # those blocks are gone; new ones take their numbers
    house.bid_batch([ids[1]], [RESERVE], sender=alice)
    ix.sync()
    assert [(s.auction_id, s.amount) for s in reads.standings(alice)] == [(ids[1], RESERVE)]
    assert reads.auction(ids[0]).highest == 0
    assert Catalog(str(ix.engine.url)).device(fleet_items(1, offset=10)[0].device_id) is None
