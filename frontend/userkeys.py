"""The user's derived keys live in ``exchange.crypto.userkeys`` (the client library derives the same)."""

from exchange.crypto.userkeys import _derive, derive_x25519, make_tangle_wallet, tangle_seed  # noqa: F401
