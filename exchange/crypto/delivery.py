"""The key-delivery protocol shared by sellers (device agents) and buyers (web app, scripts).

A delivered access key is a sealed box bound to its auction id, so a box posted for one
auction can never be replayed as the key of another.
"""

KEY_CONTEXT = b"thingbid/access-key/v1\x00"


def key_context(auction_id: int) -> bytes:
    """Sealed-box context of the key delivered for ``auction_id``."""
    return KEY_CONTEXT + int(auction_id).to_bytes(32, "big")



def check_delivered(token: str, signing_key: bytes, *, device_id, auction_id: int, winner: str, access_until: int,
                    challenge_end: int = 0):
    """(claims, "") for an opened key that verifies against the registry's token-signing key and
    the sale on chain (device, auction, winner, accessUntil), else (None, one line saying what
    failed and what the buyer can do about it)."""
    from datetime import UTC, datetime

    from exchange.crypto.errors import CryptoError
    from exchange.crypto.tokens import verify_delivered

    try:
        return verify_delivered(token, signing_key, device_id=device_id, auction_id=auction_id, buyer=winner,
                                access_until=access_until), ""
    except (CryptoError, ValueError) as exc:
        until = (f" before {datetime.fromtimestamp(int(challenge_end), UTC).strftime('%Y-%m-%d %H:%M UTC')}"
                 if challenge_end else "")
        return None, (f"the key delivered for auction {auction_id} does not verify against the device's registered "
                      f"key ({exc}): it is not used; report it to the seller{until}")
