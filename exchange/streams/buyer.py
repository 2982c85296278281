"""The buyer side: find a device's offers, pay with a purchase memo, receive the sealed root, read."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from exchange.crypto.errors import CryptoError
from exchange.crypto.sealed import generate_x25519, open_sealed, x25519_public
from exchange.crypto.tokens import normalize_device_id
from exchange.ledger.base import Ledger
from exchange.streams.channel import ChannelRoot
from exchange.streams.errors import MalformedMessage, PurchaseError, PurchaseTimeout, SaleRefused
from exchange.streams.follow import ChannelFollower
from exchange.streams.protocol import Offer, PurchaseRequest, answer_tag, offers_tag, open_doc
from exchange.streams.records import DeviceRecords, offer_refusal
from exchange.streams.seller import ROOT_CONTEXT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purchase:
    offer: Offer
    request: PurchaseRequest
    payment_ref: str
    paid: int
    root: ChannelRoot
    sold: int
    refund: int
    reason: str
    seconds: float  # from paying to holding the key


class StreamBuyer:
    """A buyer on one ledger. ``registry`` is where offers are checked (exchange.streams.records):
    an offer that does not match the device's registry record is ignored, with the reason logged."""

    def __init__(self, ledger: Ledger, x25519_private: bytes | None = None, *, registry: DeviceRecords):
        self.ledger = ledger
        self.registry = registry
        self.x25519_private = x25519_private or generate_x25519()[0]
        self.x25519_public = x25519_public(self.x25519_private)

    def offers(self, device_id: str, device_public: bytes | None = None) -> list[Offer]:
        """The device's current genuine offers (latest per stream): signature-checked, paying to and
        published by the address its registry record names for this ledger."""
        dev = normalize_device_id(device_id)
        msgs, _ = self.ledger.read(offers_tag(dev), 0)
        if not msgs:
            return []
        record = self.registry.record(dev)
        latest: dict[str, Offer] = {}
        for m in msgs:
            try:
                body, signer = open_doc(m.data, device_public)
                if body.get("t") == "withdrawn":  # the owner took this stream off sale
                    gone = latest.get(body.get("stream"))
                    if gone is not None and gone.device_public == signer.hex() and body.get("ch") == gone.channel:
                        del latest[gone.stream]
                    continue
                offer = Offer.from_body(body)
            except MalformedMessage:
                continue
            if offer.device_id != dev or offer.device_public != signer.hex() or offer.ledger != self.ledger.kind:
                continue
            refusal = offer_refusal(offer, m.sender, record, self.ledger.kind)
            if refusal is not None:
                log.warning("ignoring offer %s of device %s (stream %r): %s", m.ref, dev[:12], offer.stream, refusal)
                continue
            latest[offer.stream] = offer
        return list(latest.values())

    def offer(self, device_id: str, stream: str | None = None, device_public: bytes | None = None) -> Offer:
        found = self.offers(device_id, device_public)
        if stream is not None:
            found = [o for o in found if o.stream == stream]
        if not found:
            raise PurchaseError(f"device {device_id} offers no stream{' ' + repr(stream) if stream else ''} "
                                f"on the {self.ledger.kind} ledger (no genuine offer: none that matches its "
                                "registry record)")
        return found[0]

    def pay(self, offer: Offer, span: int, amount: int | None = None,
            channel: str | None = None) -> tuple[PurchaseRequest, str, int]:
        """Send the payment (``amount`` defaults to the exact price); returns (request, ref, amount)."""
        if type(span) is not int or span <= 0:
            raise PurchaseError("span must be a positive number of messages")
        req = PurchaseRequest.new(offer.device_id, channel or offer.channel, span, self.x25519_public)
        amount = offer.price * span if amount is None else amount
        return req, self.ledger.transfer(offer.pay_to, amount, req.memo()), amount

    def await_answer(self, offer: Offer, req: PurchaseRequest, payment_ref: str, paid: int,
                     timeout: float = 30.0, started: float | None = None, interval: float = 0.01) -> Purchase:
        """Wait for the device's signed answer; returns the Purchase or raises SaleRefused/PurchaseTimeout."""
        started = started or time.monotonic()
        deadline = time.monotonic() + timeout
        cursor = 0
        pub = bytes.fromhex(offer.device_public)
        while True:
            msgs, cursor = self.ledger.read(answer_tag(req.nonce), cursor)
            for m in msgs:
                try:
                    body, _ = open_doc(m.data, pub)
                except MalformedMessage:
                    continue  # someone else's noise under our tag
                if body.get("t") != "sale" or body.get("id") != req.nonce or body.get("pay") != payment_ref:
                    continue
                if not body.get("n"):
                    raise SaleRefused(body.get("reason", "refused"), body.get("refund", 0))
                try:
                    raw = open_sealed(self.x25519_private, bytes.fromhex(body["box"]),
                                      ROOT_CONTEXT + bytes.fromhex(req.nonce))
                    root = ChannelRoot.from_bytes(raw)
                except (CryptoError, MalformedMessage, ValueError, TypeError) as exc:
                    raise PurchaseError(f"the device's answer does not open: {exc}") from exc
                if root.channel != req.channel or root.device_public != offer.device_public:
                    raise PurchaseError("the device answered with a root for another channel")
                return Purchase(offer, req, payment_ref, paid, root, body["n"], body.get("refund", 0),
                                body.get("reason", ""), time.monotonic() - started)
            if time.monotonic() > deadline:
                raise PurchaseTimeout(f"no answer to payment {payment_ref} within {timeout:.0f}s")
            time.sleep(interval)

    def buy(self, device_id: str, span: int, stream: str | None = None, amount: int | None = None,
            timeout: float = 30.0, device_public: bytes | None = None) -> Purchase:
        offer = self.offer(device_id, stream, device_public)
        t0 = time.monotonic()
        req, ref, paid = self.pay(offer, span, amount)
        return self.await_answer(offer, req, ref, paid, timeout, started=t0)

    def follower(self, purchase: Purchase | ChannelRoot, gap_timeout: float = 5.0) -> ChannelFollower:
        root = purchase.root if isinstance(purchase, Purchase) else purchase
        return ChannelFollower(self.ledger, root, gap_timeout)
