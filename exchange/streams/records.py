"""Offers are believed only when they match the device's registry record.

Anyone can publish a signed offer under a device's offers tag. A buyer accepts one only if
- the device is checked in and active in the DeviceRegistry,
- the offer pays to the address the registry names for the offer's ledger (tangle: the
  ``tangleAddress`` of the latest check-in/update; Ethereum: the record's owner), and
- the ledger message carrying the offer was sent from that same address. The registered
  account's own ledger signature over the offer then vouches for the Ed25519 key (``pub``)
  that signs the offer, the sale answers and the channel, which the registry does not store.

Source of the record: the chain (``RegistryClient``), not the catalog. Every client that buys
can reach a JSON-RPC node (the Ethereum ledger needs one anyway; the web app and the CLI
already hold one), while the catalog is a derived cache a remote buyer may not have and
that lags the chain. ``offer_refusal`` is pure; ``RegistryRecords`` is the chain reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from exchange.crypto.tokens import normalize_device_id
from exchange.streams.protocol import Offer

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class DeviceRecord:
    """What the registry says about a device, as far as paying it goes."""

    device_id: str
    owner: str  # Ethereum address; the payee on the Ethereum ledger
    tangle_address: str  # the payee on the tangle ("" if never given)
    active: bool


class DeviceRecords(Protocol):
    def record(self, device_id: str) -> DeviceRecord | None:
        """The device's registry record, or None if it was never checked in."""


def payee(record: DeviceRecord, ledger_kind: str) -> str:
    """The address the registry names for payments to the device on ``ledger_kind``."""
    return record.tangle_address if ledger_kind == "tangle" else record.owner


def _same(a: str, b: str, ledger_kind: str) -> bool:
    # Ethereum addresses are case-insensitive (EIP-55 is only a checksum); tangle addresses are not.
    return a.lower() == b.lower() if ledger_kind == "ethereum" else a == b


def offer_refusal(offer: Offer, sender: str, record: DeviceRecord | None, ledger_kind: str) -> str | None:
    """Why ``offer`` (carried by a ledger message from ``sender``) is not the device's, or None."""
    if record is None:
        return f"device {offer.device_id[:12]} is not in the registry"
    if not record.active:
        return f"device {offer.device_id[:12]} is checked out of the registry"
    if normalize_device_id(record.device_id) != offer.device_id:
        return "offer names another device"
    want = payee(record, ledger_kind)
    if not want:
        return f"the registry names no {ledger_kind} address for device {offer.device_id[:12]}"
    if not _same(offer.pay_to, want, ledger_kind):
        return f"offer pays to {offer.pay_to}, the registry's {ledger_kind} address is {want}"
    if not _same(sender, want, ledger_kind):
        return f"offer was published by {sender}, not by the registry's {ledger_kind} address {want}"
    return None


class RegistryRecords:
    """``DeviceRecords`` read from the DeviceRegistry on chain (``exchange.chain.registry.RegistryClient``)."""

    def __init__(self, registry):
        self.registry = registry

    def record(self, device_id: str) -> DeviceRecord | None:
        dev = normalize_device_id(device_id)
        did = bytes.fromhex(dev)
        state = self.registry.device(did)
        if state.owner.lower() == ZERO_ADDRESS:
            return None
        return DeviceRecord(dev, state.owner, self.registry.tangle_address_of(did) or "", state.active)
