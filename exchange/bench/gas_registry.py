"""Gas rows for DeviceRegistry (collected by ``thingbid bench gas``), for a typical ~1.5 KB appliance TD."""

from __future__ import annotations

import os


def rows(chain):
    from eth_utils import keccak

    from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient
    from exchange.wot import canonical_td
    from exchange.wot.samples import appliance_td

    reg = RegistryClient.deploy(chain)
    owner = chain.accounts[1]
    td = canonical_td(appliance_td("Refrigerator", "u33db", device_id="urn:dev:thingbid:0001"))
    key = DeviceKey.from_seed(keccak(b"bench-device-0"))
    did = key.device_id
    # with the device key's proof of control (ecrecover) and the Ed25519 signing key stored
    r = reg.check_in(key, td, os.urandom(32), os.urandom(32), "tangle-address-0001", 10**17, 1, sender=owner)
    yield {"op": "checkin", "gas": r["gasUsed"], "td_bytes": len(td)}
    items = [CheckInItem(DeviceKey.from_seed(keccak(f"bench-device-{i}".encode())), td, os.urandom(32), os.urandom(32),
                         f"tangle-address-{i:04d}", 10**17, 1) for i in range(1, 51)]
    r = reg.check_in_batch(items, sender=owner)
    yield {"op": "checkin_batch50_per_device", "gas": r["gasUsed"] // 50, "td_bytes": len(td)}
    yield {"op": "update", "gas": reg.update(did, td, "tangle-address-0001", 2 * 10**17, 0, sender=owner)["gasUsed"]}
    yield {"op": "transfer", "gas": reg.transfer(did, chain.accounts[2], sender=owner)["gasUsed"]}
    yield {"op": "checkout", "gas": reg.check_out(did, sender=chain.accounts[2])["gasUsed"]}
