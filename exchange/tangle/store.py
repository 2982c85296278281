"""SQL persistence (SQLModel tables on their own registry; SQLite by default, PostgreSQL by URL).

Every stored transaction is written inside one SQL transaction together with nothing that
depends on it, and a milestone's effects (account changes, confirmation flags, the milestone
row) commit together, so a crash leaves either all of a step or none of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

_registry = registry()


class _Base(SQLModel, registry=_registry):
    pass


class TangleTx(_Base, table=True):
    __tablename__ = "tangle_tx"
    arrival: int | None = Field(default=None, primary_key=True)  # node arrival order (find cursor)
    id: str = Field(max_length=64, unique=True, index=True)
    raw: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    kind: int
    timestamp: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    sender: str = Field(max_length=64, index=True)
    recipient: str | None = Field(default=None, max_length=64, index=True)
    tag: str | None = Field(default=None, max_length=256, index=True)
    sequence: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    milestone: int | None = Field(default=None, index=True)
    conflicting: bool = False


class TangleAccount(_Base, table=True):
    __tablename__ = "tangle_account"
    address: str = Field(max_length=64, primary_key=True)
    balance: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    next_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class TangleMilestone(_Base, table=True):
    __tablename__ = "tangle_milestone"
    index: int = Field(primary_key=True)
    tx_id: str = Field(max_length=64)
    timestamp: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    confirmed_count: int = 0
    ledger_root: str | None = Field(default=None, max_length=64)  # hex; None in pre-commitment databases


class TangleEntryPoint(_Base, table=True):
    """A pruned transaction that kept ones still approve (solid, its own past forgotten)."""
    __tablename__ = "tangle_entry_point"
    id: str = Field(max_length=64, primary_key=True)
    milestone: int
    timestamp: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class TanglePeer(_Base, table=True):
    __tablename__ = "tangle_peer"
    url: str = Field(max_length=512, primary_key=True)
    cursor: int = 0  # the peer's arrival cursor we have synced up to


class TangleMeta(_Base, table=True):
    __tablename__ = "tangle_meta"
    key: str = Field(max_length=64, primary_key=True)
    value: str


TX = TangleTx.__table__
ACCOUNT = TangleAccount.__table__
MILESTONE = TangleMilestone.__table__
PEER = TanglePeer.__table__
ENTRY = TangleEntryPoint.__table__
META = TangleMeta.__table__


def make_engine(url: str, durable: bool = False) -> sa.Engine:
    """An engine for ``url`` with the tangle tables created.

    SQLite gets WAL: a commit is atomic and survives a process crash; ``durable`` adds an
    fsync per commit (synchronous=FULL) so it survives power loss as well."""
    sync = "FULL" if durable else "NORMAL"
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _rec):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.close()
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    _registry.metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: sa.Engine) -> None:
    """Databases made by older versions: add the columns they lack (all nullable)."""
    insp = sa.inspect(engine)
    for table in _registry.metadata.sorted_tables:
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have and col.nullable:
                q = engine.dialect.identifier_preparer.quote
                ddl = f"ALTER TABLE {q(table.name)} ADD COLUMN {q(col.name)} {col.type.compile(engine.dialect)}"
                with engine.begin() as c:
                    c.execute(sa.text(ddl))
