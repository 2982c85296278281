"""One real deployment (full DEPLOY_PLAN: DeviceRegistry, mechanisms, AuctionHouse) per session on
eth-tester, with devices checked in; every test runs on a snapshot that is reverted afterwards."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils import keccak

from exchange.chain.auction import AuctionHouseClient, OpenParams
from exchange.chain.connect import Chain, embedded_chain
from exchange.chain.deploy import deploy_all, mechanism_names
from exchange.chain.registry import CheckInItem, DeviceKey, RegistryClient

MECHANISMS = mechanism_names()  # every mechanism of the deploy plan joins the shared suites
ETHER = 10**18
DEVICES = 40
TD = b'{"@context":"https://www.w3.org/2022/wot/td/v1.1","title":"auction-test"}'


@dataclass
class Market:
    chain: Chain
    house: AuctionHouseClient
    registry: RegistryClient
    devices: list[bytes]
    seller: str
    bidders: list[str]
    stranger: str
    manifest: dict
    _next_device: int = 0

    def now(self) -> int:
        return self.chain.w3.eth.get_block("latest")["timestamp"]

    def at(self, ts: int) -> None:
        """The next transaction is mined in a block with timestamp exactly ``ts``."""
        self.chain.tester.time_travel(ts)

    def device(self) -> bytes:
        d = self.devices[self._next_device]
        self._next_device += 1
        return d

    def open(self, mechanism: str, n: int = 1, **terms) -> list[int]:
        terms.setdefault("reserve", ETHER // 100)
        terms.setdefault("bidding_period", 3600)
        mech = self.house.mechanism(mechanism)
        return self.house.open_batch([OpenParams(self.device(), mech, **terms) for _ in range(n)], self.seller)

    def sealed(self, mechanism: str) -> bool:
        """Whether the mechanism takes sealed bids (its traits, read from the contract)."""
        return self.house.traits(mechanism)[0]

    def second_priced(self, mechanism: str) -> bool:
        return self.house.traits(mechanism)[1]

    def end_of(self, auction_id: int) -> int:
        return self.house.auction(auction_id).time

    def close_at(self, auction_id: int) -> int:
        """When settlement becomes possible (bidding end, plus the reveal window if sealed)."""
        a = self.house.auction(auction_id)
        return a.time + (a.window if a.sealed_bids else 0)

    def place(self, mechanism: str, auction_id: int, bids: list[tuple[str, int]]) -> None:
        """Every (bidder, amount) bid stands, then bidding (and revealing) is over."""
        if not self.sealed(mechanism):
            for bidder, amount in bids:
                self.house.bid(auction_id, amount, bidder)
            self.at(max(self.end_of(auction_id), self.now() + 1))
            return
        sealed = []
        for bidder, amount in bids:
            (sb,) = self.house.seal_bids(bidder, [auction_id], [amount])
            self.house.commit_batch([sb], bidder, strict=True)
            sealed.append((bidder, sb))
        self.at(self.end_of(auction_id))
        for bidder, sb in sealed:
            self.house.reveal_batch([sb], bidder, strict=True)
        self.at(max(self.close_at(auction_id), self.now() + 1))

    def held(self) -> int:
        """Sum of every free and locked balance plus payments awaiting delivery."""
        accounts = {self.seller, self.stranger, *self.bidders, self.chain.deployer}
        total = sum(b.free + b.locked for b in map(self.house.balance_of, accounts))
        for i in range(1, self.house.auction_count() + 1):
            a = self.house.auction(i)
            if a.state == "awaiting_key":
                total += a.first_amount
        return total


@pytest.fixture(scope="session")
def _market_session():
    chain = embedded_chain()
    with tempfile.TemporaryDirectory() as tmp:
        manifest, _ = deploy_all(chain, Path(tmp), fresh=True)
    reg = RegistryClient.from_manifest(chain, manifest)
    house = AuctionHouseClient.from_manifest(chain, manifest)
    seller, stranger = chain.accounts[1], chain.accounts[9]
    bidders = chain.accounts[2:6]
    keys = [DeviceKey.from_seed(keccak(f"auction-test-device-{i}".encode())) for i in range(DEVICES)]
    devices = [k.device_id for k in keys]
    reg.check_in_batch([CheckInItem(k, TD, keccak(k.device_id), keccak(b"ed25519" + k.device_id), f"tangle-{i}", 10**15, 0)
                        for i, k in enumerate(keys)],
                       sender=seller)
    for b in bidders:
        house.register_buyer_key(os.urandom(32), b)
        house.deposit(100 * ETHER, b)
    market = Market(chain, house, reg, devices, seller, bidders, stranger, manifest)
    yield market
    chain.close()


@pytest.fixture
def market(_market_session):
    m = _market_session
    snap = m.chain.tester.take_snapshot()
    m._next_device = 0
    yield m
    m.chain.tester.revert_to_snapshot(snap)
