"""AuctionHouseClient: input checks before any transaction, send_many, event readers, sealed key delivery."""

from __future__ import annotations

import pytest

from exchange.chain.auction import AuctionInputError, BidRejectedError, OpenParams, send_many
from exchange.errors import ContractRevert

from .conftest import ETHER


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"device_id": b"short"}, "device_id must be 32 bytes"),
    ({"bond_bps": 10_001}, r"bond_bps must be an integer in \[0, 10000\]"),
    ({"bidding_period": 0}, r"bidding_period must be an integer in \[1, 2\*\*40\), got 0"),
    ({"reserve": 2**88}, r"reserve must be an integer in \[0, 2\*\*88\)"),
    ({"window": 2**24}, r"window must be an integer in \[0, 2\*\*24\)"),
    ({"increment": -1}, r"increment must be an integer in \[0, 2\*\*88\), got -1"),
])
def test_bad_open_params_are_refused_before_sending(market, kwargs, message):
    params = {"device_id": market.devices[0], "mechanism": market.house.mechanism("english"), **kwargs}
    block = market.chain.w3.eth.block_number
    with pytest.raises(AuctionInputError, match=message):
        market.house.open(OpenParams(**params), market.seller)
    assert market.chain.w3.eth.block_number == block


@pytest.mark.parametrize(("call", "message"), [
    ("bid_len", "batch arguments differ in length"), ("amount", r"amount must be an integer in \[1, 2\*\*88\)"),
    ("score", r"score must be an integer in \[0, 2\*\*8\)"), ("key", "sealed_key must be 1..4096 bytes"),
    ("mechanism", "unknown mechanism 'dutch'"),
])
def test_bad_call_arguments_are_input_errors(market, call, message):
    h, a = market.house, market.bidders[0]
    block = market.chain.w3.eth.block_number
    with pytest.raises(AuctionInputError, match=message):
        {"bid_len": lambda: h.bid_batch([1, 2], [1], a), "amount": lambda: h.deposit(0, a),
         "score": lambda: h.rate(1, 256, a), "key": lambda: h.deliver_key(1, b"", market.seller),
         "mechanism": lambda: h.mechanism("dutch")}[call]()
    assert market.chain.w3.eth.block_number == block  # refused before sending


def test_strict_batch_reverts_with_reason_and_changes_nothing(market):
    h, a = market.house, market.bidders[0]
    ids = market.open("english", n=2, reserve=ETHER)
    before = h.balance_of(a)
    with pytest.raises(BidRejectedError) as err:
        h.bid_batch(ids, [2 * ETHER, ETHER // 2], a, strict=True)
    assert (err.value.auction_id, err.value.reason) == (ids[1], "below_reserve")
    assert isinstance(err.value, ContractRevert) and h.balance_of(a) == before


def test_send_many_sends_bid_batches_of_100_without_waiting_each(market):
    h, (a, b) = market.house, market.bidders[:2]
    ids = market.open("english", n=30, reserve=10**9)
    calls = [(h.bid_batch_fn(ids, [10**9 + i for i in range(30)], strict=True), a),
             (h.bid_batch_fn(ids, [2 * 10**9] * 30, strict=True), b)]
    receipts = send_many(market.chain, calls, gas=20_000_000)
    assert [r["status"] for r in receipts] == [1, 1]
    assert {h.auction(i).first for i in ids} == {b}
    assert h.balance_of(a).locked == 0 and h.balance_of(b).locked == 60 * 10**9


def test_sealed_key_roundtrip_through_chain_events(market):
    crypto = pytest.importorskip("exchange.crypto.sealed")
    h, a = market.house, market.bidders[0]
    priv, pub = crypto.generate_x25519()
    h.register_buyer_key(pub, a)
    (aid,) = market.open("english")
    market.place("english", aid, [(a, ETHER // 10)])
    h.settle_batch([aid])
    (settled,) = h.settlements()
    assert settled.args["auctionId"] == aid and settled.args["winner"] == a
    box = crypto.seal(h.buyer_key_of(a), b"access-token-bytes")
    h.deliver_key(aid, box, market.seller)
    (delivered,) = h.events(names={"KeyDelivered"})
    assert crypto.open_sealed(priv, delivered.args["sealedKey"]) == b"access-token-bytes"
    assert delivered.args["accessUntil"] == h.access_until(aid)
