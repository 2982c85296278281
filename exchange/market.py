"""Buying access keys, one code path for the web app and the client library (issue 17).

- ``targets`` picks the auction a bid on each device would go to, with the reason when none, from
  the catalog's auction tables (``exchange.catalog.auctions.AuctionReads``, filled by the indexer);
- ``plan_from_targets`` hands them to the pure planner (``exchange.bidding.plan_bids``);
- ``send_plan`` sends the plan batch by batch, reporting each batch's outcome to a progress
  object (the web app's job, the client's progress bar).

Chain access goes through ``exchange.chain`` clients; nothing here imports web3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from exchange.bidding import DeviceOffer, plan_bids
from exchange.errors import ContractRevert

BATCH_SIZE = 100  # bids per transaction (stays far below the block gas limit)


DEFAULT_DELIVERY = 86_400  # the house's default delivery window (a 0 at opening)
FULL_BOND = 10_000


@dataclass(frozen=True)
class Terms:
    """What a bid commits to, fixed when the auction opened (shown next to every bid box)."""

    fee_bps: int  # protocol fee taken from the price at delivery
    delivery_window: int  # seconds from settlement the seller has to deliver; then the winner reclaims
    bond_bps: int  # share of a bid locked while the auction runs
    window: int = 0  # open auctions: anti-sniping extension; sealed: the reveal window

    @classmethod
    def of(cls, row) -> Terms:
        """The terms of an indexed auction (``exchange.catalog.auctions.AuctionRow``)."""
        return cls(row.fee_bps, row.delivery_window or DEFAULT_DELIVERY, row.bond_bps or FULL_BOND, row.window)


@dataclass
class Target:
    """One matching device and the auction a bid would go to (None: nothing open)."""

    device_id: str
    title: str
    auction_id: int | None
    reserve: int
    increment: int
    highest: int
    leader: str | None
    bidding_end: int
    sealed: bool = False
    reason: str = ""
    terms: Terms | None = None


class DeviceLike(Protocol):
    """What ``targets`` needs of a device (a catalog row)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def reserve(self) -> int: ...


def targets(reads, devices: Iterable[DeviceLike], bidder: str, now: int,
            sealed_mechanisms: Iterable[str] | str) -> list[Target]:
    """The newest open auction of each device, from the catalog's auction tables (``reads``: an
    ``exchange.catalog.auctions.AuctionReads``; two indexed queries, no per-auction calls).

    The tables can lag a block behind a bid placed meanwhile; the house then skips that bid
    on chain with a reason (non-strict batches), which the outcome shows.
    """
    if isinstance(sealed_mechanisms, str):
        sealed_mechanisms = [sealed_mechanisms]
    sealed_set = {m.lower() for m in sealed_mechanisms if m}  # every mechanism that takes sealed bids
    devices = list(devices)
    open_ = reads.latest_open(d.id for d in devices)
    committed = set()
    if bidder:
        committed = {s.auction_id for s in reads.standings(bidder, [o.auction_id for o in open_.values()])
                     if s.committed}
    out = []
    for d in devices:
        o = open_.get(d.id.lower())
        if o is None:
            out.append(Target(d.id, d.title, None, d.reserve, 0, 0, None, 0, reason="no open auction"))
            continue
        sealed = (o.mechanism or "").lower() in sealed_set
        reason = ""
        if o.bidding_end <= now:
            reason = "bidding has ended"
        elif sealed and o.auction_id in committed:
            reason = "you already committed a sealed bid"
        elif bidder and (o.leader or "").lower() == bidder.lower():  # no bidder (signed out): nobody leads
            reason = "you already lead"
        out.append(Target(d.id, d.title, o.auction_id, o.reserve, o.increment, o.highest, o.leader, o.bidding_end,
                          sealed, reason, Terms.of(o)))
    return out


@dataclass
class PlannedBid:
    device_id: str
    auction_id: int
    amount: int
    sealed: bool = False
    deposit: int = 0  # wei locked when placed (sealed: the bid rounded up to a 1-2-5 step, public)
    terms: Terms | None = None


@dataclass
class Skip:
    device_id: str
    title: str
    reason: str


@dataclass
class PlanView:
    batches: list[list[PlannedBid]]
    skipped: list[Skip]

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def total(self) -> int:
        """Wei locked when every bid is placed (sealed bids lock their deposit)."""
        return sum(p.deposit or p.amount for b in self.batches for p in b)

    @property
    def terms_range(self) -> dict | None:
        """Lowest and highest fee, delivery window and bond over the planned bids (as text)."""
        ts = [p.terms for b in self.batches for p in b if p.terms]
        if not ts:
            return None

        def span(values, fmt):
            lo, hi = min(values), max(values)
            return [fmt(lo)] if lo == hi else [fmt(lo), fmt(hi)]

        return {"fee": span([t.fee_bps for t in ts], format_bps),
                "delivery": span([t.delivery_window for t in ts], format_duration),
                "bond": span([t.bond_bps for t in ts], format_bps)}


def min_bid(t: Target) -> int:
    """The least bid an open auction accepts now: the reserve, or the leader's bid plus the increment."""
    if t.highest <= 0 or t.sealed:  # a sealed auction shows no standing bid
        return max(t.reserve, 1)
    return max(t.reserve, t.highest + max(t.increment, 1))


def plan_from_targets(targets: list[Target], max_price: int, budget: int, planner=plan_bids,
                      batch_size: int = BATCH_SIZE) -> PlanView:
    """Skip targets with a reason, plan the rest with ``planner`` (``exchange.bidding.plan_bids``)
    in batches of at most ``batch_size`` bids."""
    skipped = [Skip(t.device_id, t.title, t.reason) for t in targets if t.reason]
    live = [t for t in targets if not t.reason]
    titles = {t.device_id: t.title for t in live}
    terms = {t.auction_id: t.terms for t in live}
    plan = planner([DeviceOffer(t.device_id, t.auction_id, min_bid(t), t.sealed) for t in live],
                   max_price, budget, batch_size=batch_size)
    batches = [[PlannedBid(b.device_id, b.auction_id, b.amount, b.sealed, b.deposit, terms.get(b.auction_id))
                for b in batch.bids]
               for batch in plan.batches]
    skipped += [Skip(did, titles.get(did, ""), why) for did, why in plan.skipped.items()]
    return PlanView([b for b in batches if b], skipped)


@dataclass
class Outcome:
    device_id: str
    auction_id: int | None
    status: str  # "placed" | "skipped" | "failed"
    reason: str = ""
    amount: int = 0


class Progress(Protocol):
    """Where ``send_plan`` reports: ``stage`` in words, ``record`` once per batch."""

    stage: str

    def record(self, outcomes: list[Outcome], tx_hash: str | None = None) -> None: ...


# Gas when the node cannot run a batch yet (before the buyer's key is registered, say): per
# transaction and per bid, above what `thingbid bench gas` measures (docs/benchmarks.md: 52.6k
# for a single open bid, 20.6k per bid in batches of 100; sealed commits 51.2k per bid).
FALLBACK_GAS = {False: (35_000, 26_000), True: (35_000, 56_000)}


def estimate_plan(client, sender: str, plan: PlanView) -> tuple[int, int]:
    """(gas, wei) the plan's transactions are expected to cost ``sender`` at today's gas price:
    each batch estimated by the node as it would be sent (sealed ones with throw-away secrets),
    or from FALLBACK_GAS when the node refuses to run it yet."""
    gas = wei = 0
    for batch in plan.batches:
        ids, amounts = [b.auction_id for b in batch], [b.amount for b in batch]
        sealed = batch[0].sealed
        deposits = [b.deposit or b.amount for b in batch]
        fn = (client.commit_batch_fn(client.seal_bids(sender, ids, amounts, deposits), sender) if sealed
              else client.bid_batch_fn(ids, amounts))
        try:
            g, w = client.chain.estimate_cost(fn, sender=sender)
        except ContractRevert:
            base, per_bid = FALLBACK_GAS[sealed]
            g = (base + per_bid * len(batch)) * 6 // 5
            w = g * client.chain.gas_price()
        gas, wei = gas + g, wei + w
    return gas, wei


def send_plan(client, sender: str, plan: PlanView, progress: Progress,
              keep_sealed: Callable[[list], None] | None = None,
              guard: Callable[[], AbstractContextManager] = nullcontext) -> None:
    """One non-strict transaction per batch: a bid the house cannot place (outbid meanwhile,
    closed, funds) is skipped on chain with a reason and the rest of the batch goes through; a
    batch that fails as a whole is recorded as failed per device. Sealed batches need
    ``keep_sealed`` (stores the bids' secrets *before* the commitments are sent: a commitment
    whose salt is lost cannot be revealed). ``guard`` wraps each chain use (the web app's lock
    around eth-tester)."""
    for i, batch in enumerate(plan.batches, 1):
        progress.stage = f"sending transaction {i} of {len(plan.batches)} ({len(batch)} bids)"
        ids = [b.auction_id for b in batch]
        amounts = [b.amount for b in batch]
        sealed = batch[0].sealed
        try:
            with guard():
                if sealed:
                    if keep_sealed is None:
                        raise ContractRevert("SealedBidsNotKept", (), "no store for sealed-bid secrets")
                    # The deposits are the plan's 1-2-5 steps: public, so never the bid itself.
                    bids = client.seal_bids(sender, ids, amounts, [b.deposit or b.amount for b in batch])
                    keep_sealed(bids)
                    receipt, skipped = client.commit_batch(bids, sender=sender)
                else:
                    receipt, skipped = client.bid_batch(ids, amounts, sender=sender)
        except Exception as exc:  # noqa: BLE001 - the batch failed as a whole: say so per device
            reason = f"{exc.error}{exc.error_args}" if isinstance(exc, ContractRevert) else type(exc).__name__
            progress.record([Outcome(b.device_id, b.auction_id, "failed", reason, b.amount) for b in batch])
            continue
        placed_note = "sealed bid committed: reveal it after bidding ends" if sealed else ""
        progress.stage = f"transaction {i} of {len(plan.batches)} mined"
        progress.record([Outcome(b.device_id, b.auction_id, "skipped" if b.auction_id in skipped else "placed",
                                 skipped.get(b.auction_id, "").replace("_", " ") or placed_note, b.amount)
                         for b in batch],
                        "0x" + bytes(receipt["transactionHash"]).hex())


def format_bps(bps) -> str:
    """Basis points as a percentage: 250 -> 2.5%."""
    return f"{int(bps or 0) / 100:g}%"


def format_duration(seconds) -> str:
    """Seconds as the largest whole unit that fits: 7 days, 1 day, 1 h, 10 min, 90 s."""
    s = int(seconds or 0)
    for unit, size in (("day", 86_400), ("h", 3_600), ("min", 60)):
        if s >= size and s % size == 0:
            n = s // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    return f"{s} s"
