"""Anonymisation: pseudonymous device ids and coarse locations.

The device id is the address of the device key (exchange.chain.devicekey), a secp256k1 key
derived from a random per-device secret created at ``init`` (kept only in the encrypted key
file). The registry accepts a check-in only with that key's signature, so the id proves
control of the device. Nothing about the owner (address, name, other devices) enters it, so
two devices of one owner have independent, unlinkable ids.
"""

from __future__ import annotations

import os

from device_agent import geohash
from device_agent.errors import AgentConfigError
from exchange.chain.devicekey import DeviceKey

DEFAULT_PRECISION = 5
SECRET_LEN = 32


def new_device_secret() -> bytes:
    return os.urandom(SECRET_LEN)


def device_key(secret: bytes) -> DeviceKey:
    """The device key of the device holding ``secret`` (signs its check-ins and deliveries)."""
    if not isinstance(secret, bytes) or len(secret) != SECRET_LEN:
        raise AgentConfigError(f"device secret must be {SECRET_LEN} bytes")
    return DeviceKey.from_seed(secret)


def device_id(secret: bytes) -> bytes:
    """The 32-byte pseudonymous id of the device holding ``secret`` (its device key's address)."""
    return device_key(secret).device_id


def coarse_location(lat: float, lon: float, precision: int = DEFAULT_PRECISION) -> str:
    """The geohash cell (``precision`` characters, default 5 = about 5 km) containing (lat, lon)."""
    return geohash.encode(lat, lon, precision)


def scrub_tags(tags: list[str]) -> list[str]:
    """Owner-chosen tags, refusing anything that looks like contact data (e-mail, phone, URL)."""
    out = []
    for t in tags:
        if not isinstance(t, str) or not 0 < len(t) <= 32:
            raise AgentConfigError(f"tag {t!r} must be 1..32 characters")
        digits = sum(c.isdigit() for c in t)
        if "@" in t or "://" in t or digits >= 6:
            raise AgentConfigError(f"tag {t!r} looks like contact data; tags are published")
        out.append(t)
    return out
