"""A populated local world for demos, tests and the UI benchmark.

Deploys the contracts, checks in ``n`` simulated devices through the registry client (batch
check-ins by a few owner accounts), opens an auction for each, and indexes the chain into the
catalog. Nothing here is a stand-in: real contracts, real TDs, real catalog.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from exchange.wot.samples import APPLIANCES, appliance_td

# Mostly European cities (coarse: the TD carries a 5-character geohash only).
CITIES = [("Berlin", 52.52, 13.40), ("Paris", 48.86, 2.35), ("Madrid", 40.42, -3.70), ("Rome", 41.90, 12.50),
          ("Warsaw", 52.23, 21.01), ("Stockholm", 59.33, 18.07), ("Lisbon", 38.72, -9.14), ("Vienna", 48.21, 16.37),
          ("Dublin", 53.35, -6.26), ("Athens", 37.98, 23.73)]


@dataclass
class SimDevice:
    device_id: bytes
    kind: str
    city: str
    owner: str
    reserve: int
    x25519_private: bytes
    ed25519_private: bytes
    td: dict
    auction_id: int | None = None
    device_seed: bytes = b""  # derives the device key whose address is device_id
    tangle_address: str = ""  # where its stream sales are paid ("" = a placeholder, it sells no streams)

    @property
    def device_key(self):
        from exchange.chain.devicekey import DeviceKey

        return DeviceKey.from_seed(self.device_seed)


@dataclass
class World:
    chain: object
    manifest: dict
    database_url: str
    devices: list[SimDevice] = field(default_factory=list)

    def by_id(self, device_id_hex: str) -> SimDevice:
        did = device_id_hex.lower().removeprefix("0x")
        return next(d for d in self.devices if d.device_id.hex() == did)


def _geohash(lat: float, lon: float) -> str:
    from exchange.geo import encode

    return encode(lat, lon, 5)


def make_devices(n: int, owners: list[str], seed: int = 7, hostile: int = 0, base_url: str = "http://127.0.0.1:9",
                 reserve_range: tuple[int, int] = (10**14, 10**15), tags: tuple[str, ...] = ("household",)
                 ) -> list[SimDevice]:
    """``n`` simulated devices; the first ``hostile`` have markup in their title and description."""
    from exchange.crypto import generate_ed25519, generate_x25519

    rng = random.Random(seed)
    kinds = sorted(APPLIANCES)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        city, lat, lon = CITIES[rng.randrange(len(CITIES))]
        gh = _geohash(lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.3, 0.3))
        from exchange.chain.devicekey import DeviceKey

        seed = rng.randbytes(32)
        did = DeviceKey.from_seed(seed).device_id
        urn = f"urn:dev:thingbid:{did.hex()[:16]}"
        td = appliance_td(kind, geohash=gh, device_id=urn, base=f"{base_url}/things/{did.hex()[:16]}",
                          tags=(city.lower(), *tags))
        if i < hostile:
            td["title"] = f'<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>{kind} {i}'
            td["description"] = '<b onmouseover="window.__pwned=1">bold</b> & "quotes" <iframe src=//evil>'
        else:
            td["title"] = f"{kind} in {city} #{i}"
        xs, _ = generate_x25519()
        es, _ = generate_ed25519()
        reserve = rng.randrange(reserve_range[0], reserve_range[1]) // 10**12 * 10**12
        out.append(SimDevice(did, kind, city, owners[i % len(owners)], reserve, xs, es, td, device_seed=seed))
    return out


def check_in(chain, manifest: dict, devices: list[SimDevice]) -> None:
    from exchange.chain.registry import CheckInItem, RegistryClient
    from exchange.crypto import ed25519_public, x25519_public
    from exchange.wot.td import canonical_td

    reg = RegistryClient.from_manifest(chain, manifest)
    by_owner: dict[str, list[SimDevice]] = {}
    for d in devices:
        by_owner.setdefault(d.owner, []).append(d)
    for owner, ds in by_owner.items():
        for i in range(0, len(ds), 50):  # well under the registry's batch limit and block gas
            items = [CheckInItem(d.device_key, canonical_td(d.td), x25519_public(d.x25519_private),
                                 ed25519_public(d.ed25519_private), d.tangle_address or "tangle:" + d.device_id.hex()[:40],
                                 d.reserve, 0)
                     for d in ds[i:i + 50]]
            reg.check_in_batch(items, sender=owner)


def open_auctions_for(world, devices, duration_s: int = 3600, mechanism: str = "english") -> None:
    """The device owners' side: each owner opens an auction per device (batches of 50)."""
    from exchange.chain.auction import AuctionHouseClient, OpenParams

    client = AuctionHouseClient.from_manifest(world.chain, world.manifest)
    mech = client.mechanism(mechanism)
    by_owner: dict[str, list] = {}
    for d in devices:
        by_owner.setdefault(d.owner, []).append(d)
    for owner, ds in by_owner.items():
        for i in range(0, len(ds), 50):
            chunk = ds[i:i + 50]
            ids = client.open_batch([OpenParams(d.device_id, mech, reserve=d.reserve, increment=d.reserve // 20,
                                                bidding_period=duration_s, delivery_window=3600,
                                                window=3600 if client.traits(mech)[0] else 0) for d in chunk],
                                    sender=owner)
            for d, aid in zip(chunk, ids, strict=True):
                d.auction_id = aid


def index(chain, manifest: dict, database_url: str) -> None:
    from exchange.catalog.indexer import Indexer

    house = manifest["contracts"].get("AuctionHouse", {}).get("address")
    idx = Indexer(chain, manifest["contracts"]["DeviceRegistry"]["address"], database_url, auction_house=house)
    try:
        idx.sync()
    finally:
        idx.close()


def build_world(chain, deployments_dir: Path, database_url: str, n_devices: int = 50, hostile: int = 2,
                seed: int = 7, open_auctions: bool = True, duration_s: int = 3600,
                base_url: str = "http://127.0.0.1:9", mechanism: str = "english") -> World:
    from exchange.chain.deploy import deploy_all

    manifest, _ = deploy_all(chain, Path(deployments_dir))
    owners = chain.accounts[1:4]
    devices = make_devices(n_devices, owners, seed=seed, hostile=hostile, base_url=base_url)
    check_in(chain, manifest, devices)
    world = World(chain, manifest, database_url, devices)
    if open_auctions:
        open_auctions_for(world, devices, duration_s, mechanism)
    index(chain, manifest, database_url)
    return world


def sqlite_url(directory: str | os.PathLike, name: str = "catalog") -> str:
    return f"sqlite:///{Path(directory) / (name + '.db')}"
