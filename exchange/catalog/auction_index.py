"""AuctionHouse events -> the ``auctions`` and ``auction_bids`` tables (the read model of the house).

Applied by the catalog indexer inside each block range's transaction, like the registry's events:
rows are loaded once per range, changed in memory, written at the end. Idempotent: each auction row
remembers the position (block, log index) of the last event applied to it (a bid, a settlement, a
delivery), and an event at or before that position changes nothing, so replays are no-ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from exchange.catalog.models import Auction, AuctionBid
from exchange.chain.registry import ChainEvent

GWEI = 10**9
AU, AB = Auction.__table__, AuctionBid.__table__
CHUNK = 500

# The house's events this read model folds (DeviceRated feeds the ratings tables, elsewhere).
AUCTION_EVENTS = ("AuctionOpened", "BidPlaced", "BidCommitted", "BidRevealed", "BiddingExtended", "AuctionSettled",
                  "AuctionUnsold", "AuctionCancelled", "KeyDelivered", "PaymentReclaimed", "PaymentRefunded")


def _hex(b) -> str:
    return "0x" + bytes(b).hex() if isinstance(b, bytes | bytearray) else str(b).lower()


def _chunks(seq: list, n: int = CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


@dataclass
class AuctionRows:
    """Auction and standing rows of one block range."""

    conn: Connection
    auctions: dict[int, dict] = field(default_factory=dict)
    bids: dict[tuple[int, str], dict] = field(default_factory=dict)
    existing: set = field(default_factory=set)  # auction ids and (auction, bidder) keys already stored
    dirty: set = field(default_factory=set)
    applied: int = 0

    def preload(self, events: Iterable[ChainEvent]) -> None:
        ids = sorted({int(e.args["auctionId"]) for e in events if e.name in AUCTION_EVENTS})
        for chunk in _chunks(ids):
            for row in self.conn.execute(select(AU).where(AU.c.auction_id.in_(chunk))).mappings():
                self.auctions[row["auction_id"]] = dict(row)
                self.existing.add(row["auction_id"])
            for row in self.conn.execute(select(AB).where(AB.c.auction_id.in_(chunk))).mappings():
                key = (row["auction_id"], row["bidder"])
                self.bids[key] = dict(row)
                self.existing.add(key)

    def touch(self, ev: ChainEvent) -> dict | None:
        """The auction row of ``ev`` if ``ev`` is newer than what the row has seen (None: unknown or replayed)."""
        r = self.auctions.get(int(ev.args["auctionId"]))
        if r is None or (ev.block_number, ev.log_index) <= (r["last_block"], r["last_log_index"]):
            return None
        r["last_block"], r["last_log_index"] = ev.block_number, ev.log_index
        self.dirty.add(r["auction_id"])
        self.applied += 1
        return r

    def bid(self, aid: int, bidder: str) -> dict:
        key = (aid, bidder.lower())
        b = self.bids.get(key)
        if b is None:
            b = self.bids[key] = {"auction_id": aid, "bidder": key[1], "amount_wei": "0", "deposit_wei": "0",
                                  "committed": False, "revealed": False}
        self.dirty.add(key)
        return b

    def flush(self) -> None:
        for table, rows, keys in ((AU, self.auctions, ("auction_id",)), (AB, self.bids, ("auction_id", "bidder"))):
            dirty = sorted(k for k in self.dirty if k in rows)
            new = [rows[k] for k in dirty if k not in self.existing]
            old = [rows[k] for k in dirty if k in self.existing]
            if new:
                self.conn.execute(insert(table), new)
            if old:
                where = and_(*[table.c[k] == bindparam("_" + k) for k in keys])
                stmt = update(table).where(where).values({c.name: bindparam(c.name) for c in table.columns
                                                          if c.name not in keys})
                self.conn.execute(stmt, [{**r, **{"_" + k: r[k] for k in keys}} for r in old])


Handler = Callable[[AuctionRows, ChainEvent], None]


def on_opened(h: AuctionRows, ev: ChainEvent) -> None:
    a = ev.args
    aid = int(a["auctionId"])
    r = h.auctions.get(aid)
    if r is not None and (ev.block_number, ev.log_index) <= (r["last_block"], r["last_log_index"]):
        return
    p = a["params"]  # OpenParams: deviceId, mechanism, reserve, increment, biddingPeriod, window, access, delivery, bond
    h.auctions[aid] = {
        "auction_id": aid, "device_id": _hex(a["deviceId"]), "seller": str(a["seller"]), "mechanism": str(p[1]).lower(),
        "reserve_wei": str(int(p[2])), "increment_wei": str(int(p[3])), "bidding_end": int(a["biddingEnd"]),
        "fee_bps": int(a["feeBps"]), "delivery_window": int(p[7]), "bond_bps": int(p[8]), "window": int(p[5]),
        "highest_wei": "0", "highest_gwei": 0, "leader": None, "status": "open", "closed": False, "winner": None,
        "price_wei": "0", "sealed_key": None, "access_until": 0, "opened_block": ev.block_number,
        "last_block": ev.block_number, "last_log_index": ev.log_index}
    h.dirty.add(aid)
    h.applied += 1


def on_bid_placed(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is None:
        return
    amount, bidder = int(ev.args["amount"]), str(ev.args["bidder"])
    h.bid(r["auction_id"], bidder)["amount_wei"] = str(amount)
    if amount >= int(r["highest_wei"]):  # open auctions only accept a new highest bid
        r.update(highest_wei=str(amount), highest_gwei=amount // GWEI, leader=bidder)


def on_committed(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is None:
        return
    b = h.bid(r["auction_id"], str(ev.args["bidder"]))
    b.update(committed=True, deposit_wei=str(int(ev.args["deposit"])))


def on_revealed(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is None:
        return
    b = h.bid(r["auction_id"], str(ev.args["bidder"]))
    b.update(revealed=True, amount_wei=str(int(ev.args["amount"])))


def on_extended(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is not None:
        r["bidding_end"] = int(ev.args["biddingEnd"])


def on_settled(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is not None:
        r.update(status="settled", closed=True, winner=str(ev.args["winner"]).lower(), price_wei=str(int(ev.args["price"])))


def _closing(status: str) -> Handler:
    def handler(h: AuctionRows, ev: ChainEvent) -> None:
        if (r := h.touch(ev)) is not None:
            r.update(status=status, closed=True)

    handler.__name__ = f"on_{status}"
    return handler


def on_key_delivered(h: AuctionRows, ev: ChainEvent) -> None:
    if (r := h.touch(ev)) is not None:
        r.update(status="delivered", closed=True, winner=str(ev.args["winner"]).lower(), sealed_key=bytes(ev.args["sealedKey"]).hex(),
                 access_until=int(ev.args["accessUntil"]))


AUCTION_HANDLERS: dict[str, Handler] = {
    "AuctionOpened": on_opened,
    "BidPlaced": on_bid_placed,
    "BidCommitted": on_committed,
    "BidRevealed": on_revealed,
    "BiddingExtended": on_extended,
    "AuctionSettled": on_settled,
    "AuctionUnsold": _closing("unsold"),
    "AuctionCancelled": _closing("cancelled"),
    "KeyDelivered": on_key_delivered,
    "PaymentReclaimed": _closing("reclaimed"),
    "PaymentRefunded": _closing("refunded"),
}
assert set(AUCTION_HANDLERS) == set(AUCTION_EVENTS)
