"""Errors of the crypto package (all are ExchangeError + ValueError)."""

from __future__ import annotations

from enum import StrEnum

from exchange.errors import ExchangeError


class CryptoError(ExchangeError, ValueError):
    """Root of every deliberate crypto failure."""


class InvalidKeyError(CryptoError):
    """A key has the wrong length or is not a usable curve point."""


class MalformedBoxError(CryptoError):
    """A sealed box is too short or structurally broken."""


class DecryptionError(CryptoError):
    """Authentication failed: the box was tampered with, the key or the context is wrong.

    AES-GCM cannot tell these apart, on purpose, so neither can we.
    """


class TokenFailure(StrEnum):
    """Why an access token was refused (stable strings, safe to show a client)."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_DEVICE = "wrong_device"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_SALE = "wrong_sale"  # a delivered key whose auction, buyer or period is not the sale's on chain


class TokenError(CryptoError):
    """An access token is refused; ``reason`` is a TokenFailure."""

    def __init__(self, reason: TokenFailure, detail: str = ""):
        self.reason = reason
        super().__init__(f"token {reason.value}" + (f": {detail}" if detail else ""))
