"""Errors the frontend raises on purpose (shown to the user as one clear message)."""

from __future__ import annotations

from exchange.errors import ExchangeError


class FrontendError(ExchangeError, ValueError):
    """Root of deliberate frontend failures."""


class FormError(FrontendError):
    """A form or query value is missing, malformed or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(FrontendError, LookupError):
    """The thing asked for does not exist, or is not the current user's."""


class ServiceUnavailable(FrontendError):
    """A backing service (chain, catalog, tangle, device) is not configured or not answering."""
