"""The key-delivery protocol shared by sellers (device agents) and buyers (web app, scripts).

A delivered access key is a sealed box bound to its auction id, so a box posted for one
auction can never be replayed as the key of another.
"""

KEY_CONTEXT = b"thingbid/access-key/v1\x00"


def key_context(auction_id: int) -> bytes:
    """Sealed-box context of the key delivered for ``auction_id``."""
    return KEY_CONTEXT + int(auction_id).to_bytes(32, "big")
