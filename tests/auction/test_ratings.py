"""Reputation that costs real money to fake (issue 12, case 5).

A rating weighs the protocol fee its purchase paid, and every rated purchase pays at least the
minimum rating fee (0.001 ETH) to the protocol fee account: a rater whose purchase paid less tops
the fee up from its free balance when it rates. A seller that buys its own device from a second
account gets the price back, but not the fee: ten fake five-star ratings cost at least 0.01 ETH
and weigh exactly what ten honest purchases paying that fee weigh.
"""

from __future__ import annotations

import pytest

from exchange.chain.auction import OpenParams
from exchange.errors import ContractRevert

from .conftest import ETHER

MIN_RATING_FEE = ETHER // 1000  # AuctionHouse.MIN_RATING_FEE


def total(market, *accounts) -> int:
    return sum(b.free + b.locked for b in map(market.house.balance_of, accounts))


def sell_to(market, device: bytes, buyer: str, amount: int, reserve: int = 0) -> int:
    """One English auction of ``device`` won by ``buyer`` at ``amount`` and delivered."""
    h = market.house
    (aid,) = h.open_batch([OpenParams(device, h.mechanism("english"), reserve=reserve, bidding_period=600)],
                          market.seller)
    h.bid(aid, amount, buyer)
    market.at(max(market.end_of(aid), market.now() + 1))
    h.settle_batch([aid])
    h.deliver_key(aid, b"\x01" * 64, market.seller)
    return aid


def test_wash_traded_five_star_ratings_cost_the_minimum_rating_fee_each(market):
    """The reported case: the seller's second account buys at 1 wei (fee 0) and rates 5, five times."""
    h, seller, puppet = market.house, market.seller, market.bidders[0]
    _, fee_account = h.fee()
    device = market.device()
    pair_before, sink_before = total(market, seller, puppet), h.balance_of(fee_account).free
    for _ in range(5):
        aid = sell_to(market, device, puppet, 1)
        h.rate(aid, 5, puppet)
    cost = pair_before - total(market, seller, puppet)
    assert cost >= 5 * MIN_RATING_FEE, f"five fake five-star ratings cost the pair {cost} wei"
    assert h.balance_of(fee_account).free - sink_before == cost == 5 * MIN_RATING_FEE
    r = h.rating_of(device)
    assert (r.count, r.weight, r.weighted_sum, r.average) == (5, 5 * MIN_RATING_FEE, 25 * MIN_RATING_FEE, 5.0)
    rated = h.events(names={"DeviceRated"})
    assert [e.args["weight"] for e in rated] == [MIN_RATING_FEE] * 5
    assert h.ether_balance() == market.held()


def test_a_rating_weighs_the_protocol_fee_its_purchase_paid(market):
    """One honest 1-star purchase that paid a 0.1 ETH fee outweighs five fake 5-star ratings at the minimum."""
    h, gov, buyer, puppet = market.house, market.chain.deployer, market.bidders[1], market.bidders[0]
    _, fee_account = h.fee()
    h.set_fee(1000, fee_account, gov)  # 10%, fixed in each auction opened from now on
    device = market.device()
    honest = sell_to(market, device, buyer, ETHER)
    assert h.rating_cost(honest) == (ETHER // 10, 0)  # the fee paid covers the minimum: no top-up
    before = h.balance_of(buyer)
    h.rate(honest, 1, buyer)
    assert h.balance_of(buyer) == before
    for _ in range(5):
        aid = sell_to(market, device, puppet, 1)
        assert h.rating_cost(aid) == (0, MIN_RATING_FEE)
        h.rate(aid, 5, puppet)
    r = h.rating_of(device)
    assert (r.count, r.weight) == (6, ETHER // 10 + 5 * MIN_RATING_FEE)
    assert r.average == pytest.approx((1 * ETHER // 10 + 25 * MIN_RATING_FEE) / (ETHER // 10 + 5 * MIN_RATING_FEE))
    assert r.average < 1.2
    assert h.ether_balance() == market.held()


def test_a_rating_whose_top_up_the_rater_cannot_pay_is_refused_and_nothing_moves(market):
    h, puppet = market.house, market.bidders[0]
    aid = sell_to(market, market.device(), puppet, 1)
    h.withdraw(h.balance_of(puppet).free - MIN_RATING_FEE + 1, puppet)
    before, held = h.balance_of(puppet), market.held()
    with pytest.raises(ContractRevert) as err:
        h.rate(aid, 5, puppet)
    assert (err.value.error, err.value.error_args) == ("InsufficientFreeBalance", (MIN_RATING_FEE - 1, MIN_RATING_FEE))
    assert h.balance_of(puppet) == before and market.held() == held
    assert h.rating_of(h.auction(aid).device_id).count == 0
    assert h.auction(aid).state == "delivered"
