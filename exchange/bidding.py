"""Pure bid planning: turn "these devices, at most X each, Y in total" into transaction batches.

No web3 here: the frontend passes what the catalog knows about each device's running auction
and gets back batches ready for ``AuctionHouseClient.bid_batch`` (open mechanisms) and
``seal_bids`` + ``commit_batch`` (sealed mechanisms).

Strategy: in an open (English) auction the cheapest leading bid is the auction's minimum next
bid, so that is what is bid; in a sealed second-price auction bidding one's true value is the
dominant strategy, so the maximum is bid. A sealed bid locks a deposit that is public, so it is
not the bid but the bid rounded up to the next 1, 2 or 5 x 10^k wei (``sealed_deposit``); the
budget counts what is locked (deposits). Devices are taken cheapest first so the budget covers
as many devices as possible; ties keep the caller's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from exchange.errors import ExchangeError

DEFAULT_BATCH = 100
MAX_AMOUNT = 2**88 - 1  # the house's largest bid or deposit
DEPOSIT_STEPS = (1, 2, 5, 10)


class BidPlanError(ExchangeError, ValueError):
    """The planning inputs are malformed."""


def sealed_deposit(amount: int) -> int:
    """The default deposit of a sealed bid of ``amount`` wei: the smallest 1, 2 or 5 x 10^k wei at
    or above it (at most the house's largest amount). The house publishes every deposit
    (BidCommitted), so all bids of one step lock the same deposit and show only their step;
    what the deposit holds beyond the bid's bond is freed at the reveal."""
    _positive_int(amount, "sealed bid amount")
    if amount > MAX_AMOUNT:
        raise BidPlanError(f"sealed bid amount must be at most 2**88 - 1 wei, got {amount}")
    unit = 10 ** (len(str(amount)) - 1)
    return min(next(m * unit for m in DEPOSIT_STEPS if m * unit >= amount), MAX_AMOUNT)


@dataclass(frozen=True)
class DeviceOffer:
    """One device's running auction as the catalog reports it."""

    device_id: str
    auction_id: int
    min_bid: int  # the least bid the auction accepts now (reserve, or highest + increment)
    sealed: bool = False  # sealed-bid (commit-reveal) mechanism


@dataclass(frozen=True)
class PlannedBid:
    device_id: str
    auction_id: int
    amount: int
    sealed: bool
    deposit: int  # wei locked when placed: the bid (open), sealed_deposit(bid) (sealed)


@dataclass(frozen=True)
class BidBatch:
    sealed: bool
    bids: tuple[PlannedBid, ...]

    @property
    def auction_ids(self) -> list[int]:
        return [b.auction_id for b in self.bids]

    @property
    def amounts(self) -> list[int]:
        return [b.amount for b in self.bids]

    @property
    def deposits(self) -> list[int]:
        return [b.deposit for b in self.bids]

    @property
    def total(self) -> int:
        """Wei this batch locks when placed."""
        return sum(b.deposit for b in self.bids)


@dataclass(frozen=True)
class BidPlan:
    batches: tuple[BidBatch, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # device id -> why it got no bid
    budget: int = 0

    @property
    def bids(self) -> list[PlannedBid]:
        return [b for batch in self.batches for b in batch.bids]

    @property
    def total(self) -> int:
        """Wei locked if every planned bid is placed (never more than the budget)."""
        return sum(batch.total for batch in self.batches)


def _offer(d) -> DeviceOffer:
    if isinstance(d, DeviceOffer):
        return d
    get = d.get if isinstance(d, Mapping) else (lambda k, default=None: getattr(d, k, default))
    try:
        return DeviceOffer(str(get("device_id")), int(get("auction_id")), int(get("min_bid")), bool(get("sealed", False)))
    except (TypeError, ValueError) as exc:
        raise BidPlanError(f"device entry needs device_id, auction_id, min_bid: {d!r:.120}") from exc


def _positive_int(v, what: str, allow_zero: bool = False, unit: str = " (wei)") -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (v == 0 and not allow_zero):
        raise BidPlanError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} integer{unit}, got {v!r}")
    return v


def plan_bids(devices: Iterable, max_price_per_device: int, budget: int, batch_size: int = DEFAULT_BATCH) -> BidPlan:
    """Plan bids on ``devices`` (DeviceOffer, or mappings/objects with the same fields).

    Every planned amount is at most ``max_price_per_device`` and at least the device's
    ``min_bid``; the sum of all deposits (what placing the plan locks) is at most ``budget``; each batch holds at most
    ``batch_size`` bids of one kind (open or sealed); an auction is bid on at most once.
    """
    max_price = _positive_int(max_price_per_device, "max_price_per_device")
    budget = _positive_int(budget, "budget", allow_zero=True)
    size = _positive_int(batch_size, "batch_size", unit="")
    offers = [_offer(d) for d in devices]
    skipped: dict[str, str] = {}
    candidates: list[tuple[int, int, PlannedBid]] = []
    seen: set[int] = set()
    for order, o in enumerate(offers):
        if o.auction_id <= 0 or o.min_bid <= 0:
            skipped[o.device_id] = "invalid auction"
        elif o.auction_id in seen:
            # The first offer of an auction decides, even when it was skipped: a later, cheaper
            # copy of the same auction is inconsistent input, not a second chance.
            skipped[o.device_id] = "duplicate auction"
        elif o.min_bid > max_price:
            seen.add(o.auction_id)
            skipped[o.device_id] = "above max price"
        else:
            seen.add(o.auction_id)
            amount = max_price if o.sealed else o.min_bid
            locked = sealed_deposit(amount) if o.sealed else amount
            candidates.append((locked, order, PlannedBid(o.device_id, o.auction_id, amount, o.sealed, locked)))
    candidates.sort(key=lambda c: (c[0], c[1]))
    chosen: list[PlannedBid] = []
    spent = 0
    for locked, _, bid in candidates:
        if spent + locked > budget:
            skipped[bid.device_id] = "over budget"
            continue
        spent += locked
        chosen.append(bid)
    batches: list[BidBatch] = []
    for sealed in (False, True):
        kind = [b for b in chosen if b.sealed == sealed]
        batches += [BidBatch(sealed, tuple(kind[i:i + size])) for i in range(0, len(kind), size)]
    return BidPlan(tuple(batches), skipped, budget)
