"""Canonical transaction encoding, ids, proof of work and Ed25519 signatures.

Layout (version 1, big-endian, struct-packed)::

    essence = "TB" | version u8 | network u32 | kind u8 | timestamp_ms u64
              | n_parents u8 | parents 32*n | issuer pubkey 32 | payload_len u32 | payload
    tx      = essence | signature 64 (Ed25519 over essence) | nonce u64

``id = BLAKE2b-256(tx)``; proof of work means ``id`` has at least ``difficulty`` leading
zero bits, so checking PoW costs the one hash that computes the id anyway.

Parents: 2..8 references in ascending order; repeats are allowed (IOTA's trunk == branch)
so the first transaction can approve the genesis twice.

Payloads by kind:
  VALUE     to 32 | amount u64 | sequence u64 | memo_len u16 | memo     (account model)
  DATA      tag_len u8 | tag utf-8 (1..64) | data
  STREAM    channel 32 | data
  MILESTONE index u64 | ledger_root 32                                 (coordinator only)
            (ledger_root: see ``ledger``; the 8-byte form without it is the pre-commitment
            format, decoded with ``ledger_root = None`` and refused by nodes for new milestones)

Value transfers use accounts: the sender is the issuer's address and every account has a
sequence number that starts at 0; a transfer must carry exactly the account's next sequence.
Two transfers with the same (issuer, sequence), or one that overspends, conflict; the
milestone order decides which one wins (see ``ledger``).
"""

from __future__ import annotations

import functools
import hashlib
import struct
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.tangle.errors import TxFormatError

MAGIC = b"TB"
VERSION = 1
MAX_TX_SIZE = 64 * 1024
MIN_PARENTS, MAX_PARENTS = 2, 8
GENESIS_ID = bytes(32)
MAX_TAG = 64
MAX_MEMO = 1024

VALUE, DATA, STREAM, MILESTONE = 1, 2, 3, 4
KIND_NAMES = {VALUE: "value", DATA: "data", STREAM: "stream", MILESTONE: "milestone"}

_HEAD = struct.Struct(">2sBIBQB")  # magic, version, network, kind, timestamp_ms, n_parents
_VALUE = struct.Struct(">32sQQH")
_SIG_LEN, _NONCE_LEN = 64, 8
_MIN_LEN = _HEAD.size + 2 * 32 + 32 + 4 + _SIG_LEN + _NONCE_LEN


def blake(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@functools.lru_cache(maxsize=65536)  # issuers repeat; the ingest path asks several times per transaction
def address_of(pubkey: bytes) -> str:
    """An account address: hex of BLAKE2b-256 of the Ed25519 public key (64 hex chars)."""
    return blake(pubkey).hex()


def pow_ok(tx_id: bytes, difficulty: int) -> bool:
    return difficulty <= 0 or int.from_bytes(tx_id, "big") >> (256 - difficulty) == 0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Tx:
    """A decoded transaction; ``raw`` is its canonical encoding and ``id`` its hash."""

    raw: bytes
    id: bytes
    network: int
    kind: int
    timestamp: int
    parents: tuple[bytes, ...]
    issuer: bytes
    payload: bytes
    signature: bytes
    nonce: int
    essence_len: int
    # decoded payload fields (only those of the kind are set)
    to: bytes | None = None
    amount: int = 0
    sequence: int = 0
    memo: bytes = b""
    tag: str | None = None
    channel: bytes | None = None
    data: bytes = b""
    index: int = 0
    ledger_root: bytes | None = None
    essence_id: bytes = b""  # essence_hash(), computed once by decode

    @property
    def hex_id(self) -> str:
        return self.id.hex()

    @property
    def sender(self) -> str:
        return address_of(self.issuer)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    def essence_hash(self) -> bytes:
        """Hash of the signed content (everything but signature and nonce)."""
        return self.essence_id or _essence_id(self.raw[: self.essence_len])

    def verify_signature(self) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.issuer).verify(self.signature, self.raw[: self.essence_len])
            return True
        except (InvalidSignature, ValueError):
            return False

    def payload_json(self) -> dict:
        if self.kind == VALUE:
            return {"from": self.sender, "to": self.to.hex(), "amount": self.amount,
                    "sequence": self.sequence, "memo": self.memo.hex()}
        if self.kind == DATA:
            return {"tag": self.tag, "data": self.data.hex()}
        if self.kind == STREAM:
            return {"channel": self.channel.hex(), "data": self.data.hex()}
        return {"index": self.index, "ledger_root": self.ledger_root.hex() if self.ledger_root else None}

    def search_tag(self) -> str | None:
        """What ``find(tag=...)`` matches: the data tag, or the stream channel's hex id."""
        if self.kind == DATA:
            return self.tag
        if self.kind == STREAM:
            return self.channel.hex()
        return None


def _essence_id(essence_bytes: bytes) -> bytes:
    return hashlib.blake2b(essence_bytes, digest_size=32, person=b"tb-essence").digest()


def verify_many(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Ed25519 checks of (public key, signature, message) triples; module level so a process
    pool can run it (verification across cores)."""
    out = []
    for pub, sig, msg in items:
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
            out.append(True)
        except (InvalidSignature, ValueError):
            out.append(False)
    return out


def _fail(reason: str):
    raise TxFormatError(reason, 400)


def _decode_payload(kind: int, p: bytes) -> dict:
    if kind == VALUE:
        if len(p) < _VALUE.size:
            _fail("value payload too short")
        to, amount, seq, mlen = _VALUE.unpack_from(p)
        if len(p) != _VALUE.size + mlen:
            _fail("value payload length does not match its memo length")
        if mlen > MAX_MEMO:
            _fail(f"memo longer than {MAX_MEMO} bytes")
        if amount <= 0:
            _fail("amount must be positive")
        return {"to": to, "amount": amount, "sequence": seq, "memo": p[_VALUE.size:]}
    if kind == DATA:
        if not p:
            _fail("data payload empty")
        tlen = p[0]
        if not 1 <= tlen <= MAX_TAG or len(p) < 1 + tlen:
            _fail(f"tag must be 1..{MAX_TAG} bytes")
        try:
            tag = p[1:1 + tlen].decode("utf-8")
        except UnicodeDecodeError:
            _fail("tag is not UTF-8")
        if not tag.isprintable():
            _fail("tag has non-printable characters")
        return {"tag": tag, "data": p[1 + tlen:]}
    if kind == STREAM:
        if len(p) < 32:
            _fail("stream payload shorter than its channel id")
        return {"channel": p[:32], "data": p[32:]}
    if kind == MILESTONE:
        if len(p) not in (8, 40):
            _fail("milestone payload must be 40 bytes (index, ledger root)")
        return {"index": int.from_bytes(p[:8], "big"), "ledger_root": p[8:] or None}
    _fail(f"unknown kind {kind}")


def decode(raw: bytes) -> Tx:
    """Parse canonical bytes (structure only; PoW and signature are checked by the caller)."""
    if not isinstance(raw, bytes | bytearray):
        _fail("transaction must be bytes")
    raw = bytes(raw)
    if len(raw) > MAX_TX_SIZE:
        raise TxFormatError(f"transaction larger than {MAX_TX_SIZE} bytes", 413)
    if len(raw) < _MIN_LEN:
        _fail("transaction too short")
    magic, version, network, kind, ts, n = _HEAD.unpack_from(raw)
    if magic != MAGIC:
        _fail("bad magic")
    if version != VERSION:
        _fail(f"unsupported version {version}")
    if kind not in KIND_NAMES:
        _fail(f"unknown kind {kind}")
    if not MIN_PARENTS <= n <= MAX_PARENTS:
        _fail(f"need {MIN_PARENTS}..{MAX_PARENTS} parents, got {n}")
    off = _HEAD.size
    if len(raw) < off + 32 * n + 36 + _SIG_LEN + _NONCE_LEN:
        _fail("transaction too short for its parents")
    parents = tuple(raw[off + 32 * i: off + 32 * (i + 1)] for i in range(n))
    if list(parents) != sorted(parents):
        _fail("parents not in ascending order")
    off += 32 * n
    issuer = raw[off:off + 32]
    (plen,) = struct.unpack_from(">I", raw, off + 32)
    off += 36
    if len(raw) != off + plen + _SIG_LEN + _NONCE_LEN:
        _fail("payload length does not match the transaction size")
    payload = raw[off:off + plen]
    essence_len = off + plen
    sig = raw[essence_len:essence_len + _SIG_LEN]
    nonce = int.from_bytes(raw[-_NONCE_LEN:], "big")
    fields = _decode_payload(kind, payload)
    tx_id = blake(raw)
    if tx_id in parents:
        _fail("transaction references itself")
    return Tx(raw=raw, id=tx_id, network=network, kind=kind, timestamp=ts, parents=parents, issuer=issuer,
              payload=payload, signature=sig, nonce=nonce, essence_len=essence_len,
              essence_id=_essence_id(raw[:essence_len]), **fields)


# ---------------------------------------------------------------- building

def _b32(v: str | bytes, what: str) -> bytes:
    try:
        b = bytes.fromhex(v) if isinstance(v, str) else bytes(v)
    except (ValueError, TypeError):
        b = b""
    if len(b) != 32:
        raise TxFormatError(f"{what} must be 32 bytes (64 hex chars)")
    return b


def value_payload(to: str | bytes, amount: int, sequence: int, memo: bytes = b"") -> bytes:
    to_b = _b32(to, "address")
    if len(memo) > MAX_MEMO:
        raise TxFormatError(f"memo longer than {MAX_MEMO} bytes")
    if amount <= 0:
        raise TxFormatError("amount must be positive")
    return _VALUE.pack(to_b, amount, sequence, len(memo)) + memo


def data_payload(tag: str, data: bytes) -> bytes:
    t = tag.encode("utf-8")
    if not 1 <= len(t) <= MAX_TAG or not tag.isprintable():
        raise TxFormatError(f"tag must be 1..{MAX_TAG} printable UTF-8 bytes")
    return bytes([len(t)]) + t + data


def stream_payload(channel: str | bytes, data: bytes) -> bytes:
    return _b32(channel, "channel id") + data


def milestone_payload(index: int, ledger_root: bytes | None = None) -> bytes:
    """A milestone's payload; without ``ledger_root`` the pre-commitment form (nodes refuse it)."""
    if ledger_root is not None and len(ledger_root) != 32:
        raise TxFormatError("ledger root must be 32 bytes")
    return index.to_bytes(8, "big") + (ledger_root or b"")


def essence(network: int, kind: int, timestamp_ms: int, parents, issuer: bytes, payload: bytes) -> bytes:
    ps = sorted(_b32(p, "parent") for p in parents)
    if not MIN_PARENTS <= len(ps) <= MAX_PARENTS:
        raise TxFormatError(f"need {MIN_PARENTS}..{MAX_PARENTS} parents of 32 bytes")
    return (_HEAD.pack(MAGIC, VERSION, network, kind, timestamp_ms, len(ps)) + b"".join(ps) + issuer
            + struct.pack(">I", len(payload)) + payload)


_NONCE = struct.Struct(">Q")


def do_pow(prefix: bytes, difficulty: int, start: int = 0) -> bytes:
    """Find a nonce so BLAKE2b-256(prefix | nonce) has ``difficulty`` leading zero bits; returns the tx."""
    if difficulty <= 0:
        return prefix + start.to_bytes(8, "big")
    if difficulty > 256:
        raise TxFormatError(f"proof of work difficulty {difficulty} is beyond the 256 bits of an id")
    copy = hashlib.blake2b(prefix, digest_size=32).copy
    full, rem = divmod(difficulty, 8)
    zeros, below = bytes(full), 1 << (8 - rem)  # that many zero bytes, then a byte below ``below``
    pack = _NONCE.pack
    nonce = start
    while True:  # byte compares instead of a 256-bit integer per try: about a fifth faster
        nb = pack(nonce)
        h = copy()
        h.update(nb)
        d = h.digest()
        if d[:full] == zeros and (rem == 0 or d[full] < below):
            return prefix + nb
        nonce += 1


def build(key: Ed25519PrivateKey, kind: int, payload: bytes, parents, *, network: int, difficulty: int,
          timestamp_ms: int | None = None) -> bytes:
    """Encode, sign and proof-of-work a transaction; returns its canonical bytes."""
    from cryptography.hazmat.primitives import serialization

    issuer = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ess = essence(network, kind, now_ms() if timestamp_ms is None else timestamp_ms, parents, issuer, payload)
    raw = do_pow(ess + key.sign(ess), difficulty)
    if len(raw) > MAX_TX_SIZE:
        raise TxFormatError(f"transaction larger than {MAX_TX_SIZE} bytes", 413)
    return raw


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """A deterministic Ed25519 key from a 32-byte seed (dev coordinator/faucet keys, tests)."""
    return Ed25519PrivateKey.from_private_bytes(blake(seed))
