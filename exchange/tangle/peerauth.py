"""Per-peer Ed25519 identities: peer requests are signed, and a node hears only allow-listed keys.

A node with an identity key signs each peer request (gossip, add-peer) over
``"tb-peer-v1" | method | path?query | time_ms | BLAKE2b-256(body)`` and sends
``X-Tangle-Peer-Key`` (public key hex), ``X-Tangle-Peer-Time`` and ``X-Tangle-Peer-Sig``. The
receiver checks the key is on its allow-list, the time is within ``max_skew_ms`` of its own
clock and the signature, and refuses a signature it has seen within that window (a
recorded request cannot be replayed). Pure logic apart from the clock the caller passes.
"""

from __future__ import annotations

import hashlib
import threading

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.tangle.errors import TangleRejected

KEY_HEADER, TIME_HEADER, SIG_HEADER = "X-Tangle-Peer-Key", "X-Tangle-Peer-Time", "X-Tangle-Peer-Sig"
MAX_SKEW_MS = 30_000


def _message(method: str, path: str, time_ms: int, body: bytes) -> bytes:
    return b"|".join([b"tb-peer-v1", method.upper().encode(), path.encode(), str(time_ms).encode(),
                      hashlib.blake2b(body, digest_size=32).digest()])


def sign_headers(key: Ed25519PrivateKey, public_hex: str, method: str, path: str, body: bytes,
                 time_ms: int) -> dict[str, str]:
    """The headers that authenticate one peer request (``path`` with its query string, if any)."""
    sig = key.sign(_message(method, path, time_ms, body))
    return {KEY_HEADER: public_hex, TIME_HEADER: str(time_ms), SIG_HEADER: sig.hex()}


def parse_allow_list(keys) -> frozenset[str]:
    """Hex Ed25519 public keys (64 lowercase hex chars each)."""
    if isinstance(keys, str):
        keys = [k for k in keys.replace(",", " ").split() if k]
    out = set()
    for k in keys or ():
        k = k.strip().lower() if isinstance(k, str) else k
        if not isinstance(k, str) or len(k) != 64 or any(c not in "0123456789abcdef" for c in k):
            raise ValueError(f"peer allow-list entry {k!r} is not a 64-hex-char Ed25519 public key")
        out.add(k)
    return frozenset(out)


class PeerVerifier:
    """Checks signed peer requests against an allow-list; remembers signatures to refuse replays."""

    def __init__(self, allowed: frozenset[str], max_skew_ms: int = MAX_SKEW_MS, max_remembered: int = 200_000):
        self.allowed = allowed
        self.max_skew_ms = max_skew_ms
        self.max_remembered = max_remembered
        self._seen: dict[bytes, int] = {}  # signature -> its time_ms
        self._lock = threading.Lock()

    def verify(self, headers, method: str, path: str, body: bytes, now_ms: int) -> str:
        """The peer's public key hex, or TangleRejected 401 with the reason."""
        key = (headers.get(KEY_HEADER) or "").strip().lower()
        if not key:
            raise TangleRejected(f"peer authentication failed: this node hears only allow-listed peer keys "
                                 f"(sign with {KEY_HEADER}/{TIME_HEADER}/{SIG_HEADER})", 401)
        if key not in self.allowed:
            raise TangleRejected("peer authentication failed: this peer key is not on the allow-list", 401)
        try:
            time_ms = int(headers.get(TIME_HEADER) or "")
            sig = bytes.fromhex(headers.get(SIG_HEADER) or "")
        except ValueError:
            raise TangleRejected("peer authentication failed: malformed time or signature header", 401) from None
        if abs(now_ms - time_ms) > self.max_skew_ms:
            raise TangleRejected(f"peer authentication failed: request time is more than "
                                 f"{self.max_skew_ms // 1000}s away from this node's clock", 401)
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(sig, _message(method, path, time_ms, body))
        except (InvalidSignature, ValueError):
            raise TangleRejected("peer authentication failed: bad signature", 401) from None
        with self._lock:
            if sig in self._seen:
                raise TangleRejected("peer authentication failed: replayed request", 401)
            if len(self._seen) >= self.max_remembered:
                self._seen = {s: t for s, t in self._seen.items() if abs(now_ms - t) <= self.max_skew_ms}
                if len(self._seen) >= self.max_remembered:
                    raise TangleRejected("too many peer requests in the replay window", 429)
            self._seen[sig] = time_ms
        return key
