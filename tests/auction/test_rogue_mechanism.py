"""A mechanism is a pure rule the house does not trust: a rogue one cannot move or invent money.

contracts/test/RogueMechanisms.sol holds two registered-by-governance rogues: one ranks a bidder
who never bid into first place, one prices the winner above its own bid. The house checks both
answers and refuses with MechanismMisbehaved(mechanism); nothing moves.
"""

from __future__ import annotations

import pytest

from exchange.chain.artifacts import load_artifact
from exchange.chain.auction import OpenParams
from exchange.errors import ContractRevert

from .conftest import ETHER


def deploy_rogue(market, name: str) -> str:
    art = load_artifact(name)
    factory = market.chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    address = market.chain.transact(factory.constructor())["contractAddress"]
    market.house.register_mechanism(address, market.chain.deployer)
    return address


def refused(fn, *args) -> ContractRevert:
    with pytest.raises(ContractRevert) as err:
        fn(*args)
    return err.value


def test_a_mechanism_ranking_a_stranger_first_is_refused_and_nothing_moves(market):
    h, alice = market.house, market.bidders[0]
    rogue = deploy_rogue(market, "RogueRanker")
    (aid,) = h.open_batch([OpenParams(market.device(), rogue, reserve=ETHER // 100)], market.seller)
    before, held = h.balance_of(alice), market.held()
    err = refused(h.bid, aid, ETHER // 10, alice)
    assert (err.error, tuple(a.lower() for a in err.error_args)) == ("MechanismMisbehaved", (rogue.lower(),))
    assert h.balance_of(alice) == before and market.held() == held
    assert h.auction(aid).first is None


def test_a_mechanism_pricing_above_the_bid_cannot_settle_and_takes_nothing(market):
    h, alice = market.house, market.bidders[0]
    rogue = deploy_rogue(market, "RoguePricer")
    (aid,) = h.open_batch([OpenParams(market.device(), rogue, reserve=ETHER // 100)], market.seller)
    h.bid(aid, ETHER // 10, alice)
    market.at(max(market.end_of(aid), market.now() + 1))
    before, held = h.balance_of(alice), market.held()
    err = refused(h.settle_batch, [aid], market.stranger)
    assert (err.error, tuple(a.lower() for a in err.error_args)) == ("MechanismMisbehaved", (rogue.lower(),))
    assert h.balance_of(alice) == before and market.held() == held
