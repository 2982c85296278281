"""One client issuing value transfers fast (issue 19: "one client issuing >= 1,000 tx/s").

``Wallet.send`` asks the node for the account (sequence, last pending) and for tips before every
transfer, then submits it alone: three round trips per transfer. ``Issuer`` keeps the account
state itself (one ``account`` call at the start, and again only after the node refused a
transfer), selects tips locally (from a pool refreshed from ``GET /v1/tips`` every
``tips_refresh_s``, plus its own previous transfer, which every transfer approves so that the
milestone order applies them in sequence) and submits in batches (``POST /v1/transactions/batch``),
so the cost per transfer is its proof of work and signature.
"""

from __future__ import annotations

import random
import time

from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.wallet import Wallet


class Issuer:
    def __init__(self, wallet: Wallet, client: TangleClient, batch: int = 100, tips_refresh_s: float = 0.5,
                 rng: random.Random | None = None):
        if not 1 <= batch <= 1000:
            raise ValueError("batch must be 1..1000 (the node's batch limit)")
        self.wallet, self.client, self.batch, self.tips_refresh_s = wallet, client, batch, tips_refresh_s
        self._rng = rng or random.Random()
        self._info: dict | None = None
        self._tips: list[bytes] = []
        self._tips_at = 0.0
        self._next_seq: int | None = None
        self._last: bytes | None = None
        self.resyncs = 0

    def _sync_account(self) -> None:
        acct = self.client.account(self.wallet.address)
        self._next_seq = acct["next_sequence"]
        self._last = bytes.fromhex(acct["last_pending"]) if acct.get("last_pending") else None

    def _tip(self) -> bytes:
        now = time.monotonic()
        if not self._tips or now - self._tips_at > self.tips_refresh_s:
            self._tips = [bytes.fromhex(t) for t in self.client.tips()]
            self._tips_at = now
        return self._rng.choice(self._tips)

    def _build(self, to: str, amount: int, memo: bytes) -> bytes:
        parents = sorted({self._last or self._tip(), self._tip()})
        raw = txm.build(self.wallet._key, txm.VALUE, txm.value_payload(to, amount, self._next_seq, memo),
                        parents * 2 if len(parents) < 2 else parents, network=self._info["network"],
                        difficulty=self._info["pow_difficulty"])
        self._last = txm.blake(raw)
        self._next_seq += 1
        return raw

    def send_many(self, transfers: list[tuple[str, int]], memo: bytes = b"") -> list[dict]:
        """Issue ``(to, amount)`` transfers in order; per transfer ``{"id"}`` or the node's
        ``{"error", "status"}``. After a refusal the account is read again from the node (the
        rest of that batch, built on the refused one, is refused as well and not retried)."""
        if self._info is None:
            self._info = self.client.info()
        if self._next_seq is None:
            self._sync_account()
        out: list[dict] = []
        for i in range(0, len(transfers), self.batch):
            raws = [self._build(to, amount, memo) for to, amount in transfers[i:i + self.batch]]
            res = self.client.submit_batch(raws)
            out += res
            if any("error" in r for r in res):
                self.resyncs += 1
                self._info = self.client.info()  # the difficulty may have risen with the load
                self._sync_account()
        return out
