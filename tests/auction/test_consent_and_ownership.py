"""Issue 12 case 6: auctions follow consent and ownership.

Check-out cancels every running auction of the device with full refunds (nothing stays locked);
a transfer is refused while an auction of the device runs (see docs/auction.md); only the
registry may call the house's hooks.
"""

from __future__ import annotations

import pytest

from exchange.chain.vocabulary import SkipReason, State
from exchange.errors import ContractRevert

from .conftest import ETHER


def _revert(fn, *args, **kw) -> ContractRevert:
    with pytest.raises(ContractRevert) as err:
        fn(*args, **kw)
    return err.value


def _free_locked(market, who):
    return tuple(market.house.balance_of(who))


@pytest.mark.parametrize("bond_bps", [0, 5_000])
def test_check_out_cancels_running_english_auction_and_refunds_every_bond(market, bond_bps):
    h, (a, b) = market.house, market.bidders[:2]
    before = {w: _free_locked(market, w) for w in (a, b)}
    (aid,) = market.open("english", bond_bps=bond_bps)
    h.bid(aid, ETHER // 10, a)
    h.bid(aid, ETHER // 5, b)
    device = h.auction(aid).device_id
    market.registry.check_out(device, sender=market.seller)
    assert h.auction(aid).state == "cancelled"
    assert {w: _free_locked(market, w) for w in (a, b)} == before  # full refunds, nothing locked
    err = _revert(h.bid, aid, ETHER // 2, a)
    assert (err.error, err.error_args) == ("BidRejected", (aid, SkipReason.NOT_OPEN.code))
    market.at(market.end_of(aid) + 1)
    h.settle_batch([aid])  # a cancelled auction is skipped, never sold
    assert h.auction(aid).state == "cancelled"
    names = [e.name for e in h.events(names={"AuctionCancelled"})]
    assert names == ["AuctionCancelled"]
    assert h.ether_balance() == market.held()


def test_check_out_after_settlement_refunds_the_winner_and_blocks_delivery(market):
    h, a = market.house, market.bidders[0]
    free_before = h.balance_of(a).free
    (aid,) = market.open("english")
    market.place("english", aid, [(a, ETHER // 10)])
    h.settle_batch([aid])
    assert h.auction(aid).state == "awaiting_key"
    market.registry.check_out(h.auction(aid).device_id, sender=market.seller)
    assert h.auction(aid).state == "cancelled"
    assert h.balance_of(a) == (free_before, 0)
    err = _revert(h.deliver_key, aid, b"\x01" * 64, market.seller)
    assert err.error == "WrongState"
    assert h.balance_of(market.seller).free == 0  # the seller was paid nothing
    (refund,) = h.events(names={"PaymentRefunded"})
    assert refund.args["winner"].lower() == a.lower() and refund.args["amount"] == ETHER // 10
    assert h.ether_balance() == market.held()


def test_check_out_of_sealed_auction_returns_commitments_not_to_the_seller(market):
    h, (a, b) = market.house, market.bidders[:2]
    before = {w: _free_locked(market, w) for w in (a, b)}
    (aid,) = market.open("sealed-second-price")
    for who, amount in ((a, ETHER // 10), (b, ETHER // 5)):
        (sb,) = h.seal_bids(who, [aid], [amount])
        h.commit_batch([sb], who, strict=True)
    market.registry.check_out(h.auction(aid).device_id, sender=market.seller)
    assert h.auction(aid).state == "cancelled"
    market.at(market.close_at(aid) + 1)
    err = _revert(h.forfeit_unrevealed, aid, [a, b], sender=market.stranger)  # no forfeit once cancelled
    assert (err.error, err.error_args) == ("WrongState", (aid, State.CANCELLED.code))
    assert h.balance_of(market.seller).free == 0
    h.release_commitments(aid, [a, b, market.stranger], sender=market.stranger)  # anyone may
    assert {w: _free_locked(market, w) for w in (a, b)} == before
    assert [e.args["deposit"] for e in h.events(names={"CommitmentReleased"})] == [ETHER // 10, ETHER // 5]
    assert h.ether_balance() == market.held()


def test_release_commitments_refuses_a_running_auction(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("sealed-second-price")
    (sb,) = h.seal_bids(a, [aid], [ETHER // 10])
    h.commit_batch([sb], a, strict=True)
    err = _revert(h.release_commitments, aid, [a], sender=a)
    assert (err.error, err.error_args) == ("WrongState", (aid, State.OPEN.code))
    assert h.commit_of(aid, a)[1] == sb.deposit


def test_transfer_is_refused_while_an_auction_of_the_device_runs(market):
    h, a, new_owner = market.house, market.bidders[0], market.stranger
    (aid,) = market.open("english")
    device = h.auction(aid).device_id
    h.bid(aid, ETHER // 10, a)
    err = _revert(market.registry.transfer, device, new_owner, sender=market.seller)
    assert (err.error, err.error_args) == ("AuctionRunning", (device, aid, State.OPEN.code))
    market.at(market.end_of(aid))
    h.settle_batch([aid])
    err = _revert(market.registry.transfer, device, new_owner, sender=market.seller)
    assert (err.error, err.error_args) == ("AuctionRunning", (device, aid, State.AWAITING_KEY.code))
    assert market.registry.owner_of(device).lower() == market.seller.lower()  # nothing moved
    h.deliver_key(aid, b"\x01" * 64, market.seller)  # the seller who opened it delivers and is paid
    market.registry.transfer(device, new_owner, sender=market.seller)
    assert market.registry.owner_of(device).lower() == new_owner.lower()
    err = _revert(h.open, _params(market, device), market.seller)
    assert err.error == "NotDeviceOwner"


def test_transfer_after_a_missed_delivery_leaves_the_refund_to_the_winner(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english", delivery_window=3600)
    device = h.auction(aid).device_id
    market.place("english", aid, [(a, ETHER // 10)])
    h.settle_batch([aid])
    market.at(h.auction(aid).time)  # the deadline passed: the seller can no longer deliver
    market.registry.transfer(device, market.stranger, sender=market.seller)
    h.reclaim(aid, a)
    assert h.auction(aid).state == "reclaimed"


@pytest.mark.parametrize("hook", ["onCheckOut", "onTransfer"])
def test_only_the_registry_calls_the_house_hooks(market, hook):
    h = market.house
    (aid,) = market.open("english")
    device = h.auction(aid).device_id
    fn = (h.contract.functions.onCheckOut(device) if hook == "onCheckOut"
          else h.contract.functions.onTransfer(device, market.seller, market.stranger))
    err = _revert(market.chain.transact, fn, sender=market.stranger)
    assert (err.error, tuple(x.lower() for x in err.error_args)) == ("NotRegistry", (market.stranger.lower(),))
    assert h.auction(aid).state == "open"


def _params(market, device):
    from exchange.chain.auction import OpenParams

    return OpenParams(device, market.house.mechanism("english"), reserve=ETHER // 100, bidding_period=3600)
