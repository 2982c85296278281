"""Gas rows for the AuctionHouse (collected by ``thingbid bench gas``).

Every figure is ``gasUsed`` of a receipt (a batch's total divided by its size for the
``*_per_bid`` / ``*_per_auction`` rows), on a fresh chain with the full DEPLOY_PLAN deployed.
Default terms: full escrow (bond 100%), no protocol fee.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

BATCH = 100


def market(chain, devices: int, owner: str | None = None):
    """Deploy the plan, check in ``devices`` devices for ``owner``; returns (house, registry, device ids)."""
    from eth_utils import keccak

    from exchange.chain.auction import AuctionHouseClient
    from exchange.chain.deploy import deploy_all
    from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient

    owner = owner or chain.accounts[1]
    with tempfile.TemporaryDirectory() as tmp:
        manifest, _ = deploy_all(chain, Path(tmp), fresh=True)
    reg = RegistryClient.from_manifest(chain, manifest)
    house = AuctionHouseClient.from_manifest(chain, manifest)
    td = b'{"@context":"https://www.w3.org/2022/wot/td/v1.1","title":"bench"}'
    keys = [DeviceKey.from_seed(keccak(f"gas-auction-device-{i}".encode())) for i in range(devices)]
    ids = [k.device_id for k in keys]
    for start in range(0, devices, 50):
        reg.check_in_batch([CheckInItem(k, td, keccak(k.device_id), keccak(b"ed25519" + k.device_id), f"tangle-{i}",
                                        10**15, 0) for i, k in enumerate(keys[start:start + 50], start)], sender=owner)
    return house, reg, ids


def rows(chain):
    from exchange.chain.auction import OpenParams

    owner, alice, bob = chain.accounts[1], chain.accounts[2], chain.accounts[3]
    house, _reg, devices = market(chain, 2 * BATCH + 1, owner)
    eng, sealed = house.mechanism("english"), house.mechanism("sealed-second-price")
    for who in (alice, bob):
        house.register_buyer_key(b"\x11" * 32, who)
        house.deposit(10**21, who)

    ids = house.open_batch([OpenParams(d, eng, reserve=10**15, increment=10**14, bidding_period=3600)
                            for d in devices[:BATCH + 1]], owner)
    yield {"op": "bid_single", "gas": house.bid(ids[0], 10**16, alice)["gasUsed"], "note": "first bid on a fresh auction"}
    r, skipped = house.bid_batch(ids[1:], [10**16] * BATCH, alice, strict=True)
    yield {"op": "bid_batch100_per_bid", "gas": r["gasUsed"] // BATCH, "note": "first bids on 100 fresh auctions"}
    r, _ = house.bid_batch(ids[1:], [2 * 10**16] * BATCH, bob, strict=True)
    yield {"op": "bid_batch100_outbid_per_bid", "gas": r["gasUsed"] // BATCH, "note": "outbids, releasing the previous bidder's lock"}
    chain.time_travel(3601)
    r = house.settle_batch(ids[1:])
    yield {"op": "settle_batch100_per_auction", "gas": r["gasUsed"] // BATCH}
    yield {"op": "deliver_key", "gas": house.deliver_key(ids[1], bytes(range(256)) * 1 + b"\x00" * 0, owner)["gasUsed"],
           "note": "256-byte sealed key"}
    yield {"op": "withdraw", "gas": house.withdraw_all(owner)["gasUsed"], "note": "withdrawAll (free balance to zero)"}
    yield {"op": "withdraw_partial", "gas": house.withdraw(10**15, alice)["gasUsed"]}

    sids = house.open_batch([OpenParams(d, sealed, reserve=10**15, bidding_period=3600, window=3600)
                             for d in devices[BATCH + 1:]], owner)
    bids = house.seal_bids(alice, sids, [10**16 + i for i in range(BATCH)], [2 * 10**16] * BATCH)
    r, _ = house.commit_batch(bids, alice, strict=True)
    yield {"op": "commit_batch100_per_bid", "gas": r["gasUsed"] // BATCH}
    chain.time_travel(3601)
    r, _ = house.reveal_batch(bids, alice, strict=True)
    yield {"op": "reveal_batch100_per_bid", "gas": r["gasUsed"] // BATCH}
    chain.time_travel(3601)
    r = house.settle_batch(sids)
    yield {"op": "settle_sealed_batch100_per_auction", "gas": r["gasUsed"] // BATCH}
