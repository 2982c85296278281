"""Ed25519-signed access tokens for a device's WoT HTTP server.

Token text: ``tb1.<base64url(claims JSON)>.<base64url(Ed25519 signature)>`` (no padding,
URL-safe, no dots inside parts). The claims JSON is canonical (sorted keys, no spaces),
and a token whose claims are not byte-for-byte canonical is refused as malformed, so one
set of claims has exactly one token text per signature. The signature covers a domain
prefix plus the claims bytes, so no other Ed25519 signature of the device can pass as a token.

Validity window is half-open: valid iff ``not_before <= now < not_after`` (unix seconds).
Checks run in this order and the first failure is reported: malformed, bad_signature,
wrong_device, revoked, not_yet_valid, expired.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import asdict, dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.crypto.errors import InvalidKeyError, TokenError, TokenFailure

__all__ = ["AccessClaims", "issue_token", "verify_token", "verify_delivered", "generate_ed25519", "ed25519_public",
           "normalize_device_id", "TokenError", "TokenFailure"]

PREFIX = "tb1"
_DOMAIN = b"thingbid/access-token/v1\x00"
# \Z, not $: "$" also matches before a trailing newline.
_HEX32 = re.compile(r"[0-9a-f]{64}\Z")
_TOKEN_ID = re.compile(r"[0-9a-f]{32}\Z")
_B64 = re.compile(r"[A-Za-z0-9_-]+\Z")
MAX_TOKEN_LEN = 4096
_UINT64 = 2**64


def generate_ed25519() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as raw 32-byte (private seed, public)."""
    sk = Ed25519PrivateKey.generate()
    return (sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()), ed25519_public_of(sk))


def ed25519_public_of(sk: Ed25519PrivateKey) -> bytes:
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_public(private: bytes) -> bytes:
    """The raw public key of a raw Ed25519 private seed."""
    return ed25519_public_of(_sk(private))


def _sk(raw: bytes) -> Ed25519PrivateKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
        raise InvalidKeyError("Ed25519 private key must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(raw))


def _pk(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
        raise InvalidKeyError("Ed25519 public key must be 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(raw))
    except ValueError as exc:
        raise InvalidKeyError("Ed25519 public key is not a curve point") from exc


def normalize_device_id(device_id: str | bytes) -> str:
    """Device ids are bytes32: accept 32 raw bytes or 64 hex digits (optional 0x), return lower hex."""
    if isinstance(device_id, bytes | bytearray):
        if len(device_id) != 32:
            raise ValueError("device id must be 32 bytes")
        return bytes(device_id).hex()
    if not isinstance(device_id, str):
        raise ValueError("device id must be hex text or 32 bytes")
    text = device_id.lower().removeprefix("0x")
    if not _HEX32.match(text):
        raise ValueError(f"device id must be 64 hex digits, got {device_id!r}")
    return text


def _new_token_id() -> str:
    return os.urandom(16).hex()


@dataclass(frozen=True)
class AccessClaims:
    """What a token grants: ``buyer`` may read ``device_id`` during [not_before, not_after)."""

    device_id: str
    auction_id: int
    buyer: str
    not_before: int
    not_after: int
    token_id: str = field(default_factory=_new_token_id)

    def __post_init__(self):
        object.__setattr__(self, "device_id", normalize_device_id(self.device_id))
        for name in ("auction_id", "not_before", "not_after"):
            v = getattr(self, name)
            if type(v) is not int or not 0 <= v < _UINT64:
                raise ValueError(f"{name} must be an integer in [0, 2^64), got {v!r}")
        if self.not_after <= self.not_before:
            raise ValueError(f"not_after ({self.not_after}) must be after not_before ({self.not_before})")
        if not isinstance(self.buyer, str) or not 0 < len(self.buyer) <= 128 or not self.buyer.isprintable():
            raise ValueError("buyer must be 1..128 printable characters")
        if not isinstance(self.token_id, str) or not _TOKEN_ID.match(self.token_id):
            raise ValueError("token_id must be 32 lower-case hex digits")

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _b64d(s: str) -> bytes:
    if not _B64.match(s):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if _b64e(raw) != s:  # non-canonical trailing bits
        raise ValueError("non-canonical base64url")
    return raw


def issue_token(ed25519_private: bytes, claims: AccessClaims) -> str:
    """Sign ``claims`` with the device's Ed25519 key; returns the compact URL-safe token."""
    body = claims.canonical()
    sig = _sk(ed25519_private).sign(_DOMAIN + body)
    return f"{PREFIX}.{_b64e(body)}.{_b64e(sig)}"


def _parse(token: str) -> tuple[bytes, bytes, AccessClaims]:
    malformed = TokenFailure.MALFORMED
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LEN:
        raise TokenError(malformed, "not a string of sensible length")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError(malformed, f"expected {PREFIX}.<claims>.<signature>")
    try:
        body, sig = _b64d(parts[1]), _b64d(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise TokenError(malformed, "bad base64url") from exc
    if len(sig) != 64:
        raise TokenError(malformed, "signature must be 64 bytes")
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or set(data) != {f for f in AccessClaims.__dataclass_fields__}:
            raise ValueError("wrong claim fields")
        claims = AccessClaims(**data)
    except RecursionError:  # absurdly nested JSON: refused like any other garbage, never a crash
        raise TokenError(malformed, "bad claims (nested too deeply)") from None
    except (ValueError, TypeError) as exc:
        raise TokenError(malformed, f"bad claims ({exc})") from exc
    if claims.canonical() != body:
        raise TokenError(malformed, "claims are not canonical")
    return body, sig, claims


def read_claims_unverified(token: str) -> AccessClaims:
    """The claims of a well-formed token WITHOUT checking its signature.

    For the holder's own display (period, device) only; never for an access decision, which
    must go through ``verify_token``.
    """
    return _parse(token)[2]


def verify_delivered(token: str, device_public: bytes, *, device_id: str | bytes, auction_id: int, buyer: str,
                     access_until: int) -> AccessClaims:
    """Check an opened access key against the chain, at any time (issue 12 case 4): signed by the
    device's token-signing key that the registry holds, for this device, this auction, this buyer
    and the period the house recorded (``not_after`` within the hour before ``accessUntil``). Raises TokenError."""
    body, sig, claims = _parse(token)
    try:
        _pk(device_public).verify(sig, _DOMAIN + body)
    except InvalidSignature as exc:
        raise TokenError(TokenFailure.BAD_SIGNATURE, "not signed by the device's registered key") from exc
    if claims.device_id != normalize_device_id(device_id):
        raise TokenError(TokenFailure.WRONG_DEVICE, f"token is for device {claims.device_id}")
    if claims.auction_id != auction_id:
        raise TokenError(TokenFailure.WRONG_SALE, f"token is for auction {claims.auction_id}, not {auction_id}")
    if claims.buyer.lower() != str(buyer).lower():
        raise TokenError(TokenFailure.WRONG_SALE, f"token is for {claims.buyer}, not the winner {buyer}")
    # The house starts the period at the delivery block, the device at the time it signed (a few
    # seconds before): a token ends at most an hour before accessUntil, never after it.
    if access_until and not access_until - 3600 <= claims.not_after <= access_until:
        raise TokenError(TokenFailure.WRONG_SALE, f"token ends at {claims.not_after}, the house says {access_until}")
    return claims


def verify_token(token: str, device_public: bytes, *, device_id: str | bytes, now: int,
                 revoked: set | frozenset | None = None) -> AccessClaims:
    """Check a token for ``device_id`` at time ``now``; returns its claims or raises TokenError."""
    body, sig, claims = _parse(token)
    try:
        _pk(device_public).verify(sig, _DOMAIN + body)
    except InvalidSignature as exc:
        raise TokenError(TokenFailure.BAD_SIGNATURE, "not signed by this device key") from exc
    if claims.device_id != normalize_device_id(device_id):
        raise TokenError(TokenFailure.WRONG_DEVICE, f"token is for device {claims.device_id}")
    if revoked and claims.token_id in revoked:
        raise TokenError(TokenFailure.REVOKED, f"token {claims.token_id} was revoked")
    if now < claims.not_before:
        raise TokenError(TokenFailure.NOT_YET_VALID, f"valid from {claims.not_before}, now {now}")
    if now >= claims.not_after:
        raise TokenError(TokenFailure.EXPIRED, f"expired at {claims.not_after}, now {now}")
    return claims
