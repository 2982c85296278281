"""plan_bids: pure planning properties (no chain)."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from exchange.bidding import BidPlanError, DeviceOffer, plan_bids, sealed_deposit

offers = st.lists(st.builds(DeviceOffer, device_id=st.text("abcdef", min_size=1, max_size=4),
                            auction_id=st.integers(1, 400), min_bid=st.integers(1, 1000), sealed=st.booleans()),
                  max_size=300)


@settings(max_examples=60, deadline=None)
@given(offers, st.integers(1, 1200), st.integers(0, 100_000), st.integers(1, 120))
def test_plan_respects_max_price_budget_batch_size_and_min_bid(devs, max_price, budget, size):
    plan = plan_bids(devs, max_price, budget, batch_size=size)
    bids = plan.bids
    assert plan.total <= budget
    assert all(len(b.bids) <= size and all(x.sealed == b.sealed for x in b.bids) for b in plan.batches)
    assert len({b.auction_id for b in bids}) == len(bids)
    by_auction = {}
    for d in devs:
        by_auction.setdefault(d.auction_id, d)
    for b in bids:
        d = by_auction[b.auction_id]
        assert d.min_bid <= b.amount <= max_price
        assert b.amount == (max_price if d.sealed else d.min_bid)
    planned = {b.device_id for b in bids}
    assert all(d.device_id in planned or d.device_id in plan.skipped for d in devs)


def test_cheapest_first_covers_most_devices_and_reports_why_others_are_skipped():
    devs = [{"device_id": "a", "auction_id": 1, "min_bid": 50}, {"device_id": "b", "auction_id": 2, "min_bid": 10},
            {"device_id": "c", "auction_id": 3, "min_bid": 500}, {"device_id": "d", "auction_id": 4, "min_bid": 30}]
    plan = plan_bids(devs, max_price_per_device=100, budget=45, batch_size=1)
    assert [(b.auction_ids, b.amounts) for b in plan.batches] == [([2], [10]), ([4], [30])]
    assert plan.skipped == {"c": "above max price", "a": "over budget"}


@pytest.mark.parametrize(("args", "message"), [
    (([], 0, 10), "max_price_per_device must be a positive integer"),
    (([], -1, 10), "max_price_per_device must be a positive integer"),
    (([], 10, -5), "budget must be a non-negative integer"),
    (([], 10, 10, 0), "batch_size must be a positive integer"),
    (([{"device_id": "x"}], 10, 10), "device entry needs device_id, auction_id, min_bid"),
])
def test_bad_inputs_are_plan_errors(args, message):
    with pytest.raises(BidPlanError, match=message):
        plan_bids(*args)


def test_first_offer_of_an_auction_decides_even_when_skipped():
    devs = [{"device_id": "a", "auction_id": 5, "min_bid": 2000}, {"device_id": "b", "auction_id": 5, "min_bid": 10}]
    plan = plan_bids(devs, max_price_per_device=100, budget=1000)
    assert plan.bids == [] and plan.skipped == {"a": "above max price", "b": "duplicate auction"}


@pytest.mark.parametrize(("amount", "deposit"), [
    (1, 1), (3, 5), (11, 20), (20, 20), (21, 50), (69_999 * 10**12, 10**17), (10**17, 10**17),
    (2**88 - 1, 2**88 - 1),  # the largest bid: the bucket above it would not fit, the bid does
])
def test_sealed_deposit_is_the_next_1_2_5_step(amount, deposit):
    assert sealed_deposit(amount) == deposit


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**88 - 1))
def test_sealed_deposit_covers_the_bid_and_hides_it_within_a_bucket(amount):
    dep = sealed_deposit(amount)
    assert amount <= dep <= max(amount * 5 // 2, amount)
    assert sealed_deposit(dep) == dep  # every bid in (previous step, dep] shows the same deposit


def test_sealed_bids_are_planned_with_bucket_deposits_within_the_budget():
    devs = [DeviceOffer("a", 1, 10, sealed=True), DeviceOffer("b", 2, 10, sealed=False),
            DeviceOffer("c", 3, 10, sealed=True)]
    plan = plan_bids(devs, max_price_per_device=30, budget=110)
    sealed = [b for b in plan.bids if b.sealed]
    assert [(b.amount, b.deposit) for b in sealed] == [(30, 50), (30, 50)]
    assert [(b.amount, b.deposit) for b in plan.bids if not b.sealed] == [(10, 10)]
    assert plan.total == 110  # what is locked when every bid is placed: the deposits
    assert plan_bids(devs, max_price_per_device=30, budget=109).skipped == {"c": "over budget"}
