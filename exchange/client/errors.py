"""Errors of the client library: every one is an ``ExchangeError`` (the root of ``exchange``),
so ``except ExchangeError`` catches whatever the client raises on purpose, chain reverts and
keystore problems included."""

from __future__ import annotations

from exchange.errors import ExchangeError


class ClientError(ExchangeError):
    """Root of the client library's own errors."""


class ClientInputError(ClientError, ValueError):
    """An argument is malformed (refused before anything is sent)."""


class NotFoundError(ClientError, LookupError):
    """A device, key or auction the call names is not known."""


class DeviceReadError(ClientError, ConnectionError):
    """A device did not answer, refused the key, or answered something that is not its TD's output."""


class WaitTimeout(ClientError, TimeoutError):
    """Settlement or key delivery did not happen within the time given."""
