"""Encrypted, signed, hash-chained data channels (in the spirit of IOTA's MAM).

Wire format of one message (big-endian)::

    header  = "TBS1" | channel 32 | seq u64 | prev 32 | epoch u32 | n_grants u16
              | grants n*(grant_id 8 | nonce 12 | wrapped key 48) | nonce 12
    message = header | AES-256-GCM(epoch key, nonce, plaintext, aad=header) | Ed25519 sig 64

The signature (device key) covers a domain prefix + everything before it. ``prev`` is the
SHA-256 of the previous message's bytes (zeros for message 0), so a reader who knows where it
starts detects a missing message (gap), an earlier one after a later one (reorder/replay) and a
spliced or forged one (broken link / bad signature).

Read keys: every message is encrypted with its epoch's random read key. The writer starts a
new epoch (fresh random key, never derived from the old one) when a sold span starts, when one
ends, and on demand. A buyer receives, sealed to its X25519 key, a ``ChannelRoot``: where its
span starts (seq + prev hash), the epoch key at that start, and a personal grant key. When the
writer rotates while the buyer's span is still running, the first message of the new epoch
carries a *grant*: the new key wrapped under that buyer's grant key. Spans that have ended get
no grant, so their holders cannot read anything newer.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from dataclasses import asdict, dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.crypto.tokens import ed25519_public
from exchange.streams.errors import (
    BrokenLink,
    ForgedMessage,
    GapDetected,
    MalformedMessage,
    NoReadKey,
    ReorderedMessage,
)

MAGIC = b"TBS1"
_DOMAIN = b"thingbid/stream-message/v1\x00"
_HEAD = struct.Struct(">4s32sQ32sIH")
_GRANT = struct.Struct(">8s12s48s")
_NONCE, _SIG, _TAG = 12, 64, 16
ZERO = bytes(32)
MAX_GRANTS = 200


def channel_id(device_public: bytes, stream: str) -> bytes:
    """The 32-byte id of a device's named stream."""
    return hashlib.sha256(b"thingbid/channel/v1\x00" + device_public + stream.encode()).digest()


def message_hash(wire: bytes) -> bytes:
    return hashlib.sha256(wire).digest()


def _grant_id(grant_key: bytes) -> bytes:
    return hashlib.sha256(b"thingbid/grant-id\x00" + grant_key).digest()[:8]


def _grant_aad(channel: bytes, seq: int, epoch: int) -> bytes:
    return b"thingbid/grant\x00" + channel + struct.pack(">QI", seq, epoch)


@dataclass(frozen=True)
class ChannelRoot:
    """What a buyer receives: where to start reading, the keys, and when its span ends."""

    channel: str  # hex channel id (also the ledger tag of its messages)
    device_public: str  # hex Ed25519 key that signs the channel
    seq: int  # first message of the span
    prev: str  # hex hash the first message links to
    epoch: int
    key: str  # hex read key of ``epoch``
    grant_key: str  # hex personal key unwrapping later epochs' keys during the span
    span_end: int  # first message NOT bought
    since: int = 0  # ledger cursor hint: messages of the span are after it

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ChannelRoot:
        try:
            d = json.loads(raw)
            root = cls(**d)
            for name in ("channel", "device_public", "prev", "key", "grant_key"):
                if len(bytes.fromhex(getattr(root, name))) != 32:
                    raise ValueError(name)
            if not all(type(getattr(root, n)) is int and getattr(root, n) >= 0
                       for n in ("seq", "epoch", "span_end", "since")) or root.span_end <= root.seq:
                raise ValueError("numbers")
        except (ValueError, TypeError) as exc:
            raise MalformedMessage(f"not a channel root ({exc})") from exc
        return root

    @property
    def span(self) -> int:
        return self.span_end - self.seq


@dataclass(frozen=True)
class Header:
    channel: bytes
    seq: int
    prev: bytes
    epoch: int
    grants: tuple[tuple[bytes, bytes, bytes], ...]
    nonce: bytes
    header_len: int


def parse(wire: bytes) -> Header:
    """Structure only (no signature or decryption)."""
    if not isinstance(wire, bytes | bytearray) or len(wire) < _HEAD.size + _NONCE + _TAG + _SIG:
        raise MalformedMessage("too short for a channel message")
    magic, channel, seq, prev, epoch, n = _HEAD.unpack_from(wire)
    if magic != MAGIC:
        raise MalformedMessage("not a channel message (bad magic)")
    off = _HEAD.size
    end = off + n * _GRANT.size
    if n > MAX_GRANTS or len(wire) < end + _NONCE + _TAG + _SIG:
        raise MalformedMessage("grant list does not fit the message")
    grants = tuple(_GRANT.unpack_from(wire, off + i * _GRANT.size) for i in range(n))
    return Header(channel, seq, prev, epoch, grants, bytes(wire[end:end + _NONCE]), end + _NONCE)


@dataclass
class _Span:
    grant_key: bytes
    start: int
    end: int
    epoch: int  # the epoch whose key the buyer got directly


@dataclass
class ChannelWriter:
    """The device side of one channel. Thread-safe; keep its state secret (it holds keys)."""

    signing_key: bytes  # raw Ed25519 private key of the device
    stream: str = "default"
    seq: int = 0
    prev: bytes = ZERO
    epoch: int = 0
    key: bytes = field(default_factory=lambda: os.urandom(32))
    _pending: bytes | None = None  # key of the epoch that starts at the next message
    _spans: list[_Span] = field(default_factory=list)

    def __post_init__(self):
        self._sk = Ed25519PrivateKey.from_private_bytes(self.signing_key)
        self.device_public = ed25519_public(self.signing_key)
        self.channel = channel_id(self.device_public, self.stream)
        self._lock = threading.RLock()

    @property
    def tag(self) -> str:
        return self.channel.hex()

    def rotate(self) -> None:
        """Start a new epoch (fresh key) at the next message; spans still running get a grant."""
        with self._lock:
            if self._pending is None:
                self._pending = os.urandom(32)

    def open_span(self, n: int, since: int = 0) -> ChannelRoot:
        """Sell the next ``n`` messages: rotate at the next message and return the buyer's root."""
        if type(n) is not int or n <= 0:
            raise ValueError("span must be a positive number of messages")
        with self._lock:
            self.rotate()
            grant_key = os.urandom(32)
            self._spans.append(_Span(grant_key, self.seq, self.seq + n, self.epoch + 1))
            return ChannelRoot(self.tag, self.device_public.hex(), self.seq, self.prev.hex(), self.epoch + 1,
                               self._pending.hex(), grant_key.hex(), self.seq + n, since)

    def active_spans(self) -> int:
        with self._lock:
            return sum(1 for s in self._spans if s.end > self.seq)

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt, link and sign the next message; returns its wire bytes (publish them in order)."""
        with self._lock:
            seq = self.seq
            ended = [s for s in self._spans if s.end <= seq]
            if ended:
                self._spans = [s for s in self._spans if s.end > seq]
                self.rotate()  # a span ended: its holders must not read on
            grants = []
            if self._pending is not None:
                self.epoch += 1
                self.key, self._pending = self._pending, None
                for s in self._spans:
                    if s.epoch != self.epoch:  # holders of older keys get the new one wrapped
                        gn = os.urandom(_NONCE)
                        wrapped = AESGCM(s.grant_key).encrypt(gn, self.key, _grant_aad(self.channel, seq, self.epoch))
                        grants.append(_GRANT.pack(_grant_id(s.grant_key), gn, wrapped))
            if len(grants) > MAX_GRANTS:
                raise ValueError(f"more than {MAX_GRANTS} concurrent spans")
            nonce = os.urandom(_NONCE)
            header = _HEAD.pack(MAGIC, self.channel, seq, self.prev, self.epoch, len(grants)) + b"".join(grants) + nonce
            body = header + AESGCM(self.key).encrypt(nonce, bytes(plaintext), header)
            wire = body + self._sk.sign(_DOMAIN + body)
            self.seq, self.prev = seq + 1, message_hash(wire)
            return wire

    def resume_after(self, wires) -> int:
        """Catch up with messages this channel published after its state was saved (a restart).

        Follows the hash links from the saved position through ``wires`` (any order; only this
        device's correctly signed messages count) and continues after the last one. The read
        key those later messages used may be lost with the crash, so the next message starts a
        fresh epoch (running spans get grants as usual). Returns how many messages were skipped.
        """
        pk = Ed25519PublicKey.from_public_bytes(self.device_public)
        with self._lock:
            found: dict[int, bytes] = {}
            for wire in wires:
                try:
                    h = parse(wire)
                    if h.channel != self.channel or h.seq < self.seq:
                        continue
                    pk.verify(bytes(wire[-_SIG:]), _DOMAIN + bytes(wire[:-_SIG]))
                except (MalformedMessage, InvalidSignature):
                    continue
                found.setdefault(h.seq, bytes(wire))
            skipped = 0
            while self.seq in found and parse(found[self.seq]).prev == self.prev:
                wire = found[self.seq]
                self.epoch = max(self.epoch, parse(wire).epoch)
                self.seq, self.prev = self.seq + 1, message_hash(wire)
                skipped += 1
            if skipped:
                self.rotate()
            return skipped

    def export_state(self) -> dict:
        """Everything needed to continue the channel after a restart (secret: store encrypted)."""
        with self._lock:
            return {"stream": self.stream, "seq": self.seq, "prev": self.prev.hex(), "epoch": self.epoch,
                    "key": self.key.hex(), "pending": self._pending.hex() if self._pending else None,
                    "spans": [[s.grant_key.hex(), s.start, s.end, s.epoch] for s in self._spans]}

    @classmethod
    def from_state(cls, signing_key: bytes, state: dict) -> ChannelWriter:
        w = cls(signing_key, state["stream"], state["seq"], bytes.fromhex(state["prev"]), state["epoch"],
                bytes.fromhex(state["key"]))
        w._pending = bytes.fromhex(state["pending"]) if state["pending"] else None
        w._spans = [_Span(bytes.fromhex(g), a, b, e) for g, a, b, e in state["spans"]]
        return w


@dataclass(frozen=True)
class Reading:
    seq: int
    epoch: int
    data: bytes
    hash: bytes

    def json(self):
        return json.loads(self.data)


class ChannelReader:
    """Strict in-order reader from a root: every message must be the next one, linked and signed."""

    def __init__(self, root: ChannelRoot):
        self.root = root
        self.channel = bytes.fromhex(root.channel)
        self._pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex(root.device_public))
        self.next_seq = root.seq
        self.prev = bytes.fromhex(root.prev)
        self.keys = {root.epoch: bytes.fromhex(root.key)}
        self._grant_key = bytes.fromhex(root.grant_key)
        self._grant_id = _grant_id(self._grant_key)

    @property
    def span_over(self) -> bool:
        return self.next_seq >= self.root.span_end

    def verify(self, wire: bytes) -> Header:
        """Check structure, channel and signature (no decryption, no order)."""
        h = parse(wire)
        if h.channel != self.channel:
            raise ForgedMessage("message belongs to another channel")
        try:
            self._pk.verify(bytes(wire[-_SIG:]), _DOMAIN + bytes(wire[:-_SIG]))
        except InvalidSignature as exc:
            raise ForgedMessage(f"message {h.seq}: bad device signature") from exc
        return h

    def accept(self, wire: bytes, verified: Header | None = None) -> Reading:
        """Verify and decrypt the next message; raises a StreamError describing what is wrong.

        ``verified``: the header ``verify(wire)`` already returned for these very bytes (skips
        checking the signature twice).
        """
        h = verified or self.verify(wire)
        if h.seq > self.next_seq:
            raise GapDetected(self.next_seq, h.seq)
        if h.seq < self.next_seq:
            raise ReorderedMessage(self.next_seq, h.seq)
        if h.prev != self.prev:
            raise BrokenLink(f"message {h.seq} does not link to message {h.seq - 1}")
        key = self.keys.get(h.epoch) or self._unwrap(h)
        try:
            plain = AESGCM(key).decrypt(h.nonce, bytes(wire[h.header_len:-_SIG]), bytes(wire[:h.header_len]))
        except InvalidTag as exc:
            raise ForgedMessage(f"message {h.seq} does not decrypt under its epoch key") from exc
        digest = message_hash(bytes(wire))
        self.next_seq, self.prev = h.seq + 1, digest
        return Reading(h.seq, h.epoch, plain, digest)

    def _unwrap(self, h: Header) -> bytes:
        for gid, gn, wrapped in h.grants:
            if gid == self._grant_id:
                try:
                    key = AESGCM(self._grant_key).decrypt(gn, wrapped, _grant_aad(self.channel, h.seq, h.epoch))
                except InvalidTag as exc:
                    raise ForgedMessage(f"message {h.seq}: grant does not unwrap") from exc
                self.keys = {h.epoch: key}  # older keys are no longer needed going forward
                return key
        raise NoReadKey(h.seq, h.epoch)
