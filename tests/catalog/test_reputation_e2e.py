"""A real AuctionHouse rating flows into the catalog's reputation (deploy plan, auction, rate, index)."""

from __future__ import annotations

import os
from pathlib import Path

from eth_utils import keccak

from exchange.catalog import Catalog, CatalogFilter
from exchange.catalog.indexer import Indexer
from exchange.chain.auction import AuctionHouseClient, OpenParams
from exchange.chain.deploy import deploy_all
from exchange.chain.devicekey import DeviceKey
from exchange.chain.registry import RegistryClient
from exchange.wot import canonical_td
from exchange.wot.samples import appliance_td

ETHER = 10**18


def test_winner_rating_reaches_reputation(chain, tmp_path):
    manifest, _ = deploy_all(chain, Path(tmp_path), fresh=True)
    reg = RegistryClient.from_manifest(chain, manifest)
    house = AuctionHouseClient.from_manifest(chain, manifest)
    seller, buyer = chain.accounts[1], chain.accounts[2]
    key = DeviceKey.from_seed(keccak(b"rated-device"))
    did = key.device_id
    reg.check_in(key, canonical_td(appliance_td()), os.urandom(32), os.urandom(32), "tangle", 10**15, 0, sender=seller)
    house.register_buyer_key(os.urandom(32), buyer)
    house.deposit(ETHER, buyer)
    (aid,) = house.open_batch([OpenParams(did, house.mechanism("english"), reserve=10**15, bidding_period=60)], seller)
    house.bid(aid, ETHER // 10, buyer)
    chain.tester.time_travel(house.auction(aid).time + 1)
    house.settle_batch([aid])
    house.deliver_key(aid, b"\x01" * 120, seller)
    house.rate(aid, 4, buyer)

    url = f"sqlite:///{tmp_path / 'c.db'}"
    ix = Indexer(chain, reg.address, url, auction_house=house.address)
    ix.sync()
    assert ix.reindex(0, chain.w3.eth.block_number).applied == 0
    d = Catalog(url).device(did)
    assert (d.rating_avg, d.rating_count) == (4.0, 1)
    assert Catalog(url).search(CatalogFilter(min_reputation=4)).total == 1
