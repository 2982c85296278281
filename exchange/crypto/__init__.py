"""Crypto primitives of the exchange: sealed boxes, access tokens, key files.

- ``sealed``: X25519 + HKDF-SHA256 + AES-256-GCM anonymous boxes (``seal``/``open_sealed``)
- ``tokens``: Ed25519-signed access tokens (``issue_token``/``verify_token``)
- ``keystore``: scrypt + AES-GCM encrypted key bundles (``save_keys``/``load_keys``)
"""

from exchange.crypto.errors import (
    CryptoError,
    DecryptionError,
    InvalidKeyError,
    MalformedBoxError,
    TokenError,
    TokenFailure,
)
from exchange.crypto.keystore import load_keys, save_keys
from exchange.crypto.sealed import generate_x25519, open_sealed, seal, x25519_public
from exchange.crypto.tokens import AccessClaims, ed25519_public, generate_ed25519, issue_token, verify_token

__all__ = ["CryptoError", "DecryptionError", "InvalidKeyError", "MalformedBoxError", "TokenError", "TokenFailure",
           "load_keys", "save_keys", "generate_x25519", "open_sealed", "seal", "x25519_public", "AccessClaims",
           "ed25519_public", "generate_ed25519", "issue_token", "verify_token"]
