"""On a real anvil: a 120-bid batch in one transaction, sent with send_many (no wait per call)."""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak

from exchange.chain.auction import AuctionHouseClient, OpenParams, send_many
from exchange.chain.deploy import deploy_all
from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient

from .conftest import TD

pytestmark = pytest.mark.anvil


def test_batch_of_120_bids_in_one_transaction_on_anvil(anvil_chain, tmp_path):
    chain = anvil_chain
    manifest, _ = deploy_all(chain, tmp_path, fresh=True)
    reg, h = RegistryClient.from_manifest(chain, manifest), AuctionHouseClient.from_manifest(chain, manifest)
    seller, a, b = chain.accounts[1:4]
    keys = [DeviceKey.from_seed(keccak(f"anvil-device-{i}".encode())) for i in range(120)]
    devices = [k.device_id for k in keys]
    reg.check_in_batch([CheckInItem(k, TD, keccak(k.device_id), keccak(b"s" + k.device_id), f"t{i}", 1, 0)
                        for i, k in enumerate(keys)], sender=seller)
    ids = h.open_batch([OpenParams(d, h.mechanism("english"), reserve=1, bidding_period=600) for d in devices], seller)
    f = h.fns()
    send_many(chain, [(f.registerBuyerKey(os.urandom(32)), a), (f.deposit(), a, 10**18),
                      (f.registerBuyerKey(os.urandom(32)), b), (f.deposit(), b, 10**18)])
    r1, r2 = send_many(chain, [(h.bid_batch_fn(ids, [1000] * 120, strict=True), a),
                               (h.bid_batch_fn(ids, [2000] * 120, strict=True), b)])
    assert r1["gasUsed"] // 120 <= 25_000 and r2["gasUsed"] // 120 <= 25_000
    assert {h.auction(i).first for i in ids} == {b}
    assert h.balance_of(a) == (10**18, 0) and h.balance_of(b).locked == 240_000
