"""Hostile bidders, unauthorised callers, copied commitments, and exact time boundaries."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from exchange.chain.artifacts import load_artifact
from exchange.errors import ContractRevert

from .conftest import ETHER


def _deploy(market, name):
    art = load_artifact(name)
    factory = market.chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = market.chain.transact(factory.constructor(market.house.address))
    return market.chain.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def _revert(fn, *args, **kw) -> ContractRevert:
    with pytest.raises(ContractRevert) as err:
        fn(*args, **kw)
    return err.value


def _named(err: ContractRevert) -> tuple:
    """(error name, arguments) with addresses in one case (reverts decode them lower-case)."""
    return err.error, tuple(a.lower() if isinstance(a, str) else a for a in err.error_args)


def test_reverting_receiver_cannot_block_auction_or_gain(market):
    h, a = market.house, market.bidders[0]
    evil = _deploy(market, "RevertingBidder")
    market.chain.transact(evil.functions.fund(b"\x07" * 32), value=ETHER)
    (aid,) = market.open("english")
    market.chain.transact(evil.functions.bidBatch([aid], [ETHER // 10]))
    h.bid(aid, ETHER // 5, a)  # outbidding the hostile contract credits it; nothing is sent
    assert h.balance_of(evil.address) == (ETHER, 0)
    market.at(market.end_of(aid))
    h.settle_batch([aid])
    assert h.auction(aid).first == a
    err = _revert(market.chain.transact, evil.functions.withdraw(ETHER))
    assert _named(err) == ("WithdrawFailed", (evil.address.lower(), ETHER))
    assert h.balance_of(evil.address) == (ETHER, 0)  # the failed withdraw changed nothing
    assert h.ether_balance() == market.held() + ETHER


def test_reentrant_withdrawer_gets_exactly_its_balance(market):
    h = market.house
    thief = _deploy(market, "ReentrantWithdrawer")
    market.chain.transact(thief.functions.fund(b"\x08" * 32), value=ETHER)
    house_before = h.ether_balance()
    receipt = market.chain.transact(thief.functions.attack(ETHER, 3))
    inner = [e["args"]["ok"] for e in thief.events.Reentered().process_receipt(receipt, errors=DISCARD) if e["args"]["depth"] < 3]
    assert inner and not any(inner)  # every re-entrant withdraw failed
    assert market.chain.call(thief.functions.received()) == ETHER
    assert h.ether_balance() == house_before - ETHER
    assert h.balance_of(thief.address) == (0, 0)


def test_non_owner_cannot_open(market):
    h = market.house
    from exchange.chain.auction import OpenParams

    count = h.auction_count()
    err = _revert(h.open, OpenParams(market.devices[0], h.mechanism("english")), market.stranger)
    assert _named(err) == ("NotDeviceOwner", (market.devices[0], market.stranger.lower(), market.seller.lower()))
    assert h.auction_count() == count


def test_unregistered_mechanism_cannot_be_used(market):
    from exchange.chain.auction import OpenParams

    count = market.house.auction_count()
    err = _revert(market.house.open, OpenParams(market.devices[0], market.registry.address), market.seller)
    assert _named(err) == ("MechanismNotAllowed", (market.registry.address.lower(),))
    assert market.house.auction_count() == count


def test_nobody_settles_early_and_only_seller_delivers(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english")
    h.bid(aid, ETHER // 10, a)
    err = _revert(h.settle_batch, [aid], market.stranger)
    assert err.error == "SettlementTooEarly" and err.error_args == (aid, market.end_of(aid))
    market.at(market.end_of(aid))
    h.settle_batch([aid], market.stranger)  # anyone may settle once closed
    for who in (market.stranger, a):
        assert _named(_revert(h.deliver_key, aid, b"x", who)) == ("NotSeller", (aid, who.lower()))
    assert _named(_revert(h.reclaim, aid, market.stranger)) == ("NotWinner", (aid, market.stranger.lower()))
    assert h.auction(aid).state == "awaiting_key"


def test_nobody_withdraws_others_funds(market):
    h, a = market.house, market.bidders[0]
    err = _revert(h.withdraw, ETHER, market.stranger)
    assert err.error == "InsufficientFreeBalance" and err.error_args == (0, ETHER)
    assert h.balance_of(a).free == 100 * ETHER


def test_copied_commitment_cannot_be_revealed_by_another_bidder(market):
    h, (a, b) = market.house, market.bidders[:2]
    (aid,) = market.open("sealed-second-price")
    (sa,) = h.seal_bids(a, [aid], [ETHER // 10])
    h.commit_batch([sa], a, strict=True)
    copied, _ = h.commit_of(aid, a)
    market.chain.transact(h.contract.functions.commitBatch([aid], [copied], [ETHER], True), sender=b)
    market.at(market.end_of(aid))
    err = _revert(h.reveal_batch, [sa], b, strict=True)
    assert err.error == "BidRejected" and err.reason == "bad_reveal"
    h.reveal_batch([sa], a, strict=True)
    market.at(market.close_at(aid))
    h.settle_batch([aid])
    assert h.auction(aid).first == a
    seller, fees = h.balance_of(market.seller).free, h.balance_of(h.fee()[1]).free
    h.forfeit_unrevealed(aid, [b], market.stranger)  # documented rule: unrevealed deposit -> fee account
    assert h.balance_of(h.fee()[1]).free == fees + ETHER and h.balance_of(b).locked == 0
    assert h.balance_of(market.seller).free == seller


@pytest.mark.parametrize("offset, accepted", [(-1, True), (0, False), (1, False)])
def test_english_bid_time_boundary(market, offset, accepted):
    """Bids are accepted while now < end; at end and after, they are skipped as closed."""
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english")
    market.at(market.end_of(aid) + offset)
    _, skipped = h.bid_batch([aid], [ETHER // 10], a)
    assert skipped == ({} if accepted else {aid: "closed"})


@pytest.mark.parametrize("offset, settles", [(-1, False), (0, True), (1, True)])
def test_settlement_time_boundary(market, offset, settles):
    """Settlement is possible from the bidding end on (end inclusive)."""
    h = market.house
    (aid,) = market.open("english")
    market.at(market.end_of(aid) + offset)
    if settles:
        h.settle_batch([aid])
        assert h.auction(aid).state == "unsold"
    else:
        assert _named(_revert(h.settle_batch, [aid])) == ("SettlementTooEarly", (aid, market.end_of(aid)))
        assert h.auction(aid).state == "open"


@pytest.mark.parametrize("offset, phase", [(-1, "commit"), (0, "reveal"), (1, "reveal")])
def test_sealed_commit_reveal_boundary(market, offset, phase):
    """Commits while now < end; reveals from end (inclusive) until end + window (exclusive)."""
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("sealed-second-price", window=600)
    (sa,) = h.seal_bids(a, [aid], [ETHER // 10])
    if phase == "reveal":
        h.commit_batch([sa], a, strict=True)
    market.at(market.end_of(aid) + offset)
    if phase == "commit":
        _, skipped = h.commit_batch([sa], a)
        assert skipped == {}
    else:
        _, skipped = h.reveal_batch([sa], a)
        assert skipped == {}


def test_reveal_after_window_is_closed(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("sealed-second-price", window=600)
    (sa,) = h.seal_bids(a, [aid], [ETHER // 10])
    h.commit_batch([sa], a, strict=True)
    market.at(market.end_of(aid) + 600)
    _, skipped = h.reveal_batch([sa], a)
    assert skipped == {aid: "closed"}


def test_anti_sniping_extends_bidding_end(market):
    h, (a, b) = market.house, market.bidders[:2]
    (aid,) = market.open("english", window=300)
    end = market.end_of(aid)
    market.at(end - 10)
    h.bid(aid, ETHER // 10, a)
    assert market.end_of(aid) == end - 10 + 300
    market.at(end + 5)
    h.bid(aid, ETHER // 5, b)  # still open thanks to the extension
    assert h.auction(aid).first == b
