"""The selling loop on eth-tester: open, settle, deliver exactly once (also across restarts), withdraw."""

from __future__ import annotations

import pytest

from device_agent.agent import DeviceAgent
from device_agent.house import HousePort
from device_agent.selling import Seller
from exchange.crypto import verify_token
from tests.agent.conftest import PASSWORD, Bidder, fund_embedded

BIDDING = 600
PERIOD = 7 * 86_400


@pytest.fixture
def market(deployed, make_agent):
    chain, manifest = deployed
    agent = make_agent("seller", "fridge", bidding_seconds=BIDDING, access_period_seconds=PERIOD,
                       reserve_price_wei=10**15, withdraw_every_seconds=1)
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    agent.enable()
    bidder = Bidder(chain, manifest, chain.accounts[3])
    bidder.deposit(10**18)
    return chain, manifest, agent, bidder


def restart(agent, chain, manifest) -> DeviceAgent:
    """A new process would do this: reload everything from the data dir."""
    agent.close()
    fresh = DeviceAgent(agent.data_dir, PASSWORD)
    fresh.attach_chain(chain, manifest)
    return fresh


def seller_of(agent, chain, manifest) -> Seller:
    return Seller(agent, HousePort.from_manifest(chain, manifest, agent))


def test_no_auction_is_opened_before_enable(deployed, make_agent):
    chain, manifest = deployed
    agent = make_agent("shy", "tv")
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    seller = seller_of(agent, chain, manifest)
    assert seller.tick()["opened"] is None
    assert seller.port.auctions_of(agent.device_id) == []


def test_restart_mid_auction_settles_and_delivers_exactly_once(market):
    chain, manifest, agent, bidder = market
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    assert aid is not None and seller.tick()["opened"] is None  # one auction per period
    bidder.bid(aid, 3 * 10**15)
    # The agent stops mid-auction; bidding ends while it is down.
    agent = restart(agent, chain, manifest)
    chain.time_travel(BIDDING + 5)
    seller = seller_of(agent, chain, manifest)
    seller.adopt_chain_auctions()
    done = seller.tick()
    assert done["settled"] == [aid] and done["delivered"] == [aid]
    for _ in range(2):  # and once more after another restart
        assert seller.tick()["delivered"] == []
        agent = restart(agent, chain, manifest)
        seller = seller_of(agent, chain, manifest)
    assert len(bidder.delivered_keys(aid)) == 1
    token = bidder.open_key(aid)
    claims = verify_token(token, agent.identity.ed25519_public, device_id=agent.device_id, now=agent.clock())
    assert claims.auction_id == aid and claims.buyer == bidder.account
    on_chain_until = bidder.house.access_until(aid)
    assert claims.not_after <= on_chain_until and claims.not_after - claims.not_before == PERIOD
    assert [t.auction_id for t in agent.state.tokens()] == [aid]


def test_crash_after_delivery_before_record_does_not_deliver_twice(market, monkeypatch):
    chain, manifest, agent, bidder = market
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    bidder.bid(aid, 2 * 10**15)
    chain.time_travel(BIDDING + 5)

    def crash(*_a, **_k):
        raise KeyboardInterrupt("power cut right after the delivery transaction")

    monkeypatch.setattr(agent.state, "mark_token", crash)
    with pytest.raises(KeyboardInterrupt):
        seller.tick()
    assert len(bidder.delivered_keys(aid)) == 1
    agent = restart(agent, chain, manifest)
    seller = seller_of(agent, chain, manifest)
    assert seller.tick()["delivered"] == []
    assert len(bidder.delivered_keys(aid)) == 1
    assert agent.state.auction(aid).status in ("delivered", "paid")
    assert agent.state.tokens()[0].delivered


def test_crash_after_opening_before_record_adopts_the_auction(market):
    chain, manifest, agent, _bidder = market
    port = HousePort.from_manifest(chain, manifest, agent)
    aid = port.open(agent.device_id, mechanism=0, reserve=10**15, increment=1, bidding_seconds=BIDDING,
                    access_period=PERIOD, delivery_window=86_400)  # the agent died before writing it down
    agent = restart(agent, chain, manifest)
    seller = seller_of(agent, chain, manifest)
    assert seller.adopt_chain_auctions() == 1
    assert seller.tick()["opened"] is None
    assert port.auctions_of(agent.device_id) == [aid]


def test_unsold_auction_is_recorded_and_the_next_one_opens(market):
    chain, manifest, agent, _bidder = market
    seller = seller_of(agent, chain, manifest)
    first = seller.tick()["opened"]
    chain.time_travel(BIDDING + 5)
    out = seller.tick()
    assert out["settled"] == [first]
    assert agent.state.auction(first).status == "no_sale"
    assert out["opened"] == first + 1


def test_proceeds_are_withdrawn_on_schedule(market):
    chain, manifest, agent, bidder = market
    cfg = agent.config
    cfg.withdraw_every_seconds = 3600
    agent.save_config(cfg)
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]  # the schedule starts now
    bidder.bid(aid, 4 * 10**15)
    chain.time_travel(BIDDING + 5)
    out = seller.tick()
    assert out["delivered"] == [aid] and out["withdrawn"] == 0  # credited at delivery, not due yet
    assert seller.port.withdrawable() == 4 * 10**15  # English: the winner pays its bid; no fee here
    before = chain.w3.eth.get_balance(agent.address)
    chain.time_travel(3600)
    assert seller.tick()["withdrawn"] == 4 * 10**15
    assert chain.w3.eth.get_balance(agent.address) > before
    assert seller.port.withdrawable() == 0
    assert agent.state.auction(aid).status == "paid"


def test_sealed_second_price_auction_settles_after_the_reveal_window(market):
    chain, manifest, agent, bidder = market
    cfg = agent.config
    cfg.mechanism = "sealed-second-price"
    agent.save_config(cfg)
    agent.sync_registration()
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    other = Bidder(chain, manifest, chain.accounts[4])
    other.deposit(10**18)
    silent = Bidder(chain, manifest, chain.accounts[6])  # commits and never reveals
    silent.deposit(10**18)
    bids = {}
    for who, amount in ((bidder, 5 * 10**15), (other, 3 * 10**15), (silent, 9 * 10**15)):
        bids[who] = who.house.seal_bids(who.account, [aid], [amount])
        who.house.commit_batch(bids[who], sender=who.account, strict=True)
    chain.time_travel(BIDDING + 5)
    assert seller.tick()["settled"] == []  # the reveal window is still open
    for who in (bidder, other):
        who.house.reveal_batch(bids[who], sender=who.account, strict=True)
    chain.time_travel(86_400)  # the default reveal window
    out = seller.tick()
    assert out["settled"] == [aid] and out["delivered"] == [aid]
    assert agent.state.auction(aid).price_wei == str(3 * 10**15)  # the second price
    claims = verify_token(bidder.open_key(aid), agent.identity.ed25519_public, device_id=agent.device_id,
                          now=agent.clock())
    assert claims.buyer == bidder.account
    forfeited = [e for e in bidder.house.events(names={"CommitmentForfeited"}) if e.args["auctionId"] == aid]
    # the default deposit of a 0.009 ETH bid is the next 1-2-5 step; it goes to the fee account
    assert [(e.args["bidder"], e.args["deposit"]) for e in forfeited] == [(silent.account, 10**16)]
    assert out["withdrawn"] == 3 * 10**15  # the price only: forfeits never go to the seller


def test_one_auction_that_keeps_failing_does_not_stop_the_others_being_delivered(market, monkeypatch):
    """An item whose chain read fails (here a stale local record the node cannot answer for) used
    to abort the whole pass: every later auction stayed undelivered, tick after tick."""
    from exchange.errors import ExchangeError

    chain, manifest, agent, bidder = market
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    bidder.bid(aid, 2 * 10**15)
    chain.time_travel(BIDDING + 5)
    stale = -1  # ordered before every real auction
    agent.state.save_auction(stale, opened_at=0, bidding_end=0, access_period=PERIOD, status="settled")
    real_info = seller.port.info
    calls = []

    def info(auction_id):
        if auction_id == stale:
            calls.append(auction_id)
            raise ExchangeError("the node cannot answer for this auction")
        return real_info(auction_id)

    monkeypatch.setattr(seller.port, "info", info)
    clock = [1000.0]
    seller.monotonic = lambda: clock[0]
    first = seller.tick()
    assert first["settled"] == [aid] and first["delivered"] == [aid]
    assert len(bidder.delivered_keys(aid)) == 1
    for _ in range(3):  # the failing item is backed off, not retried on every pass
        seller.tick()
    assert len(calls) == 1
    clock[0] += 1.5  # past the first backoff (1 s): retried once, then backed off 2 s
    seller.tick()
    seller.tick()
    assert len(calls) == 2
    clock[0] += 1.5  # 1.5 s of the 2 s
    seller.tick()
    assert len(calls) == 2
    clock[0] += 1.0
    seller.tick()
    assert len(calls) == 3
    assert agent.state.auction(stale).status == "settled"  # kept, retried later


def test_disable_cancels_the_running_auction_with_a_full_refund_and_nothing_is_delivered(market):
    """Issue 12 case 6: after ``disable`` the auction stops taking bids and the bidder is whole."""
    chain, manifest, agent, bidder = market
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    before = bidder.house.balance_of(bidder.account)
    bidder.bid(aid, 3 * 10**15)
    assert agent.disable()["action"] == "checked_out"
    assert bidder.house.auction(aid).state == "cancelled"
    assert bidder.house.balance_of(bidder.account) == before  # nothing locked
    chain.time_travel(BIDDING + 5)
    done = seller.tick()
    assert done["settled"] == [] and done["delivered"] == [] and done["opened"] is None
    assert bidder.delivered_keys(aid) == []


def test_disable_of_a_sealed_auction_hands_every_deposit_back(market):
    chain, manifest, agent, bidder = market
    cfg = agent.config
    cfg.mechanism = "sealed-second-price"
    agent.save_config(cfg)
    agent.sync_registration()
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    before = bidder.house.balance_of(bidder.account)
    bidder.house.commit_batch(bidder.house.seal_bids(bidder.account, [aid], [5 * 10**15]), sender=bidder.account,
                              strict=True)
    agent.disable()
    out = seller.tick()
    assert out["cancelled"] == [aid] and out["settled"] == [] and out["delivered"] == []
    assert bidder.house.balance_of(bidder.account) == before
    assert agent.state.auction(aid).status == "cancelled"


def test_agent_opens_english_auctions_with_an_anti_sniping_window(market):
    """Issue 12 case 8: a bid in the last minutes moves the end; the house's terms are fixed."""
    chain, manifest, agent, bidder = market
    seller = seller_of(agent, chain, manifest)
    aid = seller.tick()["opened"]
    a = bidder.house.auction(aid)
    assert a.window == agent.config.anti_snipe_window() == min(600, BIDDING // 6) > 0
    chain.time_travel(BIDDING - a.window // 2)
    bidder.bid(aid, 3 * 10**15)
    assert bidder.house.auction(aid).time > a.time  # the late bid extended the bidding


@pytest.mark.parametrize(("field", "value"), [("delivery_window_seconds", 7 * 86_400 + 1),
                                              ("anti_snipe_seconds", -1), ("anti_snipe_seconds", 2**24)])
def test_agent_refuses_terms_a_buyer_would_not_accept(make_agent, field, value):
    from device_agent.errors import AgentConfigError

    with pytest.raises(AgentConfigError, match=field):
        make_agent("greedy", "fridge", **{field: value})


@pytest.mark.parametrize(("bidding", "window"), [(3600, 600), (600, 100), (60, 10), (5, 0)])
def test_the_anti_sniping_window_is_at_most_a_sixth_of_the_bidding_time(bidding, window):
    """A 60 s demo auction must not stay open ten minutes after its first bid (it did: keys never came)."""
    from device_agent.config import AgentConfig

    assert AgentConfig(appliance="fridge", bidding_seconds=bidding).anti_snipe_window() == window
