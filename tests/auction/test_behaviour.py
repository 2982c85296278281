"""One behaviour suite, run against every shipped mechanism."""

from __future__ import annotations

import pytest

from exchange.chain.auction import MIN_RATING_FEE
from exchange.chain.vocabulary import State
from exchange.errors import ContractRevert

from .conftest import ETHER, MECHANISMS


def expected_price(market, mech, bids, reserve):
    """What the winner pays, by the mechanism's declared traits: its own bid (first-priced), or
    the larger of the second bid and the reserve (second-priced)."""
    if market.second_priced(mech):
        return max(sorted(bids)[-2] if len(bids) > 1 else 0, reserve)
    return max(bids)


@pytest.fixture(params=MECHANISMS)
def mech(request):
    return request.param


def test_highest_bidder_wins_pays_mechanism_price_and_losers_are_released(market, mech):
    h, (a, b, c) = market.house, market.bidders[:3]
    before = {x: h.balance_of(x) for x in (a, b, c)}
    (aid,) = market.open(mech, increment=ETHER // 1000)
    bids = [(a, ETHER // 10), (b, ETHER // 5), (c, ETHER // 2)]
    market.place(mech, aid, bids)
    h.settle_batch([aid])
    info = h.auction(aid)
    price = expected_price(market, mech, [x for _, x in bids], ETHER // 100)
    assert (info.state, info.first, info.first_amount) == ("awaiting_key", c, price)
    assert h.balance_of(c).free == before[c].free - price and h.balance_of(c).locked == 0
    for x in (a, b):
        assert h.balance_of(x) == before[x]
    assert h.ether_balance() == market.held()


def test_delivery_credits_seller_records_access_and_winner_rates_once(market, mech):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open(mech, access_period=30 * 86400)
    market.place(mech, aid, [(a, ETHER // 10)])
    h.settle_batch([aid])
    (settled,) = [e for e in h.settlements() if e.args["auctionId"] == aid]
    price = settled.args["price"]
    assert settled.args["winner"] == a and settled.args["deliveryDeadline"] == h.auction(aid).time
    seller_before = h.balance_of(market.seller).free
    receipt = h.deliver_key(aid, b"\x01" * 120, market.seller)
    block_ts = market.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert h.access_until(aid) == block_ts + 30 * 86400
    assert h.balance_of(market.seller).free == seller_before + price
    free = h.balance_of(a).free
    h.rate(aid, 4, a)  # the fee is 0 here: the rater tops it up to the minimum rating fee
    assert h.balance_of(a).free == free - MIN_RATING_FEE
    assert h.rating_of(h.auction(aid).device_id) == (4 * MIN_RATING_FEE, MIN_RATING_FEE, 1)
    (rated,) = h.events(names={"DeviceRated"})
    assert rated.args == {"deviceId": h.auction(aid).device_id, "auctionId": aid, "rater": a, "score": 4,
                          "weight": MIN_RATING_FEE}
    with pytest.raises(ContractRevert) as err:
        h.rate(aid, 5, a)
    assert (err.value.error, err.value.error_args) == ("WrongState", (aid, State.RATED.code))
    assert h.rating_of(h.auction(aid).device_id) == (4 * MIN_RATING_FEE, MIN_RATING_FEE, 1)
    assert h.ether_balance() == market.held()


def test_missed_delivery_lets_winner_reclaim_full_payment(market, mech):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open(mech, delivery_window=600)
    before = h.balance_of(a)
    market.place(mech, aid, [(a, ETHER // 10)])
    h.settle_batch([aid])
    deadline = h.auction(aid).time
    with pytest.raises(ContractRevert) as err:
        h.reclaim(aid, a)
    assert (err.value.error, err.value.error_args) == ("DeliveryWindowOpen", (aid, deadline))
    market.at(deadline)
    with pytest.raises(ContractRevert) as err:
        h.deliver_key(aid, b"k", market.seller)
    assert (err.value.error, err.value.error_args) == ("DeliveryWindowClosed", (aid, deadline))
    assert h.auction(aid).state == "awaiting_key"
    h.reclaim(aid, a)
    assert h.balance_of(a) == before and h.auction(aid).state == "reclaimed"
    assert h.ether_balance() == market.held()


def test_auction_without_bids_closes_unsold(market, mech):
    h = market.house
    (aid,) = market.open(mech)
    market.at(market.close_at(aid))
    receipt = h.settle_batch([aid])
    assert h.auction(aid).state == "unsold"
    assert [e["args"]["auctionId"] for e in h.contract.events.AuctionUnsold().process_receipt(receipt)] == [aid]


def test_bid_below_reserve_does_not_stand(market, mech):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open(mech, reserve=ETHER)
    before = h.balance_of(a)
    if not market.sealed(mech):
        receipt, skipped = h.bid_batch([aid], [ETHER // 2], a)
        assert skipped == {aid: "below_reserve"}
    else:
        market.place(mech, aid, [(a, ETHER // 2)])
    market.at(max(market.close_at(aid), market.now() + 1))
    h.settle_batch([aid])
    assert h.auction(aid).state == "unsold" and h.balance_of(a) == before


def test_partial_bond_winner_that_cannot_pay_forfeits_bond_and_next_bidder_wins(market, mech):
    h, (a, b, c) = market.house, market.bidders[:3]
    (aid,) = market.open(mech, bond_bps=2000)  # 20% of a bid is locked
    c_before = h.balance_of(c)
    market.place(mech, aid, [(c, 30 * ETHER), (b, 40 * ETHER), (a, 50 * ETHER)])
    assert h.balance_of(a).locked == 10 * ETHER and h.balance_of(b).locked == 8 * ETHER
    h.withdraw(h.balance_of(a).free, a)  # a keeps only its bond: cannot pay the price
    seller_before = h.balance_of(market.seller).free
    b_before = h.balance_of(b)
    h.settle_batch([aid])
    info = h.auction(aid)
    # the fallback pays what it would have paid had the defaulter never bid: first-priced = its
    # own bid, second-priced (Vickrey) = the best bid below it (c's 30), never the reserve while c stood
    fallback_price = 30 * ETHER if market.second_priced(mech) else 40 * ETHER
    assert (info.first, info.first_amount, info.state) == (b, fallback_price, "awaiting_key")
    assert (h.balance_of(a).free, h.balance_of(a).locked) == (0, 0)
    assert h.balance_of(c) == c_before
    assert h.balance_of(market.seller).free == seller_before + 10 * ETHER
    assert h.balance_of(b).locked == 0
    assert h.balance_of(b).free == b_before.free + 8 * ETHER - fallback_price
    assert h.ether_balance() == market.held()


def test_batch_open_bid_settle_over_many_auctions(market, mech):
    h, (a, b) = market.house, market.bidders[:2]
    ids = market.open(mech, n=12)
    if not market.sealed(mech):
        h.bid_batch(ids, [ETHER // 10] * 12, a, strict=True)
        _, skipped = h.bid_batch(ids, [ETHER // 10] * 6 + [ETHER // 5] * 6, b)
        assert skipped == {i: "below_price" for i in ids[:6]}
    else:
        sa = h.seal_bids(a, ids, [ETHER // 10] * 12)
        sb = h.seal_bids(b, ids, [ETHER // 20] * 6 + [ETHER // 5] * 6)
        h.commit_batch(sa, a, strict=True)
        h.commit_batch(sb, b, strict=True)
        market.at(market.end_of(ids[0]))
        h.reveal_batch(sa, a, strict=True)
        h.reveal_batch(sb, b, strict=True)
    market.at(max(market.close_at(ids[-1]), market.now() + 1))
    h.settle_batch(ids)
    winners = [h.auction(i).first for i in ids]
    assert winners == [a] * 6 + [b] * 6
    h.settle_batch(ids)  # settling again is a no-op
    assert h.ether_balance() == market.held()


def test_partial_bond_runner_up_is_released_even_when_it_settles(market, mech):
    h, (a, b) = market.house, market.bidders[:2]
    (aid,) = market.open(mech, bond_bps=5000)
    b_before = h.balance_of(b)
    market.place(mech, aid, [(b, ETHER), (a, 2 * ETHER)])
    assert h.balance_of(b).locked == ETHER // 2  # the runner-up's bond backs a possible fallback
    h.settle_batch([aid], b)
    assert h.auction(aid).first == a
    assert h.balance_of(b) == b_before
    assert h.ether_balance() == market.held()
