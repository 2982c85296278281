"""The micro-purchase protocol: offers, purchase memos, sale answers and the sale decision.

Pure logic (no I/O). Messages are canonical JSON; offers and answers are signed by the device's
Ed25519 key (``{"body": {...}, "sig": hex}``), purchase memos ride in the payment itself.

Ledger tags:  offers  ``offers/<first 48 hex of device id>``
              answers ``sale/<purchase nonce hex>`` (the buyer chooses the nonce, so it knows
              where to look before it pays)

Decision for a confirmed payment of ``amount`` asking for ``n`` messages at ``price`` each
(``max_span`` caps a sale):
- same payment seen again (replay / re-scan): ignored, never sold twice;
- memo not a purchase, or names another device: full refund, no key (``malformed``/``wrong_device``);
- unknown stream: full refund (``unknown_stream``);
- the owner has withdrawn consent (the seller is closed; its offers are withdrawn on the
  ledger): full refund (``not_selling``);
- purchase nonce already used by an earlier sale: full refund (``duplicate``);
- ``amount < price``: full refund (``underpaid``);
- otherwise sells ``k = min(n, max_span, amount // price)`` messages (span proportional to the
  amount paid) and refunds ``amount - k * price`` (the over- or odd part) to the payer.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.crypto.tokens import normalize_device_id
from exchange.streams.errors import MalformedMessage

PROTOCOL = "thingbid/stream/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
MAX_SPAN = 1_000_000


def _canon(d: dict) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode()


def offers_tag(device_id: str) -> str:
    return "offers/" + normalize_device_id(device_id)[:48]


def answer_tag(nonce: str) -> str:
    return "sale/" + nonce


def sign_doc(signing_key: bytes, body: dict) -> bytes:
    sig = Ed25519PrivateKey.from_private_bytes(signing_key).sign(b"thingbid/stream-doc/v1\x00" + _canon(body))
    return _canon({"body": body, "sig": sig.hex()})


def open_doc(raw: bytes, device_public: bytes | None = None) -> tuple[dict, bytes]:
    """Parse a signed document; returns (body, signer key). Checks against ``device_public`` if given."""
    try:
        d = json.loads(raw)
        body, sig = d["body"], bytes.fromhex(d["sig"])
        signer = bytes.fromhex(body["pub"])
        if not isinstance(body, dict) or body.get("p") != PROTOCOL:
            raise ValueError("not a stream protocol document")
        Ed25519PublicKey.from_public_bytes(signer).verify(sig, b"thingbid/stream-doc/v1\x00" + _canon(body))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise MalformedMessage(f"not a valid signed stream document ({type(exc).__name__})") from exc
    if device_public is not None and signer != device_public:
        raise MalformedMessage("document signed by another key than the device's")
    return body, signer


@dataclass(frozen=True)
class Offer:
    device_id: str
    stream: str
    channel: str
    price: int  # per message, in the ledger's smallest unit
    pay_to: str
    ledger: str
    max_span: int
    device_public: str

    def body(self) -> dict:
        return {"p": PROTOCOL, "t": "offer", "dev": self.device_id, "stream": self.stream, "ch": self.channel,
                "price": self.price, "to": self.pay_to, "ledger": self.ledger, "max": self.max_span,
                "pub": self.device_public}

    @classmethod
    def from_body(cls, b: dict) -> Offer:
        try:
            if b["t"] != "offer" or type(b["price"]) is not int or b["price"] <= 0 or type(b["max"]) is not int:
                raise ValueError("bad offer")
            return cls(normalize_device_id(b["dev"]), b["stream"], b["ch"], b["price"], b["to"], b["ledger"],
                       b["max"], b["pub"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"not an offer ({exc})") from exc


def withdrawal_body(offer: Offer) -> dict:
    """A signed notice that ``offer`` is off sale (until the device advertises it again)."""
    return {"p": PROTOCOL, "t": "withdrawn", "dev": offer.device_id, "stream": offer.stream, "ch": offer.channel,
            "ledger": offer.ledger, "pub": offer.device_public}


@dataclass(frozen=True)
class PurchaseRequest:
    """The memo a buyer's payment carries."""

    device_id: str
    channel: str
    span: int
    buyer_key: str  # hex X25519 public key the answer is sealed to
    nonce: str  # 16 random bytes, hex: names the answer tag

    @classmethod
    def new(cls, device_id: str, channel: str, span: int, buyer_key: bytes) -> PurchaseRequest:
        return cls(normalize_device_id(device_id), channel, span, buyer_key.hex(), os.urandom(16).hex())

    def memo(self) -> bytes:
        return _canon({"p": PROTOCOL, "t": "buy", "dev": self.device_id, "ch": self.channel, "n": self.span,
                       "bk": self.buyer_key, "id": self.nonce})

    @classmethod
    def parse(cls, memo: bytes) -> PurchaseRequest:
        try:
            d = json.loads(memo)
            if d.get("p") != PROTOCOL or d.get("t") != "buy":
                raise ValueError("not a purchase")
            req = cls(normalize_device_id(d["dev"]), d["ch"], d["n"], d["bk"], d["id"])
            if not (_HEX64.match(req.channel) and _HEX64.match(req.buyer_key) and _HEX32.match(req.nonce)):
                raise ValueError("bad field")
            if type(req.span) is not int or not 0 < req.span <= MAX_SPAN:
                raise ValueError("bad span")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise MalformedMessage(f"payment memo is not a purchase ({exc})") from exc
        return req


@dataclass(frozen=True)
class Decision:
    sell: int  # messages sold (0: refused)
    refund: int
    reason: str  # "" when sold in full; "partial" when fewer than asked; else why refused
    request: PurchaseRequest | None


def decide(device_id: str, offers: dict[str, Offer], amount: int, memo: bytes,
           used_nonces: set[str] | frozenset[str]) -> Decision:
    """What to do with a confirmed, not-yet-seen payment (see the module docstring)."""
    try:
        req = PurchaseRequest.parse(memo)
    except MalformedMessage:
        return Decision(0, amount, "malformed", None)
    if req.device_id != normalize_device_id(device_id):
        return Decision(0, amount, "wrong_device", req)
    offer = offers.get(req.channel)
    if offer is None:
        return Decision(0, amount, "unknown_stream", req)
    if req.nonce in used_nonces:
        return Decision(0, amount, "duplicate", req)
    k = min(req.span, offer.max_span, amount // offer.price)
    if k <= 0:
        return Decision(0, amount, "underpaid", req)
    return Decision(k, amount - k * offer.price, "" if k == req.span else "partial", req)
