"""A real DeviceRegistry for stream tests and benchmarks: check a seller's device in, so buyers find
its offers (``exchange.streams.records``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from exchange.streams.records import RegistryRecords


def check_in(registry, device_id: str, owner: str, tangle_address: str) -> None:
    """Check ``device_id`` in from ``owner`` (an unlocked account of the registry's chain)."""
    import hashlib

    td = b'{"@context":"https://www.w3.org/2022/wot/td/v1.1","id":"urn:dev:' + device_id.encode() + b'"}'
    x25519 = hashlib.sha256(b"x25519/" + device_id.encode()).digest()
    registry.check_in(bytes.fromhex(device_id), td, x25519, tangle_address, 1, sender=owner)


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
