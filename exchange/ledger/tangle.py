"""TangleLedger: the Ledger protocol over a tangle node (``exchange.tangle.client``) and a wallet.

- ``transfer``: a feeless VALUE transaction with the memo (at most 1024 bytes).
- ``publish(tag, data)``: a DATA transaction under ``tag`` (1..64 chars); a tag that is exactly
  64 lower-case hex characters is a stream channel id and goes out as a native STREAM message.
  ``read(tag)`` finds either (the node indexes both by that text).
- References are transaction ids; CONFIRMED = referenced by a milestone, REJECTED = lost a
  conflict. ``incoming`` returns value transactions to the address in node arrival order,
  confirmed or not (``Payment.confirmed``); cursors are the node's ``find`` cursors.
"""

from __future__ import annotations

import re

from exchange.ledger.base import Confirmation, LedgerError, LedgerRejected, Message, Payment, check_amount

_CHANNEL = re.compile(r"^[0-9a-f]{64}$")
MAX_MEMO = 1024
PAGE = 500


class TangleLedger:
    kind = "tangle"
    max_message_size = 60 * 1024

    def __init__(self, client, wallet):
        """``client``: ``exchange.tangle.client.TangleClient``; ``wallet``: ``exchange.tangle.wallet.Wallet``."""
        self.client = client
        self.wallet = wallet

    @classmethod
    def connect(cls, url: str, wallet=None, timeout: float = 10):
        from exchange.tangle.client import TangleClient
        from exchange.tangle.wallet import Wallet

        return cls(TangleClient(url, timeout=timeout), wallet or Wallet.generate())

    @property
    def address(self) -> str:
        return self.wallet.address

    def balance(self, address: str | None = None) -> int:
        return self._guard(lambda: self.client.balance(address or self.address))

    def transfer(self, to: str, amount: int, memo: bytes = b"") -> str:
        check_amount(amount)
        if len(memo) > MAX_MEMO:
            raise LedgerRejected(f"memo of {len(memo)} bytes exceeds {MAX_MEMO}")
        if self.balance() < amount:  # an overspend would only be refused at the next milestone
            raise LedgerRejected(f"insufficient funds: {self.address} cannot pay {amount}")
        return self._guard(lambda: self.wallet.send(self.client, to, amount, memo))

    def incoming(self, address: str | None = None, since: int = 0) -> tuple[list[Payment], int]:
        who = address or self.address
        out: list[Payment] = []
        while True:
            items, cursor = self._guard(self.client.find, address=who, since=since, limit=PAGE, kind="value")
            for it in items:
                p = it.get("payload") or {}
                if it.get("kind") == "value" and p.get("to") == who:
                    out.append(Payment(it["id"], p["from"], who, int(p["amount"]), bytes.fromhex(p.get("memo", "")),
                                       bool(it.get("confirmed"))))
            if len(items) < PAGE or cursor == since:
                return out, cursor
            since = cursor

    def status(self, ref: str) -> Confirmation:
        try:
            tx = self._guard(lambda: self.client.get(ref))
        except LedgerRejected:  # 404 unknown / 400 not an id
            return Confirmation.UNKNOWN
        if tx.get("conflicting"):
            return Confirmation.REJECTED
        return Confirmation.CONFIRMED if tx.get("confirmed") else Confirmation.PENDING

    def publish(self, tag: str, data: bytes) -> str:
        if len(data) > self.max_message_size:
            raise LedgerRejected(f"message of {len(data)} bytes exceeds {self.max_message_size}")
        if _CHANNEL.match(tag):
            return self._guard(lambda: self.wallet.publish_stream(self.client, tag, data))
        return self._guard(lambda: self.wallet.publish(self.client, tag, data))

    def read(self, tag: str, since: int = 0) -> tuple[list[Message], int]:
        out: list[Message] = []
        while True:
            items, cursor = self._guard(self.client.find, tag=tag, since=since, limit=PAGE)
            for it in items:
                p = it.get("payload") or {}
                if it.get("kind") in ("data", "stream") and (p.get("tag") == tag or p.get("channel") == tag):
                    out.append(Message(it["id"], it.get("sender", ""), tag, bytes.fromhex(p.get("data", ""))))
            if len(items) < PAGE or cursor == since:
                return out, cursor
            since = cursor

    @staticmethod
    def _guard(fn, *args, **kwargs):
        from exchange.tangle.errors import TangleError, TangleRejected

        try:
            return fn(*args, **kwargs)
        except TangleRejected as exc:
            raise LedgerRejected(f"tangle node refused: {exc}") from exc
        except TangleError as exc:  # node down or failing: the caller may retry
            raise LedgerError(str(exc)) from exc
