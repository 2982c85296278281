"""The device side of stream sales: publish channels, watch payments, answer with sealed roots.

``StreamSeller`` is what the device agent runs: ``add_stream`` + ``advertise`` once,
``publish(stream, reading)`` for every reading, and ``poll()`` (or ``run(stop)`` in a thread)
to turn confirmed payments into sales following ``protocol.decide``.

Never selling twice: a payment's reference is written to the sale book (a JSON file when
``book_path`` is given, so restarts keep it) *before* the key is sent or a refund is made;
a payment seen again is ignored. Should the book be lost, the device's own signed answers on
the ledger still stop a second sale of a payment or a purchase nonce (refunds of payments
without a purchase memo are not cross-checked that way and could repeat). The price of that ordering: a crash between the two loses
one answer (the buyer is not served twice, nor is it served at all; it can prove payment).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from exchange.crypto.sealed import seal
from exchange.crypto.tokens import ed25519_public, normalize_device_id
from exchange.ledger.base import Confirmation, Ledger, LedgerError, Payment
from exchange.streams.channel import ChannelWriter
from exchange.streams.errors import MalformedMessage, StreamError
from exchange.streams.protocol import (
    PROTOCOL,
    Decision,
    Offer,
    PurchaseRequest,
    answer_tag,
    decide,
    offers_tag,
    open_doc,
    sign_doc,
    withdrawal_body,
)

log = logging.getLogger(__name__)

ROOT_CONTEXT = b"thingbid/stream-root/v1\x00"


@dataclass(frozen=True)
class SaleRecord:
    payment_ref: str
    payer: str
    amount: int
    sold: int
    refund: int
    reason: str
    channel: str | None
    answer_ref: str | None
    refund_ref: str | None


class SaleBook:
    """Payments already handled, purchase nonces used, payments waiting for confirmation, the cursor."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else None
        self.cursor = 0
        self.done: set[str] = set()
        self.nonces: set[str] = set()
        self.pending: dict[str, Payment] = {}
        if self.path and self.path.exists():
            try:
                d = json.loads(self.path.read_text())
                self.cursor, self.done, self.nonces = d["cursor"], set(d["done"]), set(d["nonces"])
                self.pending = {p["ref"]: Payment(**{**p, "memo": bytes.fromhex(p["memo"])}) for p in d["pending"]}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise StreamError(f"sale book {self.path} is unreadable: {exc}") from exc

    def save(self) -> None:
        if not self.path:
            return
        doc = {"cursor": self.cursor, "done": sorted(self.done), "nonces": sorted(self.nonces),
               "pending": [{**asdict(p), "memo": p.memo.hex()} for p in self.pending.values()]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.path)


class StreamSeller:
    def __init__(self, ledger: Ledger, device_id: str, signing_key: bytes, *,
                 book_path: str | os.PathLike | None = None, min_refund: int = 1):
        self.ledger = ledger
        self.device_id = normalize_device_id(device_id)
        self.signing_key = signing_key
        self.device_public = ed25519_public(signing_key)
        self.book = SaleBook(book_path)
        self.min_refund = min_refund
        self.writers: dict[str, ChannelWriter] = {}  # channel hex -> writer
        self.offers: dict[str, Offer] = {}
        self.by_name: dict[str, str] = {}
        self.sales: list[SaleRecord] = []
        self._channel_cursor: dict[str, int] = {}
        self._unpublished: dict[str, list[bytes]] = {}
        self._lock = threading.RLock()
        self.closed = False  # the owner withdrew consent: offers withdrawn, every payment refunded

    # -- streams --
    def add_stream(self, name: str, price: int, max_span: int = 10_000,
                   writer: ChannelWriter | None = None) -> Offer:
        if type(price) is not int or price <= 0:
            raise StreamError("price per message must be a positive integer")
        w = writer or ChannelWriter(self.signing_key, name)
        if writer is not None:  # restored state: continue after what was published since it was saved
            msgs, _ = self.ledger.read(w.tag, 0)
            skipped = w.resume_after(m.data for m in msgs)
            if skipped:
                log.warning("stream %s: %d message(s) published after the saved state; continuing at %d",
                            name, skipped, w.seq)
        offer = Offer(self.device_id, name, w.tag, price, self.ledger.address, self.ledger.kind, max_span,
                      self.device_public.hex())
        with self._lock:
            self.writers[w.tag], self.offers[w.tag], self.by_name[name] = w, offer, w.tag
            self._unpublished.setdefault(w.tag, [])
        return offer

    def advertise(self) -> list[str]:
        """Publish every stream's signed offer under the device's offers tag."""
        with self._lock:  # warm the channel cursors so the first sale need not scan the whole channel
            for ch in self.offers:
                self._channel_since(ch)
        return [self.ledger.publish(offers_tag(self.device_id), sign_doc(self.signing_key, o.body()))
                for o in self.offers.values()]

    def close(self) -> list[str]:
        """Stop selling: publish a signed withdrawal of every offer; payments arriving from now on
        (made against an old offer) are refunded in full with reason ``not_selling``."""
        with self._lock:
            self.closed = True
            return [self.ledger.publish(offers_tag(self.device_id), sign_doc(self.signing_key, withdrawal_body(o)))
                    for o in self.offers.values()]

    def reopen(self) -> list[str]:
        """Sell again: advertise every offer anew."""
        with self._lock:
            self.closed = False
        return self.advertise()

    def writer(self, stream: str) -> ChannelWriter:
        try:
            return self.writers[self.by_name[stream]]
        except KeyError:
            raise StreamError(f"no stream named {stream!r}") from None

    def publish(self, stream: str, data: bytes | dict) -> str | None:
        """Seal the next channel message and publish it (and any earlier one a ledger error held back)."""
        raw = data if isinstance(data, bytes) else json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        w = self.writer(stream)
        with self._lock:
            queue = self._unpublished[w.tag]
            queue.append(w.seal(raw))
            ref = None
            while queue:  # in order, so readers rarely see a reorder
                ref = self.ledger.publish(w.tag, queue[0])
                queue.pop(0)
            return ref

    def rotate(self, stream: str) -> None:
        """Rotate the read key on demand (from the next message)."""
        self.writer(stream).rotate()

    # -- sales --
    def poll(self) -> list[SaleRecord]:
        """Take in new payments, handle the confirmed ones; returns the sales made now."""
        with self._lock:
            found, cursor = self.ledger.incoming(self.ledger.address, self.book.cursor)
            changed = cursor != self.book.cursor
            for p in found:
                if p.ref not in self.book.done and p.ref not in self.book.pending:
                    self.book.pending[p.ref] = p
                    changed = True
            self.book.cursor = cursor
            ready = []
            for ref, p in list(self.book.pending.items()):
                state = Confirmation.CONFIRMED if p.confirmed else self.ledger.status(ref)
                if state is Confirmation.CONFIRMED:
                    ready.append(p)
                elif state is Confirmation.REJECTED:
                    del self.book.pending[ref]
                    self.book.done.add(ref)
                    changed = True
            out = []
            for p in ready:
                # Record first: whatever happens next, this payment is never sold again.
                del self.book.pending[p.ref]
                self.book.done.add(p.ref)
                answered = self._answered_on_ledger(p.memo)
                if p.ref in answered:  # answered before the sale book was lost: still never twice
                    self.book.save()
                    continue
                d = decide(self.device_id, self.offers, p.amount, p.memo, self.book.nonces | set(answered.values()))
                if self.closed and d.sell:
                    d = Decision(0, p.amount, "not_selling", d.request)
                if d.request and d.reason != "duplicate" and d.sell:
                    self.book.nonces.add(d.request.nonce)
                self.book.save()
                out.append(self._answer(p, d))
            if changed and not ready:
                self.book.save()
            self.sales.extend(out)
            return out

    def _answered_on_ledger(self, memo: bytes) -> dict[str, str]:
        """Our earlier sale answers under this purchase's nonce: {payment ref: nonce}, for sales made.

        The ledger is the record that outlives the sale book: a payment answered there is not
        sold again, and a nonce sold there is a duplicate, even after the book was lost."""
        try:
            req = PurchaseRequest.parse(memo)
            msgs, _ = self.ledger.read(answer_tag(req.nonce), 0)
        except (MalformedMessage, LedgerError):
            return {}
        out = {}
        for m in msgs:
            try:
                body, _ = open_doc(m.data, self.device_public)
            except MalformedMessage:
                continue
            if body.get("t") == "sale" and body.get("id") == req.nonce and body.get("n"):
                out[body.get("pay")] = req.nonce
        return out

    def _answer(self, p: Payment, d) -> SaleRecord:
        req = d.request
        box = None
        if d.sell:
            w = self.writers[req.channel]
            since = self._channel_since(req.channel)
            root = w.open_span(d.sell, since)
            box = seal(bytes.fromhex(req.buyer_key), root.to_bytes(), ROOT_CONTEXT + bytes.fromhex(req.nonce)).hex()
        answer_ref = refund_ref = None
        if req is not None:
            body = {"p": PROTOCOL, "t": "sale", "pub": self.device_public.hex(), "dev": self.device_id,
                    "pay": p.ref, "id": req.nonce, "n": d.sell, "refund": d.refund if d.refund >= self.min_refund
                    else 0, "reason": d.reason, "box": box}
            try:
                answer_ref = self.ledger.publish(answer_tag(req.nonce), sign_doc(self.signing_key, body))
            except LedgerError as exc:
                log.error("stream sale %s: answer not published: %s", p.ref, exc)
        if d.refund >= self.min_refund:
            memo = json.dumps({"p": PROTOCOL, "t": "refund", "pay": p.ref, "reason": d.reason or "change"},
                              separators=(",", ":")).encode()
            try:
                refund_ref = self.ledger.transfer(p.sender, d.refund, memo)
            except LedgerError as exc:
                log.error("stream sale %s: refund of %d to %s failed: %s", p.ref, d.refund, p.sender, exc)
        log.info("stream payment %s from %s: amount %d, sold %d, refund %d %s", p.ref, p.sender, p.amount,
                 d.sell, d.refund, d.reason)
        return SaleRecord(p.ref, p.sender, p.amount, d.sell, d.refund, d.reason, req.channel if req else None,
                          answer_ref, refund_ref)

    def _channel_since(self, channel: str) -> int:
        """A ledger cursor before the next channel message (so buyers need not scan from the start)."""
        since = self._channel_cursor.get(channel, 0)
        try:
            _, since = self.ledger.read(channel, since)
        except LedgerError:
            return self._channel_cursor.get(channel, 0)
        self._channel_cursor[channel] = since
        return since

    def run(self, stop: threading.Event, interval: float = 0.05) -> None:
        """Poll until ``stop`` is set (for a background thread); ledger errors are logged, not fatal."""
        while not stop.is_set():
            try:
                self.poll()
            except LedgerError as exc:
                log.warning("stream seller poll failed: %s", exc)
            stop.wait(interval)

    def export_channels(self) -> dict:
        """Channel writer states (SECRET: read keys); persist with exchange.crypto.keystore."""
        with self._lock:
            return {ch: w.export_state() for ch, w in self.writers.items()}
