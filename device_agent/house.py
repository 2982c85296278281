"""Adapter from the exchange's AuctionHouseClient to the seller's ``AuctionPort``.

Mechanism codes (as chosen in the registry: the index in the deploy plan's mechanisms) map to
the mechanism names the client knows from the deployment manifest.
"""

from __future__ import annotations

from device_agent.config import MECHANISMS
from device_agent.errors import AgentError
from device_agent.selling import AuctionInfo
from exchange.chain.auction import AuctionHouseClient, OpenParams
from exchange.chain.connect import Chain
from exchange.chain.vocabulary import State

PHASES = {State.AWAITING_KEY: "settled", State.DELIVERED: "delivered", State.RATED: "delivered",
          State.RECLAIMED: "reclaimed", State.UNSOLD: "no_sale", State.CANCELLED: "cancelled"}


class HousePort:
    def __init__(self, client: AuctionHouseClient, sender: str, clock):
        self.client = client
        self.sender = sender
        self.clock = clock
        self._scanned = -1
        self._mine: dict[bytes, list[int]] = {}

    @classmethod
    def from_manifest(cls, chain: Chain, manifest: dict, agent) -> HousePort:
        if "AuctionHouse" not in manifest.get("contracts", {}):
            raise AgentError(f"the deployment manifest for chain {manifest.get('chainId')} has no AuctionHouse")
        return cls(AuctionHouseClient.from_manifest(chain, manifest), agent.address, lambda: agent.clock(fresh=True))

    def open(self, device_id: bytes, *, mechanism: int, reserve: int, increment: int, bidding_seconds: int,
             access_period: int, delivery_window: int, anti_snipe: int = 0) -> int:
        # The window is the anti-sniping extension of an English auction; a sealed auction keeps
        # the house's default reveal window.
        mech = self.client.mechanism(MECHANISMS[mechanism])
        window = 0 if self.client.traits(mech)[0] else anti_snipe
        params = OpenParams(device_id, mech, reserve, increment,
                            bidding_seconds, window, access_period, delivery_window)
        return self.client.open(params, sender=self.sender)

    def info(self, auction_id: int) -> AuctionInfo:
        a = self.client.auction(auction_id)
        if a.state == "open":
            closes = a.time + a.window if a.sealed_bids else a.time
            return AuctionInfo(auction_id, a.device_id, "open" if self.clock() < closes else "ended", closes, "",
                               0, a.access_period, 0, 0, a.sealed_bids)
        phase = PHASES.get(a.state, a.state)
        return AuctionInfo(auction_id, a.device_id, phase, 0, a.first or "", a.first_amount, a.access_period,
                           a.time if phase == "delivered" else 0, a.time if phase == "settled" else 0, a.sealed_bids)

    def chain_time(self) -> int:
        return self.client.chain.now()

    def auctions_of(self, device_id: bytes) -> list[int]:
        reader = self.client.reader()
        head = reader.head()
        for ev in reader.read(self._scanned + 1, head):
            if ev.name == "AuctionOpened":
                self._mine.setdefault(bytes(ev.args["deviceId"]), []).append(int(ev.args["auctionId"]))
        self._scanned = head
        return list(self._mine.get(bytes(device_id), []))

    def unrevealed(self, auction_id: int) -> list[str]:
        """Sealed auctions: bidders who committed a deposit and still hold it (never revealed)."""
        committed = {e.args["bidder"] for e in self.client.events(names={"BidCommitted"})
                     if e.args["auctionId"] == auction_id}
        return sorted(b for b in committed if self.client.commit_of(auction_id, b)[1] > 0)

    def forfeit(self, auction_id: int, bidders: list[str]) -> None:
        self.client.forfeit_unrevealed(auction_id, bidders, sender=self.sender)

    def release(self, auction_id: int, bidders: list[str]) -> None:
        self.client.release_commitments(auction_id, bidders, sender=self.sender)

    def settle(self, auction_ids: list[int]) -> None:
        self.client.settle_batch(auction_ids, sender=self.sender)

    def buyer_key(self, buyer: str) -> bytes:
        key = self.client.buyer_key_of(buyer)
        if key == bytes(32):
            raise AgentError(f"buyer {buyer} has no X25519 key registered with the house")
        return key

    def deliver(self, auction_id: int, sealed_key: bytes) -> str:
        return self.client.deliver_key(auction_id, sealed_key, sender=self.sender)["transactionHash"].hex()

    def withdrawable(self) -> int:
        return self.client.balance_of(self.sender).free

    def withdraw(self) -> str:
        return self.client.withdraw_all(sender=self.sender)["transactionHash"].hex()
