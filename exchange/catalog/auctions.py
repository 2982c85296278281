"""Read side of the auction tables (filled by the indexer, exchange.catalog.auction_index).

``AuctionReads(engine)`` answers what the web app, the planner and the client ask of the house's
history with indexed SQL: the newest open auction of each device, a device's auctions, a bidder's
standings, the keys delivered to a winner. Nothing is folded in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from exchange.catalog.models import Auction, AuctionBid, IndexerStatus

AU, AB = Auction.__table__, AuctionBid.__table__
CHUNK = 500


@dataclass(frozen=True)
class AuctionRow:
    auction_id: int
    device_id: str
    seller: str
    mechanism: str
    reserve: int
    increment: int
    bidding_end: int
    fee_bps: int
    delivery_window: int
    bond_bps: int
    window: int
    highest: int
    leader: str | None
    status: str
    closed: bool
    winner: str | None
    price: int
    sealed_key: bytes | None
    access_until: int


@dataclass(frozen=True)
class Standing:
    """One bidder's bid (or sealed commitment) in one auction."""

    auction_id: int
    device_id: str
    amount: int  # the latest bid; sealed: the revealed amount (0 before the reveal)
    deposit: int  # sealed: what the commitment locked
    committed: bool
    revealed: bool


def _row(m) -> AuctionRow:
    return AuctionRow(m["auction_id"], m["device_id"], m["seller"], m["mechanism"], int(m["reserve_wei"]),
                      int(m["increment_wei"]), m["bidding_end"], m["fee_bps"], m["delivery_window"], m["bond_bps"],
                      m["window"], int(m["highest_wei"]), m["leader"], m["status"], bool(m["closed"]), m["winner"],
                      int(m["price_wei"]), bytes.fromhex(m["sealed_key"]) if m["sealed_key"] else None,
                      m["access_until"])


def _chunks(seq: list, n: int = CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class AuctionReads:
    def __init__(self, engine: Engine):
        self.engine = engine

    def indexed_through(self) -> int:
        """The last block the indexer has applied (-1: none yet)."""
        S = IndexerStatus.__table__
        with self.engine.connect() as c:
            n = c.execute(select(func.max(S.c.next_block))).scalar()
        return -1 if n is None else int(n) - 1

    def auction(self, auction_id: int) -> AuctionRow | None:
        with self.engine.connect() as c:
            m = c.execute(select(AU).where(AU.c.auction_id == int(auction_id))).mappings().first()
        return _row(m) if m else None

    def latest_open(self, device_ids: Iterable[str]) -> dict[str, AuctionRow]:
        """The newest auction still taking bids (not settled, unsold or cancelled) of each device, by id."""
        ids = sorted({d.lower() for d in device_ids})
        out: dict[str, AuctionRow] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(ids):
                newest = (select(AU.c.device_id, func.max(AU.c.auction_id).label("aid"))
                          .where(AU.c.device_id.in_(chunk), AU.c.closed.is_(False)).group_by(AU.c.device_id)
                          .subquery())
                for m in c.execute(select(AU).join(newest, AU.c.auction_id == newest.c.aid)).mappings():
                    out[m["device_id"]] = _row(m)
        return out

    def of_device(self, device_id: str, limit: int = 20) -> list[AuctionRow]:
        """A device's auctions, newest first."""
        with self.engine.connect() as c:
            return [_row(m) for m in c.execute(select(AU).where(AU.c.device_id == device_id.lower())
                                               .order_by(AU.c.auction_id.desc()).limit(limit)).mappings()]

    def standings(self, bidder: str, auction_ids: Iterable[int] | None = None) -> list[Standing]:
        """The bidder's bids and commitments, newest auction first (optionally only on ``auction_ids``)."""
        q = (select(AB, AU.c.device_id).join(AU, AU.c.auction_id == AB.c.auction_id)
             .where(AB.c.bidder == bidder.lower()).order_by(AB.c.auction_id.desc()))
        with self.engine.connect() as c:
            if auction_ids is None:
                rows = list(c.execute(q).mappings())
            else:
                rows = [m for chunk in _chunks(sorted({int(a) for a in auction_ids}))
                        for m in c.execute(q.where(AB.c.auction_id.in_(chunk))).mappings()]
        return [Standing(m["auction_id"], m["device_id"], int(m["amount_wei"]), int(m["deposit_wei"]),
                         bool(m["committed"]), bool(m["revealed"])) for m in rows]

    def delivered_to(self, winner: str) -> list[AuctionRow]:
        """Auctions whose key was delivered to ``winner``, newest first."""
        with self.engine.connect() as c:
            return [_row(m) for m in c.execute(
                select(AU).where(and_(AU.c.winner == winner.lower(), AU.c.sealed_key.is_not(None)))
                .order_by(AU.c.auction_id.desc())).mappings()]

    def delivered(self, auction_ids: Iterable[int]) -> set[int]:
        ids = sorted({int(a) for a in auction_ids})
        out: set[int] = set()
        with self.engine.connect() as c:
            for chunk in _chunks(ids):
                out |= set(c.execute(select(AU.c.auction_id).where(AU.c.auction_id.in_(chunk),
                                                                   AU.c.sealed_key.is_not(None))).scalars())
        return out
