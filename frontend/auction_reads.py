"""What the pages read of the auction house: the catalog's auction tables (indexed from the house's
events by the catalog indexer, exchange.catalog.auction_index) and, per row, the chain's live state.

Nothing is folded in this process: every worker of the app reads the same tables. What a user sees
is always filtered by their own address. Planning (targets, amounts, batches) is exchange.market's,
the same code path as the client library's.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.chain.auction import BPS, MIN_RATING_FEE, AuctionHouseClient
from exchange.crypto import CryptoError, open_sealed
from exchange.crypto.delivery import key_context
from exchange.crypto.tokens import read_claims_unverified
from exchange.market import BATCH_SIZE, PlanView, Target, plan_from_targets, targets
from frontend.errors import FrontendError


def _hex(b) -> str:
    return "0x" + bytes(b).hex() if isinstance(b, bytes | bytearray) else str(b).lower()


def house(services, chain=None) -> AuctionHouseClient:
    return AuctionHouseClient.from_manifest(chain or services.base_chain(), services.manifest)


def chain_now(services) -> int:
    with services.chain_guard():
        return services.base_chain().now()


def balance_of(services, address: str) -> tuple[int, int]:
    with services.chain_guard():
        b = house(services).balance_of(address)
    return b.free, b.locked


def buyer_key_of(services, address: str) -> bytes:
    with services.chain_guard():
        return house(services).buyer_key_of(address)


@dataclass
class AuctionView:
    id: int
    device_id: str
    state: str
    ends_at: int
    highest: int
    winner: str | None


def device_auctions(services, device_id: str) -> list[AuctionView]:
    """The device's 20 newest auctions (indexed), each with the chain's live state."""
    try:
        rows = services.auctions().of_device(device_id, limit=20)
    except FrontendError:
        return []
    client = house(services)
    out = []
    for row in rows:
        with services.chain_guard():
            info = client.auction(row.auction_id)
        out.append(AuctionView(row.auction_id, device_id, info.state, info.time, info.first_amount, info.first))
    return out


def targets_for(services, devices, bidder: str) -> list[Target]:
    """The newest open auction of each device, from the auction tables (no per-auction calls).

    The tables can lag a block behind a bid placed meanwhile; the house then skips that bid
    on chain with a reason (non-strict batches), which the outcome page shows.
    """
    reads = services.auctions()
    now = chain_now(services)
    with services.chain_guard():
        sealed = house(services).sealed_mechanisms()  # by each mechanism's traits
    return targets(reads, devices, bidder, now, sealed)


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


def make_plan(services, bidder: str, devices, max_price: int, budget: int) -> PlanView:
    """Targets from the auction tables, then exchange.bidding.plan_bids decides amounts and batches
    (of this module's ``BATCH_SIZE``, read at each call)."""
    return plan_from_targets(targets_for(services, devices, bidder), max_price, budget, batch_size=BATCH_SIZE)


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
    # What rating costs: the top-up of the purchase's protocol fee to the minimum rating fee, taken
    # from the free balance when rating (a rating weighs the fee paid; issue 12 case 5).
    rating_top_up: int = 0
    window: int = 0  # sealed: the reveal window after bidding ends (reveals until time + window)


def my_auctions(services, address: str) -> list[MyAuction]:
    """The auctions the user bid on (indexed standings), newest first, each with the chain's live state."""
    reads = services.auctions()
    mine = reads.standings(address)
    delivered = reads.delivered(s.auction_id for s in mine)
    now = chain_now(services)
    client = house(services)
    out = []
    for s in mine:
        aid = s.auction_id
        with services.chain_guard():
            info = client.auction(aid)
        won = (info.first or "").lower() == address.lower()
        settled = info.state not in ("open", "none")
        closes = info.time + (info.window if info.sealed_bids else 0)  # sealed: after the reveal window
        placed = s.revealed or not s.committed  # an open bid, or a revealed sealed one
        out.append(MyAuction(
            aid, _hex(info.device_id), info.state, s.amount if placed else 0, info.first_amount,
            info.first, won and settled,
            can_settle=info.state == "open" and closes <= now,
            can_reclaim=won and info.state == "awaiting_key" and info.time <= now,  # the house allows now >= deadline
            can_rate=won and info.state == "delivered",
            key_delivered=aid in delivered, time=info.time, sealed=info.sealed_bids,
            can_reveal=(info.sealed_bids and info.state == "open" and s.committed and not s.revealed
                        and info.time <= now < info.time + info.window),
            revealed=info.sealed_bids and s.revealed, deposit=s.deposit if s.committed else 0,
            window=info.window if info.sealed_bids else 0,
            rating_top_up=rating_top_up(info)))
    return out


def rating_top_up(info) -> int:
    """What rating a delivered auction adds to the fee it paid (AuctionHouse.ratingCostOf, computed locally)."""
    return max(0, MIN_RATING_FEE - info.first_amount * info.fee_bps // BPS)


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
    """Keys delivered to this user (indexed), opened with their X25519 key (never stored opened),
    each checked on every read against the device's registered token-signing key and the sale
    (issue 12 case 4): a key that fails is shown with the reason in one line and never used."""
    from exchange.chain.registry import RegistryClient
    from exchange.crypto.delivery import check_delivered

    out = []
    signing_keys: dict[str, bytes] = {}
    for row in services.auctions().delivered_to(user.address):
        aid, did, box, until = row.auction_id, row.device_id, row.sealed_key, row.access_until
        if user.x25519_private is None:  # a wallet session: the key opens in the browser only
            out.append(KeyView(aid, did, "", 0, until, "opens in your browser with your wallet", box.hex()))
            continue
        try:
            token = open_sealed(user.x25519_private, box, key_context(aid)).decode("ascii")
            read_claims_unverified(token)
        except (CryptoError, UnicodeDecodeError, ValueError) as exc:
            out.append(KeyView(aid, did, "", 0, until, f"the delivered key does not open: {exc}"))
            continue
        if did not in signing_keys:
            with services.chain_guard():
                signing_keys[did] = RegistryClient.from_manifest(services.base_chain(), services.manifest).signing_key_of(
                    bytes.fromhex(did.removeprefix("0x")))
        claims, problem = check_delivered(token, signing_keys[did], device_id=did, auction_id=aid,
                                          winner=user.address, access_until=until)
        if problem:
            out.append(KeyView(aid, did, "", 0, until, problem))
        else:
            out.append(KeyView(aid, did, token, claims.not_before, claims.not_after))
    return out
