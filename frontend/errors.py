"""Errors the frontend raises on purpose (shown to the user as one clear message)."""

from __future__ import annotations

from exchange.errors import ExchangeError


class FrontendError(ExchangeError, ValueError):
    """Root of deliberate frontend failures."""


# What the forms call each field, so a message names what the user sees ("Reserve from must
# be ...", not "reserve_min: ..."). Messages therefore start with a verb: is, must, has, needs.
FIELD_LABELS = {
    "q": "Text", "type": "Type", "prop": "Properties", "unit": "Units", "geohash": "Geohash prefix",
    "lat": "Latitude", "lon": "Longitude", "radius_km": "Radius (km)", "reserve_min": "Reserve from",
    "reserve_max": "Reserve to", "min_reputation": "Minimum reputation", "sort": "Sort", "page": "Page",
    "per_page": "Results per page", "filter": "The filter", "max_price": "The price per device",
    "budget": "The budget", "username": "The user name", "password": "The password",
    "confirm": "The repeated password", "private_key": "The private key", "keystore": "The keystore file",
    "mode": "The account source", "auction_id": "The auction selection", "score": "The rating",
    "amount": "The amount", "to": "The recipient", "span": "The span", "since": "The cursor",
    "device_id": "The device id", "stream": "The stream",
}


class FormError(FrontendError):
    """A form or query value is missing, malformed or out of range; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.label = FIELD_LABELS.get(field, field)
        super().__init__(f"{self.label} {message}")


class FormRefusal(FormError):
    """A well-formed value the current state refuses (a balance too low, an offer's limit).

    The message is a whole sentence of its own ("Your tangle balance (5) is too low to send 10."),
    not "<label> <message>"; ``field`` still names the input, so the form marks it and keeps it.
    """

    def __init__(self, field: str, sentence: str):
        FrontendError.__init__(self, sentence)
        self.field = field
        self.label = FIELD_LABELS.get(field, field)


class NotFound(FrontendError, LookupError):
    """The thing asked for does not exist, or is not the current user's."""


class ServiceUnavailable(FrontendError):
    """A backing service (chain, catalog, tangle, device) is not configured or not answering."""
