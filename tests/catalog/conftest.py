from __future__ import annotations

import os

import pytest
from eth_utils import keccak

from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient
from exchange.wot import canonical_td
from exchange.wot.samples import appliance_td

# (kind, geohash, reserve in wei, tags); u33d* is Berlin, u0yj* Bavaria, gcpv* London
FLEET = [
    ("Refrigerator", "u33db", 10**17, ("kitchen",)),
    ("Refrigerator", "u33dc", 3 * 10**17, ("kitchen", "garage")),
    ("SmartMeter", "u33dd", 5 * 10**16, ("basement",)),
    ("HeatPump", "u0yjj", 10**18, ("garden",)),
    ("AirQualitySensor", "gcpvj", 2 * 10**17, ("office",)),
    ("WashingMachine", "gcpvn", 10**16, ("bathroom",)),
]


def fleet_items(n: int | None = None, offset: int = 0) -> list[CheckInItem]:
    out = []
    for i, (kind, gh, reserve, tags) in enumerate(FLEET[:n]):
        key = DeviceKey.from_seed(keccak(f"device-{i + offset}".encode()))
        td = appliance_td(kind, gh, device_id=f"urn:dev:thingbid:{i + offset:04d}", tags=tags)
        out.append(CheckInItem(key, canonical_td(td), os.urandom(32), os.urandom(32), f"tangle-{i}", reserve, i % 2))
    return out


@pytest.fixture(name="fleet_items")
def fleet_items_fixture():
    return fleet_items


@pytest.fixture
def reg(chain):
    return RegistryClient.deploy(chain)


@pytest.fixture
def fleet(reg, chain):
    """The FLEET checked in by accounts[1], one of them updated, one checked out, one attested."""
    from eth_account import Account

    items = fleet_items()
    owner = chain.accounts[1]
    reg.check_in_batch(items[:3], sender=owner)
    for it in items[3:]:
        reg.check_in(it.device_key, it.td, it.x25519_key, it.signing_key, it.tangle_address, it.reserve_price,
                     it.mechanism, sender=owner)
    oem = Account.create()
    reg.set_oem(oem.address, True)
    reg.attest(items[0].device_id, reg.sign_attestation(oem.key, items[0].device_id, owner, items[0].signing_key))
    reg.check_out(items[5].device_id, sender=owner)
    new_td = canonical_td(appliance_td("SmartMeter", "u33dd", device_id="urn:dev:thingbid:0002", tags=("cellar",)))
    reg.update(items[2].device_id, new_td, "tangle-2b", 6 * 10**16, 0, sender=owner)
    reg.transfer(items[1].device_id, chain.accounts[2], sender=owner)
    return items, oem
