"""Keys derived from the user's Ethereum key, so one keystore (one password) unlocks all.

The X25519 key opens access keys sealed to the user; the Ed25519 seed is the tangle
wallet. Both come from HKDF over the secp256k1 key with distinct labels, so neither
reveals the Ethereum key or the other, and importing the same key restores them.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(eth_key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"thingbid/frontend/v1",  # kept: keys derived before the move must stay the same
                info=label).derive(bytes(eth_key))


def derive_x25519(eth_key: bytes) -> bytes:
    return _derive(eth_key, b"x25519 key delivery")


def tangle_seed(eth_key: bytes) -> bytes:
    return _derive(eth_key, b"ed25519 tangle wallet")


def make_tangle_wallet(eth_key: bytes):
    """The user's tangle Wallet, or None while the tangle package is not installed."""
    try:
        from exchange.tangle.wallet import Wallet
    except ImportError:
        return None
    seed = tangle_seed(eth_key)
    for ctor in ("from_seed", "from_private_bytes", "from_key"):
        if hasattr(Wallet, ctor):
            return getattr(Wallet, ctor)(seed)
    return Wallet(seed)
