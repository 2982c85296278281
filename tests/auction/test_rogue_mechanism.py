"""A mechanism is a pure rule the house does not trust: a rogue one cannot move or invent money.

contracts/test/RogueMechanisms.sol holds two registered-by-governance rogues: one ranks a bidder
who never bid into first place (the bid is refused with MechanismMisbehaved(mechanism); nothing
moves), one prices the winner above its own bid and one reverts when asked for a price: at
settlement the house voids such an auction (AuctionVoided) and releases every bond, so no bid stays
locked behind a mechanism that cannot price it.
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


def _settles_void(market, rogue: str, bids: list[tuple[str, int]], bond_bps: int = 0) -> int:
    """Open an auction on ``rogue``, place ``bids``, settle after all deadlines: the house must void it."""
    h = market.house
    (aid,) = h.open_batch([OpenParams(market.device(), rogue, reserve=ETHER // 100, bond_bps=bond_bps)],
                          market.seller)
    before = {b: h.balance_of(b) for b, _ in bids}
    for bidder, amount in bids:
        h.bid(aid, amount, bidder)
    assert any(h.balance_of(b).locked for b, _ in bids)  # the standing bids hold their bonds
    market.at(max(market.end_of(aid), market.now() + 1))
    held = market.held()
    receipt = h.settle_batch([aid], market.stranger)  # the winner's bid must not stay locked forever
    (voided,) = h.events(from_block=receipt["blockNumber"], names={"AuctionVoided"})
    assert voided.args == {"auctionId": aid, "mechanism": rogue}
    assert h.auction(aid).state == "voided"
    for b in before:
        assert h.balance_of(b) == before[b], b  # every bond is back, free
    assert market.held() == held and h.ether_balance() == market.held()
    h.settle_batch([aid], market.stranger)  # settling again is a no-op
    assert not h.events(from_block=receipt["blockNumber"] + 1, names={"AuctionSettled", "AuctionVoided"})
    return aid


def test_a_mechanism_pricing_above_the_bid_voids_the_auction_and_releases_the_winners_bid(market):
    alice = market.bidders[0]
    _settles_void(market, deploy_rogue(market, "RoguePricer"), [(alice, ETHER // 10)])
    free = market.house.balance_of(alice).free
    market.house.withdraw(free, alice)  # and it can leave the house
    assert market.house.balance_of(alice) == (0, 0)


def test_a_mechanism_pricing_above_the_bid_with_partial_bonds_releases_winner_and_runner_up(market):
    alice, bob = market.bidders[:2]
    _settles_void(market, deploy_rogue(market, "RoguePricer"), [(alice, ETHER // 10), (bob, ETHER // 5)],
                  bond_bps=2000)


def test_a_mechanism_whose_price_reverts_voids_the_auction_and_releases_the_bid(market):
    alice = market.bidders[0]
    _settles_void(market, deploy_rogue(market, "RevertingPricer"), [(alice, ETHER // 10)])
