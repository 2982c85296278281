"""Auction-house transactions the pages send, signed by the user's own chain connection
(a local-keystore session; a wallet session's browser signs instead, frontend.wallet_tx).

What the pages read is frontend.auction_reads; planning and sending a plan is exchange.market.
"""

from __future__ import annotations

from exchange.crypto import x25519_public
from exchange.market import PlanView, send_plan
from frontend.auction_reads import house
from frontend.errors import FrontendError
from frontend.jobs import Job
from frontend.sealed_store import SealedStore


def sealed_store(services, user) -> SealedStore:
    user.server_signer()  # the sealed-bid store is encrypted under the server-held key
    return SealedStore(services.keystore_dir / "sealed", user.address, bytes(user.account.key))


def _user_client(services, user):
    return house(services, user.server_signer())


def deposit(services, user, amount: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).deposit(amount, sender=user.address)


def withdraw(services, user, amount: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).withdraw(amount, sender=user.address)


def ensure_buyer_key(services, user) -> None:
    """Register the user's X25519 key once, so devices can seal access keys to it."""
    client = _user_client(services, user)
    pub = x25519_public(user.x25519_private)
    with services.chain_guard():
        if client.buyer_key_of(user.address) != pub:
            client.register_buyer_key(pub, sender=user.address)


def place_plan(services, user, plan: PlanView, job: Job, top_up: bool = False) -> None:
    """Register the key, top up the deposit if asked, then one transaction per batch.

    Non-strict batches: a bid the house cannot place (outbid meanwhile, closed, funds) is
    skipped on chain with a reason, and the rest of the batch still goes through.
    """
    with user.tx_lock:
        job.stage = "registering your key-delivery key (once)"
        ensure_buyer_key(services, user)
        client = _user_client(services, user)
        if top_up:
            job.stage = "depositing the missing funds"
            with services.chain_guard():
                free = client.balance_of(user.address).free
                if plan.total > free:
                    client.deposit(plan.total - free, sender=user.address)
        send_plan(client, user.address, plan, job, keep_sealed=lambda bids: sealed_store(services, user).add(bids),
                  guard=services.chain_guard)


def settle(services, user, ids: list[int]) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).settle_batch(ids, sender=user.address)


def reveal(services, user, ids: list[int]) -> int:
    """Reveal the user's sealed bids on ``ids`` from the encrypted store; returns how many were sent."""
    bids = sealed_store(services, user).sealed_bids(ids)
    if not bids:
        raise FrontendError("no stored sealed bid for these auctions")
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).reveal_batch(bids, sender=user.address)
    return len(bids)


def reclaim(services, user, auction_id: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).reclaim(auction_id, sender=user.address)


def rate(services, user, auction_id: int, score: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).rate(auction_id, score, sender=user.address)
