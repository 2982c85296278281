"""The Ledger protocol: what the purchase protocol needs from any ledger.

Two implementations: ``TangleLedger`` (feeless, the tangle node API) and ``EthereumLedger``
(MessageBoard contract: messages as events, pull payments with a memo). Code written
against ``Ledger`` runs unchanged on either; that is the "selectable ledger".

Cursors are opaque ints: pass the cursor a read returned as ``since`` to the next read to get
only what arrived after. ``incoming`` may return payments that are not confirmed yet
(``Payment.confirmed``); callers who act on value must wait for ``status(ref)`` to be
CONFIRMED (or call ``wait_confirmed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from exchange.errors import ExchangeError
from exchange.waiting import poll_until


class LedgerError(ExchangeError, RuntimeError):
    """A ledger operation failed."""


class LedgerRejected(LedgerError, ValueError):
    """The ledger refused a transaction or a request (bad amount, no funds, too large, revert)."""


class ConfirmationTimeout(LedgerError, TimeoutError):
    """A transaction did not confirm in time."""


class Confirmation(StrEnum):
    UNKNOWN = "unknown"  # the ledger has never seen this reference
    PENDING = "pending"  # seen, not (yet) confirmed
    CONFIRMED = "confirmed"  # final for our purposes
    REJECTED = "rejected"  # will never confirm (reverted, lost a conflict)


@dataclass(frozen=True)
class Payment:
    """A value transfer to an address, with the payer's memo."""

    ref: str
    sender: str
    to: str
    amount: int
    memo: bytes
    confirmed: bool


@dataclass(frozen=True)
class Message:
    """A tagged data message."""

    ref: str
    sender: str
    tag: str
    data: bytes


@runtime_checkable
class Ledger(Protocol):
    """One account on one ledger."""

    kind: str  # "tangle" or "ethereum"
    max_message_size: int

    @property
    def address(self) -> str:
        """This account's address on the ledger."""

    def balance(self, address: str | None = None) -> int:
        """Confirmed spendable balance of ``address`` (default: this account)."""

    def transfer(self, to: str, amount: int, memo: bytes = b"") -> str:
        """Send ``amount`` to ``to`` with ``memo``; returns the payment reference."""

    def incoming(self, address: str | None = None, since: int = 0) -> tuple[list[Payment], int]:
        """Payments to ``address`` (default: this account) after cursor ``since``; (payments, cursor)."""

    def status(self, ref: str) -> Confirmation:
        """Confirmation state of a payment or message reference."""

    def publish(self, tag: str, data: bytes) -> str:
        """Publish ``data`` under ``tag``; returns its reference."""

    def read(self, tag: str, since: int = 0) -> tuple[list[Message], int]:
        """Messages under ``tag`` after cursor ``since``, oldest first; (messages, cursor)."""


def wait_confirmed(ledger: Ledger, ref: str, timeout: float = 10.0, poll: float = 0.02) -> None:
    """Block until ``ref`` is CONFIRMED; ConfirmationTimeout or LedgerRejected otherwise."""
    last: list[Confirmation] = []

    def confirmed() -> bool:
        last[:] = [ledger.status(ref)]
        if last[0] is Confirmation.REJECTED:
            raise LedgerRejected(f"{ledger.kind} transaction {ref} was rejected")
        return last[0] is Confirmation.CONFIRMED

    poll_until(confirmed, timeout=timeout, interval=poll, on_timeout=lambda: ConfirmationTimeout(
        f"{ledger.kind} transaction {ref} not confirmed after {timeout:.1f}s ({last[0]})"))


def check_amount(amount) -> int:
    if type(amount) is not int or amount <= 0:
        raise LedgerRejected(f"amount must be a positive integer, got {amount!r}")
    return amount
