"""Security review edge cases: zero reserves, period bounds, batches with repeats, self-raises."""

from __future__ import annotations

import pytest

from exchange.chain.auction import OpenParams
from exchange.errors import ContractRevert

from .conftest import ETHER

UINT40_MAX = 2**40 - 1
MAX_PERIOD = 3650 * 86400  # AuctionHouse.MAX_PERIOD
MAX_DELIVERY = 7 * 86400  # AuctionHouse.MAX_DELIVERY: a buyer's payment is never locked longer (issue 12 case 8)


def _revert(fn, *args, **kw) -> ContractRevert:
    with pytest.raises(ContractRevert) as err:
        fn(*args, **kw)
    return err.value


# ---- a zero reserve must not make a sealed auction unsettleable ----

def test_sealed_reserve_zero_single_bid_settles_at_one_wei(market):
    """Vickrey with reserve 0 and one reveal prices the sale at 0, which the house refused as a
    misbehaving mechanism: settlement reverted forever and the winner's deposit stayed locked."""
    h, a = market.house, market.bidders[0]
    before = h.balance_of(a)
    (aid,) = market.open("sealed-second-price", reserve=0)
    market.place("sealed-second-price", aid, [(a, ETHER)])
    h.settle_batch([aid])
    info = h.auction(aid)
    assert (info.state, info.first, info.first_amount, info.reserve) == ("awaiting_key", a, 1, 0)
    assert h.balance_of(a) == (before.free - 1, 0)
    assert h.ether_balance() == market.held()


def test_sealed_reserve_zero_partial_bond_default_falls_back_to_runner_up(market):
    """With a bond < 100% a defaulting winner re-prices the runner-up (no bid dropped out: at the reserve); 0 used
    to revert the settlement, so a winner could lock its rival's bond (and the sale) for good."""
    h, (a, b) = market.house, market.bidders[:2]
    (aid,) = market.open("sealed-second-price", reserve=0, bond_bps=2000)
    market.place("sealed-second-price", aid, [(b, 20 * ETHER), (a, 50 * ETHER)])
    h.withdraw(h.balance_of(a).free, a)  # a keeps only its 10 ether bond: cannot pay the 20 ether price
    b_before = h.balance_of(b)
    h.settle_batch([aid])
    info = h.auction(aid)
    assert (info.state, info.first, info.first_amount) == ("awaiting_key", b, 1)
    assert h.balance_of(a) == (0, 0)
    assert h.balance_of(b) == (b_before.free + 4 * ETHER - 1, 0)
    assert h.ether_balance() == market.held()


def test_english_reserve_zero_still_sells_at_the_bid(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english", reserve=0)
    market.place("english", aid, [(a, 7)])
    h.settle_batch([aid])
    assert (h.auction(aid).first, h.auction(aid).first_amount) == (a, 7)


# ---- uint40 times: a period that overflows later must be refused at opening ----

@pytest.mark.parametrize("field", ["delivery_window", "access_period", "bidding_period"])
def test_period_beyond_max_is_refused_at_opening(market, field):
    """`now + deliveryWindow` (at settlement) or `now + accessPeriod` (at delivery) in uint40
    overflowed for a huge period: settlement panicked forever with the bids locked, or the seller
    could never deliver. Opening now refuses any period above MAX_PERIOD with a custom error."""
    h = market.house
    cap = MAX_DELIVERY if field == "delivery_window" else MAX_PERIOD
    for value in (UINT40_MAX, MAX_PERIOD + 1, cap + 1):
        params = OpenParams(market.devices[0], h.mechanism("english"), reserve=1, **{field: value})
        err = _revert(h.open, params, market.seller)
        assert (err.error, err.error_args) == ("PeriodOutOfRange", (value, cap))
    assert h.auction_count() == 0


def test_longest_periods_still_settle_deliver_and_reclaim(market):
    h, (a, b) = market.house, market.bidders[:2]
    ids = market.open("english", n=2, bidding_period=MAX_PERIOD, access_period=MAX_PERIOD, delivery_window=MAX_DELIVERY)
    for aid in ids:
        h.bid(aid, ETHER, a)
    market.at(market.end_of(ids[1]))
    h.settle_batch(ids, b)
    deadline = h.auction(ids[0]).time
    receipt = h.deliver_key(ids[0], b"k", market.seller)
    ts = market.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert h.access_until(ids[0]) == ts + MAX_PERIOD
    market.at(deadline + 1)
    h.reclaim(ids[1], a)
    assert h.auction(ids[1]).state == "reclaimed"
    assert h.ether_balance() == market.held()


# ---- batches with repeats, empty batches ----

def test_same_auction_twice_in_one_bid_batch_locks_only_the_standing_bid(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english", increment=ETHER // 100)
    before = h.balance_of(a)
    _, skipped = h.bid_batch([aid, aid, aid], [ETHER, ETHER, 2 * ETHER], a)
    assert skipped == {aid: "below_price"}  # the repeated equal bid; the raise stands
    assert h.balance_of(a) == (before.free - 2 * ETHER, 2 * ETHER)
    assert h.ether_balance() == market.held()


def test_empty_batches_and_repeated_settlement_or_forfeit_are_harmless(market):
    h, (a, b) = market.house, market.bidders[:2]
    count = h.auction_count()
    h.bid_batch([], [], a)
    h.settle_batch([])
    assert h.auction_count() == count
    (aid,) = market.open("sealed-second-price", window=600)
    (sb,) = h.seal_bids(b, [aid], [ETHER])
    h.commit_batch([sb], b, strict=True)
    market.at(market.close_at(aid))
    h.settle_batch([aid, aid])
    fees = h.balance_of(h.fee()[1]).free
    h.forfeit_unrevealed(aid, [b, b, a], market.stranger)  # b twice, a never committed
    assert h.balance_of(h.fee()[1]).free == fees + ETHER
    assert h.balance_of(b).locked == 0
    assert h.ether_balance() == market.held()


# ---- partial bond: a bidder that raises its own bid stands first and second ----

def test_partial_bond_self_raise_then_default_falls_back_to_own_lower_bid(market):
    """Pinned: with a bond < 100% a bidder that outbids itself holds both bonds; defaulting on
    the top bid forfeits that bond and the house sells at the bidder's own lower bid."""
    h, a = market.house, market.bidders[0]
    (aid,) = market.open("english", bond_bps=2000, increment=ETHER)
    h.bid(aid, 50 * ETHER, a)
    h.bid(aid, 90 * ETHER, a)
    assert h.balance_of(a).locked == 10 * ETHER + 18 * ETHER
    h.withdraw(h.balance_of(a).free - 40 * ETHER, a)  # 40 free + 10 bond pays 50; + 18 cannot pay 90
    seller = h.balance_of(market.seller).free
    market.at(market.end_of(aid))
    h.settle_batch([aid])
    assert (h.auction(aid).first, h.auction(aid).first_amount) == (a, 50 * ETHER)
    assert h.balance_of(market.seller).free == seller + 18 * ETHER
    assert h.balance_of(a) == (0, 0)
    assert h.ether_balance() == market.held()


# ---- pinned: sealed commitments bind the auction; governance calls are governance-only ----

def test_commitment_sealed_for_another_auction_cannot_be_opened_here(market):
    h, a = market.house, market.bidders[0]
    x, y = market.open("sealed-second-price", n=2, window=600)
    (for_x,) = h.seal_bids(a, [x], [ETHER])
    wrong = h.commitment(a, x, ETHER, for_x.salt)
    market.chain.transact(h.contract.functions.commitBatch([y], [wrong], [ETHER], True), sender=a)
    market.at(market.end_of(y))
    _, skipped = h.reveal_batch([type(for_x)(y, ETHER, for_x.salt, ETHER)], a)
    assert skipped == {y: "bad_reveal"} and h.commit_of(y, a)[1] == ETHER


def test_only_governance_registers_mechanisms_and_sets_fees(market):
    h, s = market.house, market.stranger
    mech, fee = h.mechanism("english"), h.fee()
    calls = [h.contract.functions.registerMechanism(market.registry.address), h.contract.functions.unregisterMechanism(mech),
             h.contract.functions.setFee(1000, s), h.contract.functions.transferGovernance(s)]
    for fn in calls:
        err = _revert(h._tx, fn, s)
        assert (err.error, tuple(x.lower() for x in err.error_args)) == ("NotGovernance", (s.lower(),))
    assert h.is_mechanism(mech) and not h.is_mechanism(market.registry.address)
    assert h.fee() == fee
    assert h._call(h.contract.functions.governance()).lower() != s.lower()
