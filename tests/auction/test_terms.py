"""Issue 12 case 8: the terms a bidder sees are the terms that apply.

The protocol fee is fixed per auction when it opens (governance changes apply to later
auctions only), the delivery window is capped at 7 days, and the bond is fixed at opening.
"""

from __future__ import annotations

import pytest

from exchange.errors import ContractRevert

from .conftest import ETHER

DAY = 86_400
MAX_DELIVERY = 7 * DAY


def _revert(fn, *args, **kw) -> ContractRevert:
    with pytest.raises(ContractRevert) as err:
        fn(*args, **kw)
    return err.value


def _sold(market, price: int, **terms) -> int:
    (aid,) = market.open("english", **terms)
    market.place("english", aid, [(market.bidders[0], price)])
    market.house.settle_batch([aid])
    return aid


@pytest.mark.parametrize(("at_open", "later"), [(0, 1_000), (250, 0), (250, 1_000)])
def test_fee_raised_or_lowered_after_opening_does_not_change_the_sale(market, at_open, later):
    h, gov, price = market.house, market.chain.deployer, ETHER // 10
    fee_account = market.bidders[3]
    h.set_fee(at_open, fee_account, sender=gov)
    aid = _sold(market, price)
    h.set_fee(later, fee_account, sender=gov)  # governance moves after settlement
    seller_before, fee_before = h.balance_of(market.seller).free, h.balance_of(fee_account).free
    h.deliver_key(aid, b"\x01" * 64, market.seller)
    fee = price * at_open // 10_000
    assert h.balance_of(market.seller).free - seller_before == price - fee
    assert h.balance_of(fee_account).free - fee_before == fee
    assert h.auction(aid).fee_bps == at_open


def test_fee_changed_while_bidding_runs_applies_to_later_auctions_only(market):
    h, gov = market.house, market.chain.deployer
    (early,) = market.open("english")
    h.set_fee(500, gov, sender=gov)
    (late,) = market.open("english")
    assert (h.auction(early).fee_bps, h.auction(late).fee_bps) == (0, 500)
    (opened_early, opened_late) = [e.args["feeBps"] for e in h.events(names={"AuctionOpened"})][-2:]
    assert (opened_early, opened_late) == (0, 500)


@pytest.mark.parametrize("window", [MAX_DELIVERY + 1, 30 * DAY, 3650 * DAY])
def test_delivery_window_beyond_seven_days_is_refused(market, window):
    before = market.house.auction_count()
    err = _revert(market.open, "english", delivery_window=window)
    assert (err.error, err.error_args) == ("PeriodOutOfRange", (window, MAX_DELIVERY))
    assert market.house.auction_count() == before


def test_seven_day_delivery_window_frees_the_winner_a_week_after_settlement(market):
    h, a = market.house, market.bidders[0]
    aid = _sold(market, ETHER // 10, delivery_window=MAX_DELIVERY)
    settled = h.auction(aid)
    assert settled.time - market.now() <= MAX_DELIVERY
    market.at(settled.time)
    h.reclaim(aid, a)
    assert h.auction(aid).state == "reclaimed"
