"""Catalog tables (SQLModel, table=True). Input/output schemas live in exchange.catalog.schemas.

Devices carry lat/lon (the centre of their geohash cell) for maps and radius filters and
``reserve_gwei`` (an int64) for price filters; device rows stay slim (the TD JSON lives in
``device_tds``) so index lookups and scans touch few pages;
the exact reserve in wei (a uint80, too wide for BIGINT) is kept as a decimal string.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Columns compared by prefix range (geohash cells, words): code-point order on every database.
# SQLite compares bytes already; PostgreSQL gets COLLATE "C" whatever the database's collation.
ORDERED_COLUMNS = (("devices", "geohash", 12), ("device_words", "word", 64))


def ORDERED_TEXT(length: int):  # noqa: N802 - reads as a column type
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Device(SQLModel, table=True):
    __tablename__ = "devices"
    __table_args__ = (
        # types, attested and the id ride along so scans by area filter and probe without reading the row.
        # On PostgreSQL the sort key of the default order rides along too, so an area filter with
        # a type and a word is answered from this index without visiting the table (150 -> 66 ms
        # for type + word + geohash prefix + reputation over 100k devices, under load 25).
        Index("ix_devices_area", "active", "geohash", "types", "attested", "device_id",
              postgresql_include=["checked_in_block"]),
        # Radius searches: the box on (lat, lon) and every other test from the index alone on
        # PostgreSQL (a bitmap heap scan of ~2,000 scattered rows took 38 ms; 1.7 ms this way).
        Index("ix_devices_position", "lat", "lon", postgresql_include=["active", "geohash", "device_id"]),
        Index("ix_devices_reserve", "reserve_gwei"),
        Index("ix_devices_order", "checked_in_block", "device_id"),
        Index("ix_devices_title", "title", "device_id"),
        # The WoT directory's listing: valid TDs of active devices in id order, an offset skipping
        # index entries only.
        Index("ix_devices_listing", "active", "td_valid", "device_id"),
    )

    device_id: str = Field(primary_key=True, max_length=66)  # 0x + 64 hex
    owner: str = Field(max_length=42, index=True)
    title: str = ""
    description: str | None = Field(default=None, sa_column=Column(Text))
    types: str = ""  # "|Thing|Refrigerator|" for display; filters use device_types
    # Byte-order collation on PostgreSQL: prefix ranges ("u33" <= g < "u34") assume code-point order,
    # which a linguistic collation (ICU en-US, say) breaks ("u33{" sorts before "u33z" there).
    geohash: str | None = Field(default=None, sa_column=Column(ORDERED_TEXT(12), nullable=True))
    lat: float | None = None
    lon: float | None = None
    reserve_wei: str = "0"
    reserve_gwei: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    mechanism: int = 0
    active: bool = True
    attested: bool = Field(default=False, index=True)
    oem: str | None = Field(default=None, max_length=42)
    td_hash: str = Field(default="", max_length=66)
    td_valid: bool = True  # False: the event carried bytes that are not a valid TD (shown, not searchable)
    x25519_key: str = Field(default="", max_length=66)
    tangle_address: str = ""
    checked_in_block: int = 0
    updated_block: int = 0
    # Position of the last event applied to this row: replays of older events are skipped.
    last_block: int = 0
    last_log_index: int = 0


class DeviceTD(SQLModel, table=True):
    __tablename__ = "device_tds"
    device_id: str = Field(primary_key=True, foreign_key="devices.device_id", max_length=66)
    td_json: str = Field(default="", sa_column=Column(Text, nullable=False))


class DeviceType(SQLModel, table=True):
    __tablename__ = "device_types"
    device_id: str = Field(primary_key=True, foreign_key="devices.device_id", max_length=66)
    type: str = Field(primary_key=True, index=True)


class Affordance(SQLModel, table=True):
    __tablename__ = "affordances"
    __table_args__ = (Index("ix_affordances_name", "name", "device_id"), Index("ix_affordances_unit", "unit", "device_id"),
                      Index("ix_affordances_device_unit", "device_id", "unit"))
    device_id: str = Field(primary_key=True, foreign_key="devices.device_id", max_length=66)
    kind: str = Field(primary_key=True, max_length=8)  # property | action | event
    name: str = Field(primary_key=True)
    title: str | None = None
    data_type: str | None = None
    unit: str | None = None


class Tag(SQLModel, table=True):
    __tablename__ = "tags"
    device_id: str = Field(primary_key=True, foreign_key="devices.device_id", max_length=66)
    tag: str = Field(primary_key=True, index=True)


class DeviceWord(SQLModel, table=True):
    """Lower-case words of title, description and tags: free text is a word-prefix match on this index."""

    __tablename__ = "device_words"
    __table_args__ = (Index("ix_device_words_device", "device_id", "word"),)
    word: str = Field(sa_column=Column(ORDERED_TEXT(64), primary_key=True))  # prefix ranges: see Device.geohash
    device_id: str = Field(primary_key=True, foreign_key="devices.device_id", max_length=66)


class Oem(SQLModel, table=True):
    __tablename__ = "oems"
    address: str = Field(primary_key=True, max_length=42)
    allowed: bool = True
    changed_block: int = 0
    changed_log_index: int = 0


class Rating(SQLModel, table=True):
    """One DeviceRated event (AuctionHouse); the primary key makes replays no-ops."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("device_id", "auction_id", "rater"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=66, index=True)
    auction_id: str = Field(max_length=80)  # uint256 as decimal
    rater: str = Field(max_length=42)
    score: int
    block_number: int
    # The protocol fee the rated purchase paid (wei as decimal; at least AuctionHouse.MIN_RATING_FEE):
    # the rating's weight in the device's reputation (issue 12 case 5).
    weight_wei: str = Field(default="0", max_length=80)


class Reputation(SQLModel, table=True):
    __tablename__ = "reputation"
    device_id: str = Field(primary_key=True, max_length=66)
    count: int = 0
    average: float = Field(default=0.0, index=True)  # fee-weighted: sum(score x weight) / sum(weight)
    weight_wei: str = Field(default="0", max_length=80)  # the fees behind the ratings (wei as decimal)


class IndexerStatus(SQLModel, table=True):
    """The indexer's cursor per (chain, registry): the next block to read."""

    __tablename__ = "indexer_status"
    name: str = Field(primary_key=True)
    chain_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    registry_address: str = Field(max_length=42)
    auction_house: str | None = Field(default=None, max_length=42)
    next_block: int = 0
    events_applied: int = 0


class Auction(SQLModel, table=True):
    """One auction of the house as its events tell it (AuctionOpened and what followed).

    Amounts are wei as decimal strings (a uint256 is wider than BIGINT); ``highest_gwei`` rides
    along for ordering and filters. ``status`` is what the events say: open, settled, unsold,
    cancelled, delivered, reclaimed (the chain's ``auction()`` stays the authority for live state).
    """

    __tablename__ = "auctions"
    __table_args__ = (Index("ix_auctions_device", "device_id", "auction_id"),
                      Index("ix_auctions_open", "closed", "bidding_end"), Index("ix_auctions_winner", "winner"))
    auction_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    device_id: str = Field(max_length=66)
    seller: str = Field(max_length=42)
    mechanism: str = Field(default="", max_length=42)  # lower-case address
    reserve_wei: str = "0"
    increment_wei: str = "0"
    bidding_end: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    fee_bps: int = 0
    delivery_window: int = 0
    bond_bps: int = 0
    window: int = 0
    highest_wei: str = "0"
    highest_gwei: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    leader: str | None = Field(default=None, max_length=42)
    status: str = Field(default="open", max_length=16)
    closed: bool = False  # settled, unsold or cancelled: no more bids
    winner: str | None = Field(default=None, max_length=42)  # lower case
    price_wei: str = "0"
    sealed_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # hex, sealed to the winner
    access_until: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    opened_block: int = 0
    last_block: int = 0
    last_log_index: int = 0


class AuctionBid(SQLModel, table=True):
    """One bidder's standing in one auction: the latest open bid, or a sealed commitment (and its reveal)."""

    __tablename__ = "auction_bids"
    __table_args__ = (Index("ix_auction_bids_bidder", "bidder", "auction_id"),)
    auction_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    bidder: str = Field(primary_key=True, max_length=42)  # lower case
    amount_wei: str = "0"  # the latest bid (sealed: the revealed amount, "0" before the reveal)
    deposit_wei: str = "0"  # sealed: what the commitment locked (public)
    committed: bool = False
    revealed: bool = False


class IndexedBlock(SQLModel, table=True):
    """The hash of the last block each indexer applied: a different hash there now is a reorg."""

    __tablename__ = "indexed_blocks"
    name: str = Field(primary_key=True)
    block_number: int = 0
    block_hash: str = Field(default="", max_length=66)


class QuarantinedEvent(SQLModel, table=True):
    """An event the catalog could not apply (a handler or the database refused it): kept with the
    reason so indexing goes on past it; the position is the key, so a re-read records it once."""

    __tablename__ = "indexer_quarantine"
    block_number: int = Field(primary_key=True)
    log_index: int = Field(primary_key=True)
    event: str = Field(max_length=64)
    device_id: str | None = Field(default=None, max_length=66)
    tx_hash: str = Field(max_length=66)
    reason: str = Field(sa_column=Column(Text, nullable=False))


CATALOG_TABLES = [Device.__table__, DeviceTD.__table__, DeviceType.__table__, Affordance.__table__, Tag.__table__, DeviceWord.__table__,
                  Oem.__table__,
                  Rating.__table__, Reputation.__table__, IndexerStatus.__table__, QuarantinedEvent.__table__,
                  Auction.__table__, AuctionBid.__table__, IndexedBlock.__table__]
