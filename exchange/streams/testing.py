"""A real DeviceRegistry for stream tests and benchmarks: check a seller's device in, so buyers find
its offers (``exchange.streams.records``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from exchange.streams.records import RegistryRecords

_KEYS: dict = {}  # device id (hex) -> its DeviceKey, for ids made by device_id()


def device_id(label: str) -> str:
    """A device id (hex) whose device key this module keeps, so ``check_in`` can prove control of it."""
    from eth_utils import keccak

    from exchange.chain.devicekey import DeviceKey

    key = DeviceKey.from_seed(keccak(text="stream-test-device/" + label))
    _KEYS[key.device_id.hex()] = key
    return key.device_id.hex()


def check_in(registry, device, owner: str, tangle_address: str) -> None:
    """Check ``device`` (a DeviceKey, or an id from ``device_id``) in from ``owner`` (an unlocked
    account of the registry's chain); the device key signs the proof of control."""
    import hashlib

    from exchange.chain.devicekey import DeviceKey

    key = device if isinstance(device, DeviceKey) else _KEYS.get(device)
    if key is None:
        raise KeyError(f"no device key for {device!r}: make the id with exchange.streams.testing.device_id")
    hexid = key.device_id.hex()
    td = b'{"@context":"https://www.w3.org/2022/wot/td/v1.1","id":"urn:dev:' + hexid.encode() + b'"}'
    x25519 = hashlib.sha256(b"x25519/" + hexid.encode()).digest()
    signing = hashlib.sha256(b"ed25519/" + hexid.encode()).digest()
    registry.check_in(key, td, x25519, signing, tangle_address, 1, sender=owner)


@contextlib.contextmanager
def registered(env, device_id: str, seller_ledger) -> Iterator[RegistryRecords]:
    """A registry holding ``device_id``, paid at ``seller_ledger``'s address.

    On the Ethereum ledger the registry lives on the same chain and the seller's account owns
    the device (its owner is its payee there); on the tangle an eth-tester chain of its own holds
    the registry, and the device's registered tangle address is the seller's."""
    from exchange.chain.connect import embedded_chain
    from exchange.chain.registry import RegistryClient

    own = env.kind != "ethereum"
    chain = embedded_chain() if own else env.handle
    try:
        registry = RegistryClient.deploy(chain)
        if own:
            check_in(registry, device_id, chain.accounts[1], seller_ledger.address)
        else:
            check_in(registry, device_id, seller_ledger.address, "")
        yield RegistryRecords(registry)
    finally:
        if own:
            chain.close()
