"""A mechanism is one contract plus one deploy-plan step (issue 14): SealedFirstPrice was added
that way, with no edit to the clients, the device agent, the catalog or the shared suites, which
all list mechanisms from the deploy plan. It also runs through the shared behaviour suite
(tests/auction/test_behaviour.py is parametrized over the plan's mechanisms)."""

from __future__ import annotations

import pytest

from device_agent import config as agent_config
from exchange.chain import registry
from exchange.chain.artifacts import load_artifact
from exchange.chain.auction import AuctionHouseClient
from exchange.chain.deploy import DEPLOY_PLAN, mechanism_names, mechanism_steps
from exchange.chain.vocabulary import SkipReason, State
from frontend import catalog_adapter

from .conftest import ETHER

THIRD = "sealed-first-price"


def test_every_mechanism_list_is_the_deploy_plans():
    names = mechanism_names()
    assert THIRD in names and len(names) == len(set(names)) >= 3
    assert list(registry.MECHANISMS.items()) == list(enumerate(names))
    assert agent_config.MECHANISMS == tuple(names)
    assert sorted(catalog_adapter.MECHANISMS) == list(range(len(names)))
    assert [s.name for s in mechanism_steps()] == [s.name for s in DEPLOY_PLAN if s.mechanism]


def test_the_house_allows_each_planned_mechanism_under_the_name_its_contract_gives(market):
    client = AuctionHouseClient.from_manifest(market.chain, market.manifest)
    assert list(client.mechanisms) == mechanism_names()
    registered = [e.args["mechanism"] for e in client.events(names={"MechanismRegistered"})]
    assert registered == list(client.mechanisms.values())  # registered in plan order
    for name, address in client.mechanisms.items():
        assert client.is_mechanism(address)
        mech = market.chain.w3.eth.contract(address=address, abi=load_artifact("IAuctionMechanism")["abi"])
        assert mech.functions.name().call() == name


def test_an_agent_may_choose_the_new_mechanism_and_an_unknown_one_is_refused():
    assert agent_config.AgentConfig(appliance="fridge", mechanism=THIRD).validate().mechanism == THIRD
    with pytest.raises(agent_config.AgentConfigError, match=f"'dutch' is not one of .*{THIRD}"):
        agent_config.AgentConfig(appliance="fridge", mechanism="dutch").validate()


def test_sealed_first_price_winner_pays_its_own_bid_through_house_and_client(market):
    h, (a, b, c) = market.house, market.bidders[:3]
    assert h.traits(THIRD) == (True, False)
    before = {x: h.balance_of(x) for x in (a, b, c)}
    (aid,) = market.open(THIRD, reserve=ETHER // 100)
    assert h.auction(aid).sealed_bids
    # An open bid on a sealed auction is skipped with the house's reason.
    _, skipped = h.bid_batch([aid], [ETHER], a)
    assert skipped == {aid: SkipReason.WRONG_KIND}
    market.place(THIRD, aid, [(a, ETHER // 10), (b, ETHER // 2), (c, ETHER // 5)])
    h.settle_batch([aid])
    info = h.auction(aid)
    assert (info.state, info.first, info.first_amount) == (State.AWAITING_KEY, b, ETHER // 2)
    assert h.balance_of(b).free == before[b].free - ETHER // 2 and h.balance_of(b).locked == 0
    for x in (a, c):
        assert h.balance_of(x) == before[x]
    h.deliver_key(aid, b"\x02" * 64, market.seller)
    assert h.auction(aid).state == State.DELIVERED
    assert h.ether_balance() == market.held()


def test_sealed_first_price_refuses_a_reveal_below_the_reserve(market):
    h, a = market.house, market.bidders[0]
    (aid,) = market.open(THIRD, reserve=ETHER)
    before = h.balance_of(a)
    market.place(THIRD, aid, [(a, ETHER // 2)])
    (revealed,) = h.events(names={"BidRevealed"})
    assert revealed.args["ranked"] is False
    h.settle_batch([aid])
    assert h.auction(aid).state == State.UNSOLD and h.balance_of(a) == before
