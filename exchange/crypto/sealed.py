"""Sealed boxes: anonymous public-key encryption to an X25519 key.

Box layout: ``ephemeral_public (32) || nonce (12) || AES-256-GCM ciphertext+tag``.
The AES key is HKDF-SHA256 over the X25519 shared secret, salted with both public keys
(binds the box to its recipient), with ``context`` in the HKDF info *and* as GCM
associated data, so a box made for one purpose cannot be opened for another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.crypto.errors import CryptoError, DecryptionError, InvalidKeyError, MalformedBoxError

__all__ = ["generate_x25519", "x25519_public", "seal", "open_sealed", "BOX_OVERHEAD",
           "CryptoError", "DecryptionError", "InvalidKeyError", "MalformedBoxError"]

_INFO = b"thingbid/sealed-box/v1\x00"
KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
BOX_OVERHEAD = KEY_LEN + NONCE_LEN + TAG_LEN

_RAW = serialization.Encoding.Raw


def generate_x25519() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as raw 32-byte (private, public)."""
    sk = X25519PrivateKey.generate()
    return (sk.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
            sk.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))


def _private(raw: bytes) -> X25519PrivateKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != KEY_LEN:
        raise InvalidKeyError(f"X25519 private key must be {KEY_LEN} bytes")
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def _public(raw: bytes) -> X25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != KEY_LEN:
        raise InvalidKeyError(f"X25519 public key must be {KEY_LEN} bytes")
    return X25519PublicKey.from_public_bytes(bytes(raw))


def x25519_public(private: bytes) -> bytes:
    """The public key of a raw X25519 private key."""
    return _private(private).public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def _derive(private: X25519PrivateKey, peer: X25519PublicKey, eph_pub: bytes, rcpt_pub: bytes,
            context: bytes) -> bytes:
    try:
        shared = private.exchange(peer)
    except ValueError as exc:  # low-order point: all-zero shared secret
        raise InvalidKeyError("X25519 public key is a low-order point") from exc
    return HKDF(hashes.SHA256(), KEY_LEN, salt=eph_pub + rcpt_pub, info=_INFO + context).derive(shared)


def seal(recipient_public: bytes, plaintext: bytes, context: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` so only the holder of the matching private key can read it."""
    rcpt = _public(recipient_public)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = _derive(eph, rcpt, eph_pub, bytes(recipient_public), context)
    nonce = os.urandom(NONCE_LEN)
    return eph_pub + nonce + AESGCM(key).encrypt(nonce, bytes(plaintext), context)


def open_sealed(recipient_private: bytes, box: bytes, context: bytes = b"") -> bytes:
    """Decrypt a sealed box; raises DecryptionError on tamper, wrong key or wrong context."""
    sk = _private(recipient_private)
    if not isinstance(box, bytes | bytearray) or len(box) < BOX_OVERHEAD:
        raise MalformedBoxError(f"sealed box must be at least {BOX_OVERHEAD} bytes")
    box = bytes(box)
    eph_pub, nonce, ct = box[:KEY_LEN], box[KEY_LEN:KEY_LEN + NONCE_LEN], box[KEY_LEN + NONCE_LEN:]
    rcpt_pub = sk.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    try:
        key = _derive(sk, _public(eph_pub), eph_pub, rcpt_pub, context)
    except InvalidKeyError as exc:
        # A tampered ephemeral key is just another forgery to the caller.
        raise DecryptionError("sealed box does not authenticate (bad ephemeral key)") from exc
    try:
        return AESGCM(key).decrypt(nonce, ct, context)
    except InvalidTag as exc:
        raise DecryptionError("sealed box does not authenticate (tampered, wrong key or wrong context)") from exc
