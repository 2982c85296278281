"""Stream errors: every way a channel message or a purchase can be refused."""

from __future__ import annotations

from exchange.errors import ExchangeError


class StreamError(ExchangeError, ValueError):
    """Root of stream errors."""


class MalformedMessage(StreamError):
    """The bytes are not a channel message."""


class ForgedMessage(StreamError):
    """The signature, channel or ciphertext does not check out: not the device's message."""


class GapDetected(StreamError):
    """A message is missing: expected ``expected`` but got a later ``got``."""

    def __init__(self, expected: int, got: int):
        self.expected, self.got = expected, got
        super().__init__(f"gap in channel: expected message {expected}, got {got}")


class ReorderedMessage(StreamError):
    """A message arrived after a later one was accepted (or is a replay of an old one)."""

    def __init__(self, expected: int, got: int):
        self.expected, self.got = expected, got
        super().__init__(f"out of order: expected message {expected}, got earlier message {got}")


class BrokenLink(StreamError):
    """The message does not link to the hash of the message before it (a fork or a splice)."""


class NoReadKey(StreamError):
    """The reader holds no key for this message's epoch: its span ended or never covered it."""

    def __init__(self, seq: int, epoch: int):
        self.seq, self.epoch = seq, epoch
        super().__init__(f"no read key for message {seq} (key epoch {epoch}): outside the bought span")


class PurchaseError(StreamError):
    """A purchase could not be made or was refused by the device."""


class SaleRefused(PurchaseError):
    """The device answered a payment with a refusal (``reason``); any refund is in ``refund``."""

    def __init__(self, reason: str, refund: int = 0, refund_ref: str | None = None):
        self.reason, self.refund, self.refund_ref = reason, refund, refund_ref
        super().__init__(f"sale refused: {reason}" + (f" (refunded {refund})" if refund else ""))


class PurchaseTimeout(PurchaseError, TimeoutError):
    """The device did not answer the payment in time."""
