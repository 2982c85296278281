"""``thingbid bench indexer``: catalog indexing throughput (registry events per second).

Fills a chain with batch check-ins (plus updates and check-outs), then times
``Indexer.sync`` from block 0 into a fresh SQLite catalog: reading logs by block range,
decoding, and bulk writes. Only the indexing is timed, not making the events.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

NAME = "indexer"
HELP = "events indexed per second from a chain full of registry events into a fresh catalog"


def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=3000, help="devices checked in (50 per transaction)")
    parser.add_argument("--chain", choices=["anvil", "embedded"], default="anvil",
                        help="anvil (a real node on a free port; default) or the in-process eth-tester")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--batch-blocks", type=int, default=2000)


def make_events(chain, devices: int):
    from eth_utils import keccak

    from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient
    from exchange.wot import canonical_td
    from exchange.wot.samples import APPLIANCES, appliance_td, random_geohash

    rng = random.Random(3)

    reg = RegistryClient.deploy(chain)
    owner = chain.accounts[1]
    kinds = sorted(APPLIANCES)
    ids = []
    for start in range(0, devices, 50):
        items = []
        for i in range(start, min(devices, start + 50)):
            key = DeviceKey.from_seed(keccak(f"bench-{i}".encode()))
            did = key.device_id
            ids.append(did)
            # Every TD differs (id, title, location), as in a real fleet: nothing can be cached.
            td = canonical_td(appliance_td(kinds[i % len(kinds)], random_geohash(rng), device_id=f"urn:dev:tb:{i:06d}"))
            items.append(CheckInItem(key, td, os.urandom(32), os.urandom(32), f"tangle-{i}", 10**15 * (i + 1), i % 2))
        reg.check_in_batch(items, sender=owner)
    # A sprinkle of other events so every handler runs.
    for did in ids[: max(1, devices // 100)]:
        reg.update(did, canonical_td(appliance_td(kinds[0], "u33db")), "tangle-moved", 10**16, 0, sender=owner)
        reg.check_out(did, sender=owner)
    return reg


def run(args):
    from exchange.catalog.indexer import Indexer
    from exchange.chain.connect import anvil_chain, embedded_chain

    chain = anvil_chain(port=None, reuse=False) if args.chain == "anvil" else embedded_chain()
    try:
        reg = make_events(chain, args.devices)
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'catalog.db'}"
            ix = Indexer(chain, reg.address, url, batch_blocks=args.batch_blocks)
            t = time.perf_counter()
            r = ix.sync()
            secs = time.perf_counter() - t
            t = time.perf_counter()
            again = ix.reindex(0, r.to_block)  # idempotent replay: reads and decodes, writes nothing
            replay_s = time.perf_counter() - t
            ix.close()
        yield {"chain": args.chain, "events": r.events, "blocks": r.to_block + 1, "seconds": round(secs, 3),
               "events_per_s": round(r.events / secs, 1), "replay_events_per_s": round(again.events / replay_s, 1),
               "replay_applied": again.applied}
    finally:
        chain.close()
