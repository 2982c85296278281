"""The selling loop: open an auction per access period, settle, deliver each winner's key, withdraw.

Every step is driven by ``Seller.tick()``, which is idempotent: it reads what the agent's
database and the chain say and does only the next missing step. A restart therefore resumes
where it stopped. Exactly-once delivery rests on three facts:

- the token's claims (with its random token id) are written to the database once per
  auction *before* anything is sent; a retry re-derives the very same token text
  (Ed25519 signatures are deterministic), so a buyer never holds two different keys;
- before delivering, the chain is asked whether the key was already delivered (a crash
  after the transaction but before the database write), and then only the record is fixed;
- the house itself refuses a second delivery for an auction.

The chain side is the small ``AuctionPort`` protocol below; ``device_agent.house`` adapts
the exchange's AuctionHouseClient to it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from device_agent.errors import NotEnabledError
from device_agent.state import AgentToken
from exchange.crypto import AccessClaims, issue_token, seal
from exchange.crypto.delivery import key_context
from exchange.errors import ExchangeError

log = logging.getLogger(__name__)
MAX_ITEM_BACKOFF_S = 300.0  # an auction that keeps failing is retried at most this far apart


@dataclass(frozen=True)
class AuctionInfo:
    auction_id: int
    device_id: bytes
    phase: str  # "open", "ended" (bidding over, not settled), "settled", "delivered", "no_sale", "reclaimed", ...
    bidding_end: int
    winner: str  # "" when none
    price: int
    access_period: int  # seconds of access bought
    access_until: int  # on chain, set at delivery (0 before)
    delivery_deadline: int  # 0 until settled
    sealed: bool = False  # commit-reveal mechanism


class AuctionPort(Protocol):
    """What the seller needs from the auction house (all ``sender``-signed by the device account)."""

    def open(self, device_id: bytes, *, mechanism: int, reserve: int, increment: int, bidding_seconds: int,
             access_period: int, delivery_window: int, anti_snipe: int = 0) -> int: ...

    def info(self, auction_id: int) -> AuctionInfo: ...

    def chain_time(self) -> int: ...

    def auctions_of(self, device_id: bytes) -> list[int]: ...

    def settle(self, auction_ids: list[int]) -> None: ...

    def unrevealed(self, auction_id: int) -> list[str]: ...

    def forfeit(self, auction_id: int, bidders: list[str]) -> None: ...

    def release(self, auction_id: int, bidders: list[str]) -> None: ...

    def buyer_key(self, buyer: str) -> bytes: ...

    def deliver(self, auction_id: int, sealed_key: bytes) -> str: ...

    def withdrawable(self) -> int: ...

    def withdraw(self) -> str: ...


def token_for(agent, claims: AccessClaims) -> str:
    return issue_token(agent.identity.ed25519_private, claims)


class Seller:
    def __init__(self, agent, port: AuctionPort):
        self.agent = agent
        self.port = port
        self.state = agent.state
        self._lock = threading.Lock()
        self._refused = ""  # the last refusal logged (logged once, not every tick)
        self._waiting_for_block: set[int] = set()  # auctions ended by the clock, not yet by the chain
        self._failing: dict[int, tuple[int, float]] = {}  # auction id -> (failures in a row, retry after)
        self.monotonic = time.monotonic  # the backoff's clock

    # ----------------------------------------------------------- one item at a time
    def _due(self, auction_id: int) -> bool:
        """Whether an auction that failed before may be tried again (backed off)."""
        _, retry_after = self._failing.get(auction_id, (0, 0.0))
        return self.monotonic() >= retry_after

    def _failed(self, auction_id: int, step: str, exc: Exception) -> None:
        """One auction's failure is logged and backed off (1 s doubling to 5 min); the pass goes on
        with the others, so one item the node cannot answer for never starves the rest."""
        n = self._failing.get(auction_id, (0, 0.0))[0] + 1
        self._failing[auction_id] = (n, self.monotonic() + min(2.0 ** (n - 1), MAX_ITEM_BACKOFF_S))
        log.warning("auction %d: %s failed (%d in a row; retried later): %s", auction_id, step, n, exc)

    def _ok(self, auction_id: int) -> None:
        self._failing.pop(auction_id, None)

    # ----------------------------------------------------------- steps
    def adopt_chain_auctions(self) -> int:
        """Record auctions of this device found on chain but not locally (crash after opening)."""
        known = {a.auction_id for a in self.state.auctions()}
        added = 0
        for aid in self.port.auctions_of(self.agent.device_id):
            if aid not in known:
                info = self.port.info(aid)
                self.state.save_auction(aid, opened_at=0, bidding_end=info.bidding_end,
                                        access_period=self.agent.config.access_period_seconds, status="open")
                added += 1
        return added

    def maybe_open(self, now: int) -> int | None:
        """Open the next period's auction when none is running and the sold period ends soon."""
        cfg = self.agent.config
        if not cfg.auto_auction:
            return None
        if not self.agent.enabled():
            raise NotEnabledError("not enabled: the agent opens no auction")
        reg = self.state.registration()
        if reg is None or not reg.checked_in:
            return None  # consent given but the check-in has not gone through (yet)
        for a in self.state.auctions():
            if a.status in ("open", "settled"):
                return None
            if a.status in ("delivered", "paid"):
                tok = self.state.token_for_auction(a.auction_id)
                if tok and tok.not_after > now + cfg.bidding_seconds:
                    return None  # the current period is sold; the next auction opens as it nears its end
        aid = self.port.open(self.agent.device_id, mechanism=self.agent.mechanism_code,
                             reserve=cfg.reserve_price_wei, increment=cfg.min_increment_wei,
                             bidding_seconds=cfg.bidding_seconds, access_period=cfg.access_period_seconds,
                             delivery_window=cfg.delivery_window_seconds, anti_snipe=cfg.anti_snipe_window())
        info = self.port.info(aid)
        self.state.save_auction(aid, opened_at=now, bidding_end=info.bidding_end,
                                access_period=cfg.access_period_seconds, status="open")
        log.info("device %s opened auction %d (bidding ends %d)", self.agent.identity.device_id_hex[:12], aid,
                 info.bidding_end)
        return aid

    def settle_due(self, now: int) -> list[int]:
        """Settle this device's auctions whose bidding ended (anyone may; the seller does not wait).

        The house compares the end with the block's time, so an auction is settled from the first
        block past its end, not when the agent's clock passes it: a chain that mines only on
        transactions would otherwise refuse the settlement (SettlementTooEarly) on every tick.
        Local chains started by ``thingbid up`` mine on an interval, so that block comes."""
        due = []
        chain_now = None
        for a in self.state.auctions("open"):
            if not self._due(a.auction_id):
                continue
            try:
                info = self.port.info(a.auction_id)
            except Exception as exc:  # noqa: BLE001 - one auction's failure must not stop the pass
                self._failed(a.auction_id, "reading it", exc)
                continue
            if info.phase == "open" and now < info.bidding_end:
                continue
            if info.phase in ("open", "ended"):
                chain_now = self.port.chain_time() if chain_now is None else chain_now
                if chain_now < info.bidding_end:
                    if a.auction_id not in self._waiting_for_block:
                        self._waiting_for_block.add(a.auction_id)
                        log.info("auction %d: bidding over by the clock; settling from the first block past "
                                 "%d (the chain's latest block is at %d)", a.auction_id, info.bidding_end, chain_now)
                    continue
                self._waiting_for_block.discard(a.auction_id)
                if info.sealed:
                    # Unrevealed commitments forfeit their deposits to the protocol fee account
                    # (house rule: never the seller, or its shills would bid for free); forfeiting
                    # them here leaves no deposit locked once the auction is over.
                    late = self.port.unrevealed(a.auction_id)
                    if late:
                        self.port.forfeit(a.auction_id, late)
                due.append(a.auction_id)
            else:
                self._record_outcome(a.auction_id, info)
        if due:
            self.port.settle(due)
            for aid in due:
                self._record_outcome(aid, self.port.info(aid))
        return due

    def _record_outcome(self, aid: int, info: AuctionInfo) -> None:
        if info.phase in ("open", "ended"):
            return
        if info.phase == "no_sale" or not info.winner or int(info.winner, 16) == 0:
            self.state.save_auction(aid, status="no_sale")
            return
        status = {"settled": "settled", "delivered": "delivered", "reclaimed": "reclaimed"}.get(info.phase, info.phase)
        self.state.save_auction(aid, status=status, winner=info.winner, price_wei=str(info.price))

    def deliver_due(self, now: int) -> list[int]:
        """Deliver keys for settled auctions, each exactly once."""
        delivered = []
        for a in self.state.auctions("settled"):
            if not self._due(a.auction_id):
                continue
            try:
                if self._deliver_one(a, now):
                    delivered.append(a.auction_id)
                self._ok(a.auction_id)
            except Exception as exc:  # noqa: BLE001 - one auction's failure must not stop the pass
                self._failed(a.auction_id, "delivering its key", exc)
        return delivered

    def release_cancelled(self) -> list[int]:
        """Auctions that check-out cancelled: record them, and hand back the sealed deposits the
        house still holds (the house refunded every open bond and payment itself)."""
        released = []
        # Only open ones can hold sealed deposits (a settled auction's were forfeited before it
        # settled); a cancelled settled auction is recorded by deliver_due like any outcome.
        for a in self.state.auctions("open"):
            if not self._due(a.auction_id):
                continue
            try:
                info = self.port.info(a.auction_id)
                if info.phase != "cancelled":
                    continue
                if info.sealed:
                    held = self.port.unrevealed(a.auction_id)
                    if held:
                        self.port.release(a.auction_id, held)
                self.state.save_auction(a.auction_id, status="cancelled")
                self._ok(a.auction_id)
            except Exception as exc:  # noqa: BLE001 - one auction's failure must not stop the pass
                self._failed(a.auction_id, "handing back its sealed deposits", exc)
                continue
            released.append(a.auction_id)
            log.info("auction %d was cancelled by the check-out; every bidder was refunded", a.auction_id)
        return released

    def _deliver_one(self, a, now: int) -> bool:
        """Deliver the key of one settled auction; True when a delivery was sent now."""
        info = self.port.info(a.auction_id)
        # The house starts the period at the delivery block (>= now), so a token from now for
        # the period bought never outlasts accessUntil. Recorded once: retries reuse these claims.
        tok = self.state.add_token(AgentToken(
            token_id=os.urandom(16).hex(), auction_id=a.auction_id, buyer=info.winner, not_before=now,
            not_after=now + info.access_period))
        if info.phase == "delivered":  # sent before a crash, not recorded: fix the record only
            self.state.mark_token(tok.token_id, delivered=True)
            self.state.save_auction(a.auction_id, status="delivered")
            return False
        if info.phase != "settled":
            self._record_outcome(a.auction_id, info)
            return False
        if info.delivery_deadline and now >= info.delivery_deadline:
            log.error("auction %d: delivery deadline passed; the winner may reclaim", a.auction_id)
            self.state.save_auction(a.auction_id, status="missed")
            return False
        claims = AccessClaims(self.agent.identity.device_id_hex, a.auction_id, tok.buyer, tok.not_before,
                              tok.not_after, tok.token_id)
        box = seal(self.port.buyer_key(tok.buyer), token_for(self.agent, claims).encode(), key_context(a.auction_id))
        tx = self.port.deliver(a.auction_id, box)
        self.state.mark_token(tok.token_id, delivered=True)
        self.state.save_auction(a.auction_id, status="delivered", delivered_tx=tx)
        log.info("auction %d: key delivered to %s (tx %s)", a.auction_id, tok.buyer, tx)
        return True

    def withdraw_due(self, now: int) -> int:
        last = self.state.cursor("last_withdraw")
        if now - last < self.agent.config.withdraw_every_seconds:
            return 0
        amount = self.port.withdrawable()
        if amount > 0:
            self.port.withdraw()
        self.state.set_cursor("last_withdraw", now)
        for a in self.state.auctions("delivered"):
            if self.port.info(a.auction_id).phase in ("delivered", "paid"):
                self.state.save_auction(a.auction_id, status="paid")
        return amount

    def tick(self) -> dict:
        """One pass of every step; returns what was done.

        Without consent (after ``disable``) or for a registry record another account owns, the
        agent settles, delivers and opens nothing (check-out cancelled the running auction with
        full refunds); it still withdraws what it was already paid."""
        with self._lock, self.agent._lock:  # the agent's lock guards the chain connection
            now = self.agent.clock(fresh=True)
            out = {"settled": [], "delivered": [], "opened": None}
            problem = self.agent.foreign_owner() if self.agent.registry is not None else None
            if problem:
                if problem != self._refused:
                    log.error(problem)
                self._refused = problem
                out["refused"] = problem
            elif self.agent.enabled():
                self._refused = ""
                out["settled"] = self.settle_due(now)
                out["delivered"] = self.deliver_due(now)
            out["cancelled"] = self.release_cancelled()
            out["withdrawn"] = self.withdraw_due(now)
            if not problem and self.agent.enabled():
                out["opened"] = self.maybe_open(now)
            return out

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        try:
            self.adopt_chain_auctions()
        except ExchangeError as exc:
            log.warning("could not read this device's auctions: %s", exc)
        while not stop.is_set():
            try:
                self.tick()
            except ExchangeError as exc:
                log.warning("selling loop: %s", exc)
            except Exception:  # noqa: BLE001 - a node hiccup must not end the loop; every step is retried
                log.exception("selling loop: unexpected error; retrying")
            stop.wait(interval)
