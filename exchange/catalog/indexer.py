"""Registry (and optionally AuctionHouse) events -> catalog rows.

Resumable: the cursor (next block) is stored in ``indexer_status`` in the same transaction as
the rows of each block range, so a crash mid-range leaves the catalog as it was before that
range. Idempotent: each device row remembers the position (block, log index) of the last
event applied and skips older ones; ratings are unique per (device, auction, rater); auctions
likewise (exchange.catalog.auction_index). Waits ``confirmations`` blocks behind the head. A
reorg deeper than that (the hash of the last block applied is no longer the chain's, or the chain
is shorter than the cursor: a dev chain reverted to a snapshot) empties the catalog and indexes
again from ``start_block`` in one transaction per range: the chain is the source of truth. Event
handling is a table (``HANDLERS``): adding an event means adding a function ``handler(batch, event)``.

An event that cannot be applied (its handler raises, or the database refuses its rows) does not
stop the catalog: the range is applied again one event at a time, each in its own transaction
(replays are harmless, see above), and the refused event is stored in ``indexer_quarantine``
with its reason and logged; the cursor moves past it. A transient database error (lost
connection, locked file) is not the event's fault: it propagates and the pass is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy.exc
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from exchange.catalog.auction_index import AUCTION_EVENTS, AUCTION_HANDLERS, AuctionRows
from exchange.catalog.db import analyze, create_tables, drop_tables, make_engine
from exchange.catalog.models import (
    CATALOG_TABLES,
    Affordance,
    Auction,
    AuctionBid,
    Device,
    DeviceTD,
    DeviceType,
    DeviceWord,
    IndexedBlock,
    IndexerStatus,
    Oem,
    QuarantinedEvent,
    Rating,
    Reputation,
    Tag,
)
from exchange.catalog.text import words_of
from exchange.chain.registry import ChainEvent, LogReader, event_abi
from exchange.errors import ExchangeError
from exchange.geo import decode as geohash_decode
from exchange.wot import TDValidationError, ThingDescription

log = logging.getLogger("thingbid.indexer")

CHUNK = 500
GWEI = 10**9
D, T, A, G, W = Device.__table__, DeviceType.__table__, Affordance.__table__, Tag.__table__, DeviceWord.__table__
J = DeviceTD.__table__
Q = QuarantinedEvent.__table__
log = logging.getLogger("thingbid.indexer")
# Errors of the database connection, not of an event: the pass is retried, nothing quarantined.
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError)


class IndexerError(ExchangeError, RuntimeError):
    """The catalog cannot be indexed as asked (e.g. it belongs to another registry)."""


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def bulk_insert(conn: Connection, table, rows: list[dict]) -> None:
    """executemany through the driver with a statement compiled once (SQLAlchemy's per-row parameter
    processing costs more than the insert itself at indexing rates)."""
    if not rows:
        return
    cols = [c.name for c in table.columns if c.name in rows[0]]
    compiled = insert(table).values({c: bindparam(c) for c in cols}).compile(dialect=conn.dialect)
    if compiled.positional:
        params = [tuple(r[k] for k in compiled.positiontup) for r in rows]
    else:
        params = [{k: r[k] for k in cols} for r in rows]
    conn.exec_driver_sql(str(compiled), params)


def _chunks(seq: list, n: int = CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def td_columns(td_bytes: bytes) -> tuple[dict, list[dict], list[dict], list[dict], list[dict], list[dict]]:
    """Device columns, then rows for device_types, affordances, tags, device_words and device_tds
    parsed from TD bytes (pure; child rows without device_id)."""
    try:
        td = ThingDescription.from_bytes(td_bytes)
    except TDValidationError:
        text = td_bytes.decode("utf-8", "replace")
        return _no_nul(({"title": "", "description": None, "types": "", "geohash": None, "lat": None, "lon": None,
                         "td_valid": False}, [], [], [], [], [{"td_json": text}]))
    lat = lon = None
    if td.geohash:
        lat, lon = geohash_decode(td.geohash)
    types = list(dict.fromkeys(td.types))
    tags = list(dict.fromkeys(t.lower() for t in td.tags))
    cols = {"title": td.title, "description": td.description, "types": "|" + "|".join(types) + "|" if types else "",
            "geohash": td.geohash, "lat": lat, "lon": lon, "td_valid": True}
    affs = {(a.kind, a.name): {"kind": a.kind, "name": a.name, "title": a.title, "data_type": a.data_type,
                               "unit": a.unit} for a in td.affordances}
    words = [{"word": w} for w in words_of(" ".join([td.title, td.description or "", *tags]))]
    return _no_nul((cols, [{"type": t} for t in types], list(affs.values()), [{"tag": t} for t in tags], words,
                    [{"td_json": td_bytes.decode("utf-8")}]))


def _no_nul(parts):
    """PostgreSQL text cannot hold NUL: TD text (valid JSON may spell one as \\u0000) gets U+FFFD."""
    return tuple({k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in part.items()}
                 if isinstance(part, dict) else
                 [{k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in row.items()}
                  for row in part] for part in parts)


@dataclass
class Batch:
    """State for one block range: rows loaded once, changed in memory, written in bulk."""

    conn: Connection
    devices: dict[str, dict] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)
    dirty: set[str] = field(default_factory=set)
    children: dict[str, tuple[list, list, list, list, list]] = field(default_factory=dict)
    ratings: list[dict] = field(default_factory=list)
    oems: dict[str, dict] = field(default_factory=dict)
    applied: int = 0
    house: AuctionRows | None = None  # the house's auction rows (exchange.catalog.auction_index)

    def __post_init__(self):
        self.house = AuctionRows(self.conn)

    def preload(self, ids: set[str]) -> None:
        for chunk in _chunks(sorted(ids)):
            for row in self.conn.execute(select(D).where(D.c.device_id.in_(chunk))).mappings():
                self.devices[row["device_id"]] = dict(row)
                self.existing.add(row["device_id"])

    def row(self, ev: ChainEvent, create: bool = False) -> dict | None:
        """The device row for ``ev`` if ``ev`` is newer than what the row has seen."""
        did = _hex(ev.args["deviceId"])
        r = self.devices.get(did)
        if r is None:
            if not create:
                return None
            r = self.devices[did] = {c.name: c.default.arg if c.default is not None and not callable(c.default.arg)
                                     else None for c in D.columns}
            r.update(device_id=did, last_block=-1, last_log_index=-1)
        if (ev.block_number, ev.log_index) <= (r["last_block"], r["last_log_index"]):
            return None  # already applied: replays change nothing
        r["last_block"], r["last_log_index"] = ev.block_number, ev.log_index
        self.dirty.add(did)
        self.applied += 1
        return r

    def set_td(self, r: dict, td: bytes, td_hash: bytes) -> None:
        cols, *kids = td_columns(td)
        r.update(cols, td_hash=_hex(td_hash))
        self.children[r["device_id"]] = tuple(kids)

    def flush(self) -> None:
        self.house.flush()
        new = [self.devices[d] for d in sorted(self.dirty - self.existing)]
        old = [self.devices[d] for d in sorted(self.dirty & self.existing)]
        replaced = sorted(set(self.children) & self.existing)
        for table in (T, A, G, W, J):
            for chunk in _chunks(replaced):
                self.conn.execute(delete(table).where(table.c.device_id.in_(chunk)))
        bulk_insert(self.conn, D, new)
        if old:
            stmt = update(D).where(D.c.device_id == bindparam("_id")).values(
                {c.name: bindparam(c.name) for c in D.columns if c.name != "device_id"})
            self.conn.execute(stmt, [{**r, "_id": r["device_id"]} for r in old])
        for table, idx in ((T, 0), (A, 1), (G, 2), (W, 3), (J, 4)):
            bulk_insert(self.conn, table, [{**c, "device_id": did} for did, kids in self.children.items()
                                           for c in kids[idx]])
        if self.ratings:
            self._insert_ignore(Rating.__table__, self.ratings)
            touched = sorted({r["device_id"] for r in self.ratings})
            R, P = Rating.__table__, Reputation.__table__
            for chunk in _chunks(touched):
                agg = self.conn.execute(select(R.c.device_id, func.count(), func.avg(R.c.score))
                                        .where(R.c.device_id.in_(chunk)).group_by(R.c.device_id)).all()
                self.conn.execute(delete(P).where(P.c.device_id.in_(chunk)))
                self.conn.execute(insert(P), [{"device_id": d, "count": n, "average": float(avg)} for d, n, avg in agg])
        if self.oems:
            ot = Oem.__table__
            self.conn.execute(delete(ot).where(ot.c.address.in_(list(self.oems))))
            self.conn.execute(insert(ot), list(self.oems.values()))

    def _insert_ignore(self, table, rows: list[dict]) -> None:
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        self.conn.execute(dialect_insert(table).on_conflict_do_nothing(
            index_elements=["device_id", "auction_id", "rater"]), rows)


# ------------------------------------------------------------------ handlers

def on_checked_in(b: Batch, ev: ChainEvent) -> None:
    r = b.row(ev, create=True)
    if r is None:
        return
    a = ev.args
    b.set_td(r, a["td"], a["tdHash"])
    r.update(owner=a["owner"], x25519_key=_hex(a["x25519Key"]), tangle_address=a["tangleAddress"],
             reserve_wei=str(a["reservePrice"]), reserve_gwei=a["reservePrice"] // GWEI, mechanism=a["mechanism"],
             active=True, attested=False, oem=None, checked_in_block=ev.block_number, updated_block=ev.block_number)


def on_updated(b: Batch, ev: ChainEvent) -> None:
    r = b.row(ev)
    if r is None:
        return
    a = ev.args
    b.set_td(r, a["td"], a["tdHash"])
    r.update(tangle_address=a["tangleAddress"], reserve_wei=str(a["reservePrice"]),
             reserve_gwei=a["reservePrice"] // GWEI, mechanism=a["mechanism"], updated_block=ev.block_number)


def on_checked_out(b: Batch, ev: ChainEvent) -> None:
    if (r := b.row(ev)) is not None:
        r.update(active=False, updated_block=ev.block_number)


def on_transferred(b: Batch, ev: ChainEvent) -> None:
    if (r := b.row(ev)) is not None:
        r.update(owner=ev.args["to"], updated_block=ev.block_number)


def on_attested(b: Batch, ev: ChainEvent) -> None:
    if (r := b.row(ev)) is not None:
        r.update(attested=True, oem=ev.args["oem"])


def on_oem_allowed(b: Batch, ev: ChainEvent) -> None:
    addr = ev.args["oem"]
    prev = b.oems.get(addr)
    if prev is None:
        ot = Oem.__table__
        prev = b.conn.execute(select(ot).where(ot.c.address == addr)).mappings().first()
    if prev is not None and (ev.block_number, ev.log_index) <= (prev["changed_block"], prev["changed_log_index"]):
        return
    b.applied += 1
    b.oems[addr] = {"address": addr, "allowed": ev.args["allowed"], "changed_block": ev.block_number,
                    "changed_log_index": ev.log_index}


def on_rated(b: Batch, ev: ChainEvent) -> None:
    # Unique (device, auction, rater): a replay inserts nothing (counted here, ignored on insert).
    b.ratings.append({"device_id": _hex(ev.args["deviceId"]), "auction_id": str(ev.args["auctionId"]),
                      "rater": ev.args["rater"], "score": ev.args["score"], "block_number": ev.block_number})


Handler = Callable[[Batch, ChainEvent], None]
HANDLERS: dict[str, Handler] = {
    "DeviceCheckedIn": on_checked_in,
    "DeviceUpdated": on_updated,
    "DeviceCheckedOut": on_checked_out,
    "DeviceTransferred": on_transferred,
    "DeviceAttested": on_attested,
    "OemAllowed": on_oem_allowed,
    "DeviceRated": on_rated,
}


def _house_handler(handler) -> Handler:
    def on_house_event(b: Batch, ev: ChainEvent) -> None:
        handler(b.house, ev)

    return on_house_event


HANDLERS.update({name: _house_handler(h) for name, h in AUCTION_HANDLERS.items()})


def register_handler(event_name: str, handler: Handler) -> None:
    """Index another event (e.g. AuctionHouse events): ``handler(batch, event)`` runs inside the range's transaction."""
    HANDLERS[event_name] = handler


def apply_events(conn: Connection, events: list[ChainEvent], handlers: dict[str, Handler] | None = None) -> int:
    """Apply decoded events to the catalog inside ``conn``'s transaction; returns how many changed something."""
    handlers = HANDLERS if handlers is None else handlers
    b = Batch(conn)
    b.preload({_hex(e.args["deviceId"]) for e in events if "deviceId" in e.args and e.name in handlers})
    b.house.preload(events)
    for ev in events:
        h = handlers.get(ev.name)
        if h is not None:
            h(b, ev)
    b.flush()
    return b.applied + b.house.applied


@dataclass(frozen=True)
class SyncResult:
    from_block: int
    to_block: int
    events: int  # events read
    applied: int  # events that changed the catalog


class Indexer:
    def __init__(self, chain, registry: str, database_url: str = "", engine: Engine | None = None,
                 auction_house: str | None = None, confirmations: int = 0, batch_blocks: int = 2000,
                 start_block: int = 0, analyze_after: int = 1000):
        """``analyze_after``: a sync that applies at least this many events (a bulk fill, a first
        sync, a rebuild) refreshes the planner's statistics at its end (``db.analyze``)."""
        from exchange.chain.registry import RegistryClient

        if confirmations < 0 or batch_blocks < 1:
            raise IndexerError("confirmations must be >= 0 and batch_blocks >= 1")
        self.chain = chain
        self.registry = RegistryClient(chain, registry)
        self.auction_house = auction_house
        extra = ({auction_house: [event_abi("AuctionHouse", n) for n in ("DeviceRated", *AUCTION_EVENTS)]}
                 if auction_house else {})
        self.reader: LogReader = self.registry.reader(extra)
        self.engine = engine or make_engine(database_url)
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.start_block = start_block
        self.analyze_after = analyze_after
        self.name = f"registry:{chain.chain_id}:{self.registry.address}"
        create_tables(self.engine)

    def status(self) -> dict:
        with self.engine.connect() as conn:
            return dict(self._status(conn))

    def _status(self, conn: Connection):
        S = IndexerStatus.__table__
        row = conn.execute(select(S).where(S.c.name == self.name)).mappings().first()
        if row is None:
            other = conn.execute(select(S.c.name)).scalars().first()
            if other is not None:
                raise IndexerError(f"this catalog indexes {other}; rebuild it to index {self.name}")
            conn.execute(insert(S).values(name=self.name, chain_id=self.chain.chain_id, registry_address=self.registry.address,
                                          auction_house=self.auction_house, next_block=self.start_block,
                                          events_applied=0))
            row = conn.execute(select(S).where(S.c.name == self.name)).mappings().first()
        return row

    def safe_head(self) -> int:
        return self.reader.head() - self.confirmations

    def sync(self, to_block: int | None = None, progress: Callable[[SyncResult], None] | None = None) -> SyncResult:
        """Index from the stored cursor up to ``to_block`` (default: head minus confirmations)."""
        with self.engine.begin() as conn:
            start = self._status(conn)["next_block"]
            if start > self.start_block and self._reorged(conn):
                log.warning("%s: the chain no longer has the last block indexed (a reorg, or a dev chain reverted):"
                            " indexing again from block %d", self.name, self.start_block)
                for table in reversed(CATALOG_TABLES):
                    conn.execute(delete(table))
                start = self._status(conn)["next_block"]
        end = self.safe_head() if to_block is None else min(to_block, self.safe_head())
        read = applied = 0
        block = start
        while block <= end:
            hi = min(end, block + self.batch_blocks - 1)
            r = self._range(block, hi, move_cursor=True)
            read, applied = read + r.events, applied + r.applied
            if progress:
                progress(r)
            block = hi + 1
        if applied >= self.analyze_after:
            analyze(self.engine)
        return SyncResult(start, max(start - 1, end), read, applied)

    def _reorged(self, conn: Connection) -> bool:
        B = IndexedBlock.__table__
        row = conn.execute(select(B).where(B.c.name == self.name)).mappings().first()
        if row is None:
            return False
        return self.reader.block_hash(row["block_number"]) != row["block_hash"]

    def reindex(self, from_block: int, to_block: int) -> SyncResult:
        """Re-read a range already indexed (changes nothing: every event is already applied)."""
        return self._range(from_block, to_block, move_cursor=False)

    def _range(self, lo: int, hi: int, move_cursor: bool) -> SyncResult:
        events = self.reader.read(lo, hi)
        try:
            with self.engine.begin() as conn:  # rows and cursor commit together, or not at all
                applied = apply_events(conn, events)
                self._move_cursor(conn, hi, applied, move_cursor)
        except TRANSIENT:
            raise
        except Exception:  # noqa: BLE001 - some event of the range cannot be applied: find it, keep the rest
            applied = self._one_by_one(events)
            with self.engine.begin() as conn:
                self._move_cursor(conn, hi, applied, move_cursor)
        return SyncResult(lo, hi, len(events), applied)

    def _move_cursor(self, conn: Connection, hi: int, applied: int, move: bool) -> None:
        S, B = IndexerStatus.__table__, IndexedBlock.__table__
        if move:
            conn.execute(update(S).where(S.c.name == self.name, S.c.next_block <= hi)
                         .values(next_block=hi + 1, events_applied=S.c.events_applied + applied))
            conn.execute(delete(B).where(B.c.name == self.name))
            conn.execute(insert(B).values(name=self.name, block_number=hi, block_hash=self.reader.block_hash(hi) or ""))

    def _one_by_one(self, events: list[ChainEvent]) -> int:
        applied = 0
        for ev in events:
            try:
                with self.engine.begin() as conn:
                    applied += apply_events(conn, [ev])
            except TRANSIENT:
                raise
            except Exception as exc:  # noqa: BLE001 - this event's fault: quarantined, indexing goes on
                self._quarantine(ev, exc)
        return applied

    def _quarantine(self, ev: ChainEvent, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        did = _hex(ev.args["deviceId"]) if isinstance(ev.args.get("deviceId"), bytes | bytearray) else None
        row = {"block_number": ev.block_number, "log_index": ev.log_index, "event": ev.name[:64], "device_id": did,
               "tx_hash": _hex(ev.tx_hash), "reason": reason.replace("\x00", "\\x00")}
        with self.engine.begin() as conn:
            if conn.execute(select(Q.c.event).where(Q.c.block_number == ev.block_number,
                                                    Q.c.log_index == ev.log_index)).first() is None:
                conn.execute(insert(Q).values(row))
                log.warning("quarantined %s at block %d log %d (device %s): %s", ev.name, ev.block_number,
                            ev.log_index, did, reason)

    def quarantined(self) -> list[dict]:
        """The events that could not be applied, in chain order, with their reasons."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(Q).order_by(Q.c.block_number, Q.c.log_index)).mappings()]

    def rebuild(self, to_block: int | None = None) -> SyncResult:
        """Drop every catalog table and index again from ``start_block``: the chain is the source of truth."""
        drop_tables(self.engine)
        create_tables(self.engine)
        result = self.sync(to_block)
        analyze(self.engine)  # however few events: the old statistics described the dropped tables
        return result

    def dump(self) -> dict[str, list[tuple]]:
        """Every catalog row, sorted (for comparing two catalogs)."""
        out = {}
        with self.engine.connect() as conn:
            for table in (D, J, T, A, G, W, Oem.__table__, Reputation.__table__, Auction.__table__,
                          AuctionBid.__table__):
                out[table.name] = sorted(tuple(r) for r in conn.execute(select(table)).all())
            R = Rating.__table__
            out["ratings"] = sorted(tuple(r) for r in conn.execute(select(*[c for c in R.columns if c.name != "id"])))
        return out

    def close(self) -> None:
        self.engine.dispose()

