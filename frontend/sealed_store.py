"""Sealed-bid secrets at rest live in ``exchange.crypto.bid_secrets`` (shared with the client library)."""

from exchange.crypto.bid_secrets import SealedStore, StoredBid  # noqa: F401
