"""Auction-house operations the pages need, through exchange.chain.auction.AuctionHouseClient.

``AuctionBook`` follows the house's events incrementally (one cursor, shared by all users)
so pages can list a device's auctions, a user's bids and delivered keys without a scan per
request. What a user sees is always filtered by their own address.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.crypto.delivery import key_context  # noqa: F401 - re-exported for tests and pages
from exchange.market import (  # noqa: F401 - the shared code path; re-exported for the pages and tests
    BATCH_SIZE,
    AuctionBook,
    Opened,
    Outcome,
    PlannedBid,
    PlanView,
    Skip,
    Target,
    min_bid,
    plan_from_targets,
    send_plan,
)
from exchange.market import targets as book_targets
from frontend.errors import FrontendError
from frontend.jobs import Job


def _hex(b) -> str:
    return "0x" + bytes(b).hex() if isinstance(b, bytes | bytearray) else str(b).lower()


@dataclass
class AuctionView:
    id: int
    device_id: str
    state: str
    ends_at: int
    highest: int
    winner: str | None


def _client(services, chain=None):
    from exchange.chain.auction import AuctionHouseClient

    return AuctionHouseClient.from_manifest(chain or services.base_chain(), services.manifest)


def book(services) -> AuctionBook:
    b = services.__dict__.setdefault("_auction_book", AuctionBook())
    with services.chain_guard():
        return b.refresh(_client(services))


def chain_now(services) -> int:
    with services.chain_guard():
        return services.base_chain().now()


# ---- reads -------------------------------------------------------------------------------------
def balance_of(services, address: str) -> tuple[int, int]:
    with services.chain_guard():
        b = _client(services).balance_of(address)
    return b.free, b.locked


def buyer_key_of(services, address: str) -> bytes:
    with services.chain_guard():
        return _client(services).buyer_key_of(address)


def device_auctions(services, device_id: str) -> list[AuctionView]:
    try:
        bk = book(services)
    except FrontendError:
        return []
    out = []
    client = _client(services)
    for aid in reversed(bk.by_device.get(device_id.lower(), [])[-20:]):
        with services.chain_guard():
            info = client.auction(aid)
        out.append(AuctionView(aid, device_id, info.state, info.time, info.first_amount, info.first))
    return out


def targets_for(services, devices, bidder: str) -> list[Target]:
    """The newest open auction of each device, from the event book (no per-auction calls).

    The book can lag a block behind a bid placed meanwhile; the house then skips that bid
    on chain with a reason (non-strict batches), which the outcome page shows.
    """
    bk = book(services)
    now = chain_now(services)
    return book_targets(bk, devices, bidder, now, _client(services).sealed_mechanisms())


def device_bid_target(services, device, bidder: str) -> tuple[Target | None, str]:
    """The auction a bid from the device's page would go to, or None and why not (one phrase).

    The same rules as a plan (``targets_for``), so the page offers a bid only where the plan
    would place one; a checked-out device is never offered, whatever its auctions say.
    """
    if not device.active:
        return None, "it is checked out"
    try:
        t = targets_for(services, [device], bidder)[0]
    except FrontendError:
        return None, "the auction house is not answering now"
    if t.reason:
        return None, {"no open auction": "it has no open auction"}.get(t.reason, t.reason)
    return t, ""


# ---- planning -----------------------------------------------------------------------------------
def make_plan(services, bidder: str, devices, max_price: int, budget: int) -> PlanView:
    """Targets from the chain, then exchange.bidding.plan_bids decides amounts and batches."""
    return plan_from_targets(targets_for(services, devices, bidder), max_price, budget, batch_size=BATCH_SIZE)


# ---- writes (signed by the user's own chain connection) ------------------------------------------
def sealed_store(services, user):
    from frontend.sealed_store import SealedStore

    user.server_signer()  # the sealed-bid store is encrypted under the server-held key
    return SealedStore(services.keystore_dir / "sealed", user.address, bytes(user.account.key))


def _user_client(services, user):
    return _client(services, user.server_signer())


def deposit(services, user, amount: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).deposit(amount, sender=user.address)


def withdraw(services, user, amount: int) -> None:
    with user.tx_lock, services.chain_guard():
        _user_client(services, user).withdraw(amount, sender=user.address)


def ensure_buyer_key(services, user) -> None:
    """Register the user's X25519 key once, so devices can seal access keys to it."""
    from exchange.crypto import x25519_public

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
        _place_plan(services, user, plan, job, top_up)


def _place_plan(services, user, plan: PlanView, job: Job, top_up: bool) -> None:
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


@dataclass
class MyAuction:
    auction_id: int
    device_id: str
    state: str
    my_bid: int
    price: int
    winner: str | None
    won: bool
    can_settle: bool
    can_reclaim: bool
    can_rate: bool
    key_delivered: bool
    time: int
    sealed: bool = False
    can_reveal: bool = False
    revealed: bool = False  # sealed only: the user's bid was revealed (its amount is on chain)
    deposit: int = 0  # sealed only: the deposit the commitment locked (what others see before the reveal)


def my_auctions(services, address: str) -> list[MyAuction]:
    bk = book(services)
    mine = bk.bids.get(address.lower(), {})
    commits = bk.commits.get(address.lower(), {})
    now = chain_now(services)
    client = _client(services)
    out = []
    for aid in sorted(set(mine) | set(commits), reverse=True):
        with services.chain_guard():
            info = client.auction(aid)
        won = (info.first or "").lower() == address.lower()
        settled = info.state not in ("open", "none")
        closes = info.time + (info.window if info.sealed_bids else 0)  # sealed: after the reveal window
        out.append(MyAuction(
            aid, _hex(info.device_id), info.state, mine.get(aid, 0), info.first_amount,
            info.first, won and settled,
            can_settle=info.state == "open" and closes <= now,
            can_reclaim=won and info.state == "awaiting_key" and info.time <= now,  # the house allows now >= deadline
            can_rate=won and info.state == "delivered",
            key_delivered=aid in bk.delivered, time=info.time, sealed=info.sealed_bids,
            can_reveal=(info.sealed_bids and info.state == "open" and aid in commits and aid not in mine
                        and info.time <= now < info.time + info.window),
            revealed=info.sealed_bids and aid in mine, deposit=commits.get(aid, 0)))
    return out


def standing(a: MyAuction, address: str) -> str:
    """Where the user's bid stands. A sealed auction's bids stay hidden until it is settled: only
    whether the user's own bid is revealed is known, never who leads."""
    if a.sealed and a.state in ("open", "none"):  # "none": not settled yet either
        return "sealed (revealed)" if a.revealed else "sealed (not yet revealed)"
    return "winning" if (a.winner or "").lower() == address.lower() else "outbid"


def my_bids(services, address: str) -> list:
    return [dict(auction_id=a.auction_id, device_id=a.device_id, amount=a.my_bid, state=a.state,
                 standing=standing(a, address), deposit=a.deposit, revealed=a.revealed, sealed=a.sealed)
            for a in my_auctions(services, address)]


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


@dataclass
class KeyView:
    auction_id: int
    device_id: str
    token: str
    not_before: int
    not_after: int
    error: str = ""
    sealed_hex: str = ""  # a wallet session's key, still sealed: the browser opens it


def my_keys(services, user) -> list[KeyView]:
    """Keys delivered to this user, opened with their X25519 key (never stored opened)."""
    from exchange.crypto import CryptoError, open_sealed

    bk = book(services)
    out = []
    for aid, (winner, box, until) in sorted(bk.delivered.items(), reverse=True):
        if winner != user.address.lower():
            continue
        o = bk.opened.get(aid)
        did = o.device_id if o else ""
        if user.x25519_private is None:  # a wallet session: the key opens in the browser only
            out.append(KeyView(aid, did, "", 0, until, "opens in your browser with your wallet", bytes(box).hex()))
            continue
        try:
            token = open_sealed(user.x25519_private, box, key_context(aid)).decode("ascii")
            claims = _claims(token)
            out.append(KeyView(aid, did, token, claims[0], claims[1]))
        except (CryptoError, UnicodeDecodeError, ValueError) as exc:
            out.append(KeyView(aid, did, "", 0, until, f"the delivered key does not open: {exc}"))
    return out


def _claims(token: str) -> tuple[int, int]:
    """(not_before, not_after) of a delivered key, for display (the device checks the signature)."""
    from exchange.crypto.tokens import read_claims_unverified

    claims = read_claims_unverified(token)
    return claims.not_before, claims.not_after


# ---- demo world: the device owners' side (devworld and tests only) -------------------------------
def open_auctions_for(world, devices, duration_s: int = 3600, mechanism: str = "english") -> None:
    from exchange.chain.auction import AuctionHouseClient, OpenParams

    client = AuctionHouseClient.from_manifest(world.chain, world.manifest)
    mech = client.mechanism(mechanism)
    by_owner: dict[str, list] = {}
    for d in devices:
        by_owner.setdefault(d.owner, []).append(d)
    for owner, ds in by_owner.items():
        for i in range(0, len(ds), 50):
            chunk = ds[i:i + 50]
            ids = client.open_batch([OpenParams(d.device_id, mech, reserve=d.reserve, increment=d.reserve // 20,
                                                bidding_period=duration_s, delivery_window=3600,
                                                window=3600 if client.traits(mech)[0] else 0) for d in chunk],
                                    sender=owner)
            for d, aid in zip(chunk, ids, strict=True):
                d.auction_id = aid
