"""Tangle errors. ``TangleRejected`` carries the HTTP status the node answers with."""

from __future__ import annotations

from exchange.errors import ExchangeError


class TangleError(ExchangeError, RuntimeError):
    """A tangle node or client failed (not a rejection of the caller's input)."""


class TangleRejected(ExchangeError, ValueError):
    """A transaction or request was refused; ``status`` is the HTTP status, ``reason`` the node's words."""

    def __init__(self, reason: str, status: int = 400):
        self.reason = reason
        self.status = status
        super().__init__(reason)


class TxFormatError(TangleRejected):
    """The bytes are not a well-formed transaction."""


class TangleUnavailable(TangleError, ConnectionError):
    """The node cannot be reached."""
