"""A small market for the client library: a dev anvil (a block every second), the contracts, real
device agents (simulated appliances sampling every second) that check in and open short auctions,
the catalog indexed from the chain, and a buyer's encrypted keystore with ether."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.agent.conftest import PASSWORD, wait_for

BIDDING = 20  # seconds: long enough to search, plan and place, short enough for a test
APPLIANCES = ("fridge", "fridge", "thermostat", "washer", "tv")
BUYER_PASSWORD = "a data scientist's passphrase"


@dataclass
class World:
    tmp: Path
    chain: object
    manifest: dict
    rpc_url: str
    deployments_dir: Path
    database_url: str
    keystore: Path
    config: Path
    runners: list = field(default_factory=list)
    indexer: object = None

    @staticmethod
    def wait_seconds(seconds: float) -> None:
        time.sleep(seconds)

    def index(self) -> None:
        """Wait until the indexer service (a thread here, a process under ``thingbid up``) has caught up."""
        head = self.chain.block_number()
        wait_for("the indexer to reach the head", lambda: self.indexer.status()["next_block"] > head, 60)

    def runner_of(self, device_id: str):
        return next(r for r in self.runners if "0x" + r.agent.identity.device_id_hex == device_id.lower())

    def connect(self):
        from exchange.client import Exchange

        return Exchange.connect(keystore=self.keystore, password=BUYER_PASSWORD, config=self.config)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from device_agent.config import AgentConfig
    from device_agent.runner import AgentRunner, init_agent
    from exchange.catalog.indexer import Indexer
    from exchange.chain.anvil import DEV_BLOCK_SECONDS, start_anvil
    from exchange.chain.connect import create_keystore, rpc_chain
    from exchange.chain.deploy import deploy_all
    from exchange.system.indexer import follow

    tmp = tmp_path_factory.mktemp("market")
    proc = start_anvil(port=None, block_time=DEV_BLOCK_SECONDS)
    runners = []
    stop = threading.Event()
    try:
        chain = rpc_chain(proc.url, kind="anvil")
        ddir = tmp / "deployments"
        manifest, _ = deploy_all(chain, ddir, fresh=True)
        db = f"sqlite:///{tmp / 'catalog.db'}"
        keystore = tmp / "buyer.json"
        buyer = create_keystore(keystore, BUYER_PASSWORD)
        chain.send_value(buyer, 10**20)
        config = tmp / "client.toml"
        config.write_text(f'rpc_url = "{proc.url}"\ndatabase_url = "{db}"\ndeployments_dir = "{ddir}"\n'
                          f'state_dir = "{tmp / "state"}"\n')
        for i, appliance in enumerate(APPLIANCES):
            cfg = AgentConfig(appliance=appliance, seed=i, bidding_seconds=BIDDING, reserve_price_wei=10**15,
                              source={"kind": "simulator", "sample_seconds": 1}, stream_ledgers=[])
            data_dir = tmp / f"{appliance}-{i}"
            init_agent(data_dir, PASSWORD, cfg, kdf_n=2**8)
            r = AgentRunner(data_dir, PASSWORD, chain_url=proc.url, manifest=manifest, sell_interval=0.3,
                            streams=False, enable=True)
            chain.send_value(r.agent.address, 10**19)
            runners.append(r)
        for r in runners:
            r.start()
        for r in runners:
            wait_for("every device's first auction", lambda r=r: r.agent.state.auctions(), 60)
        w = World(tmp, chain, manifest, proc.url, ddir, db, keystore, config, runners,
                  Indexer(chain, manifest["contracts"]["DeviceRegistry"]["address"], db,
                          auction_house=manifest["contracts"]["AuctionHouse"]["address"]))
        # The catalog indexer service, as `thingbid up` runs it: the client reads auctions from its tables.
        follower = threading.Thread(target=follow, args=(proc.url, ddir, db, 0.2), kwargs={"stop": stop}, daemon=True)
        follower.start()
        w.index()
        yield w
    finally:
        stop.set()
        for r in runners:
            r.stop()
        proc.stop()


def with_time_left(world, device_ids, seconds: float = 10.0) -> None:
    """Wait until each device's running auction has at least ``seconds`` of bidding left (an
    unsold auction is followed by a new one), so a bid placed now is not too late."""
    from exchange.chain.auction import AuctionHouseClient

    house = AuctionHouseClient.from_manifest(world.chain, world.manifest)

    def ready():
        now = world.chain.now()
        for did in device_ids:
            mine = [a for a in world.runner_of(did).agent.state.auctions() if a.status == "open"]
            info = house.auction(mine[-1].auction_id) if mine else None
            if info is None or info.state != "open" or info.time - now < seconds:
                return False
        return True

    wait_for(f"auctions with {seconds:g} s left", ready, BIDDING + 30)
