"""The device key: a secp256k1 key held by the device itself, whose address is the device id.

The registry accepts a check-in only with this key's signature over the owner and the
device's keys (``checkInDigest``), so a device id cannot be squatted by copying a pending
check-in or by guessing: whoever lists it must control the key. The house accepts a key
delivery only with this key's signature over the delivery (``deliveryDigest``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

from exchange.errors import ExchangeError

CHECKIN_TAG = keccak(text="thingbid/check-in/v2")
ATTEST_TAG = keccak(text="thingbid/attestation/v2")
DELIVERY_TAG = keccak(text="thingbid/delivery/v2")
_SEED_LABEL = b"thingbid/device-key/v1"
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class DeviceKeyError(ExchangeError, ValueError):
    """A device key or an argument to sign is malformed."""


def device_id_of(address: str) -> bytes:
    """The 32-byte device id a device key's address stands for (the address, then 12 zero bytes)."""
    return bytes.fromhex(to_checksum_address(address)[2:]) + bytes(12)


def _b32(v, what: str) -> bytes:
    if not isinstance(v, bytes | bytearray) or len(v) != 32:
        raise DeviceKeyError(f"{what} must be 32 bytes, got {v!r:.80}")
    return bytes(v)


def _sign(private_key: bytes, inner: bytes) -> bytes:
    return bytes(Account.sign_message(encode_defunct(primitive=inner), private_key).signature)


@dataclass(frozen=True)
class DeviceKey:
    """A device's secp256k1 key (never leaves the device; only signatures do)."""

    private_key: bytes = field(repr=False)

    def __post_init__(self):
        k = self.private_key
        if not isinstance(k, bytes) or len(k) != 32 or not 0 < int.from_bytes(k, "big") < _N:
            raise DeviceKeyError("a device key is 32 bytes in (0, n) of secp256k1")

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> DeviceKey:
        """A key derived from a 32-byte secret (the agent's device secret): same secret, same key."""
        for counter in range(256):
            k = keccak(_SEED_LABEL + bytes(seed) + bytes([counter]))
            if 0 < int.from_bytes(k, "big") < _N:
                return cls(k)
        raise DeviceKeyError("no valid key from this seed")  # pragma: no cover - probability 2**-32000

    @property
    def address(self) -> str:
        return Account.from_key(self.private_key).address

    @property
    def device_id(self) -> bytes:
        return device_id_of(self.address)

    def sign_check_in(self, chain_id: int, registry: str, owner: str, x25519_key: bytes, signing_key: bytes) -> bytes:
        """The 65-byte proof of control for ``checkIn`` by ``owner`` (same digest as ``checkInDigest``)."""
        inner = keccak(encode(["bytes32", "uint256", "address", "bytes32", "address", "bytes32", "bytes32"],
                              [CHECKIN_TAG, chain_id, to_checksum_address(registry), self.device_id,
                               to_checksum_address(owner), _b32(x25519_key, "x25519_key"),
                               _b32(signing_key, "signing_key")]))
        return _sign(self.private_key, inner)

    def sign_delivery(self, chain_id: int, house: str, auction_id: int, winner: str, access_period: int,
                      sealed_key: bytes) -> bytes:
        """The device's signature over a key delivery (same digest as the house's ``deliveryDigest``)."""
        inner = keccak(encode(["bytes32", "uint256", "address", "uint256", "address", "uint256", "bytes32"],
                              [DELIVERY_TAG, chain_id, to_checksum_address(house), auction_id,
                               to_checksum_address(winner), access_period, keccak(bytes(sealed_key))]))
        return _sign(self.private_key, inner)


def sign_attestation(oem_private_key: bytes, chain_id: int, registry: str, device_id: bytes, owner: str,
                     signing_key: bytes) -> bytes:
    """An OEM's 65-byte attestation of ``owner``'s record of ``device_id`` (same digest as ``attestationDigest``)."""
    inner = keccak(encode(["bytes32", "uint256", "address", "bytes32", "address", "bytes32"],
                          [ATTEST_TAG, chain_id, to_checksum_address(registry), _b32(device_id, "device_id"),
                           to_checksum_address(owner), _b32(signing_key, "signing_key")]))
    return _sign(oem_private_key, inner)
