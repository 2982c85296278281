"""The agent's own state in SQLite (SQLModel): consent, registration, auctions, tokens, cursors, sales.

Separate tables (``agent_*``) created only in the agent's database, so a restart resumes
where it stopped: every step of a sale is recorded before and after its chain transaction.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, create_engine, select

STATE_FILE = "agent.db"


class AgentConsent(SQLModel, table=True):
    """The owner's opt-in. No row, or ``enabled`` false: nothing is checked in or sold."""

    __tablename__ = "agent_consent"
    id: int = Field(default=1, primary_key=True)
    enabled: bool = False
    changed_at: int = 0


class AgentRegistration(SQLModel, table=True):
    __tablename__ = "agent_registration"
    id: int = Field(default=1, primary_key=True)
    device_id: str
    checked_in: bool = False
    td_hash: str = ""
    tx_hash: str = ""
    updated_at: int = 0
    attested: bool = False


class AgentAuction(SQLModel, table=True):
    """One auction the agent opened. status: open -> settled -> delivered -> paid, or no_sale / reclaimed."""

    __tablename__ = "agent_auction"
    auction_id: int = Field(primary_key=True)
    opened_at: int
    bidding_end: int
    access_period: int
    status: str = "open"
    winner: str = ""
    price_wei: str = "0"  # text: wei amounts exceed SQLite's 64-bit integers
    delivered_tx: str = ""
    updated_at: int = 0


class AgentToken(SQLModel, table=True):
    """Claims of an issued access token. The token text is not stored: it is re-derived
    (Ed25519 is deterministic) from these claims when a delivery is retried."""

    __tablename__ = "agent_token"
    token_id: str = Field(primary_key=True)
    auction_id: int = Field(index=True, unique=True)
    buyer: str
    not_before: int
    not_after: int
    delivered: bool = False
    revoked: bool = False
    issued_at: int = 0


class AgentCursor(SQLModel, table=True):
    __tablename__ = "agent_cursor"
    name: str = Field(primary_key=True)
    value: int = 0


class AgentStreamSale(SQLModel, table=True):
    __tablename__ = "agent_stream_sale"
    payment_id: str = Field(primary_key=True)
    buyer: str = ""
    span: int = 0
    answered: bool = False
    at: int = 0


TABLES = [AgentConsent, AgentRegistration, AgentAuction, AgentToken, AgentCursor, AgentStreamSale]


class AgentState:
    """Typed access to the agent's database."""

    def __init__(self, url_or_dir: str | Path):
        url = url_or_dir if isinstance(url_or_dir, str) and "://" in url_or_dir else \
            f"sqlite:///{Path(url_or_dir) / STATE_FILE}"
        self.engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragma(conn, _record):  # WAL: the HTTP threads read while the loops write
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=5000")
                cur.close()
        SQLModel.metadata.create_all(self.engine, tables=[t.__table__ for t in TABLES])
        # A connection that never writes: its data_version moves with every commit of the others.
        self._watch = sqlite3.connect(self.engine.url.database, check_same_thread=False) \
            if url.startswith("sqlite") and self.engine.url.database not in (None, "", ":memory:") else None
        self._watch_lock = threading.Lock()
        self._revoked: tuple[int, frozenset[str]] | None = None

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self.engine.dispose()

    # ----------------------------------------------------------- consent
    def enabled(self) -> bool:
        with self.session() as s:
            row = s.get(AgentConsent, 1)
            return bool(row and row.enabled)

    def set_enabled(self, enabled: bool) -> None:
        with self.session() as s:
            row = s.get(AgentConsent, 1) or AgentConsent()
            row.enabled, row.changed_at = enabled, int(time.time())
            s.add(row)
            s.commit()

    # ------------------------------------------------------ registration
    def registration(self) -> AgentRegistration | None:
        with self.session() as s:
            return s.get(AgentRegistration, 1)

    def save_registration(self, **values) -> AgentRegistration:
        with self.session() as s:
            row = s.get(AgentRegistration, 1) or AgentRegistration(device_id=values.get("device_id", ""))
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = int(time.time())
            s.add(row)
            s.commit()
            return row

    # ---------------------------------------------------------- auctions
    def auctions(self, status: str | None = None) -> list[AgentAuction]:
        with self.session() as s:
            q = select(AgentAuction).order_by(AgentAuction.auction_id)
            if status:
                q = q.where(AgentAuction.status == status)
            return list(s.exec(q))

    def auction(self, auction_id: int) -> AgentAuction | None:
        with self.session() as s:
            return s.get(AgentAuction, auction_id)

    def save_auction(self, auction_id: int, **values) -> AgentAuction:
        with self.session() as s:
            row = s.get(AgentAuction, auction_id)
            if row is None:
                row = AgentAuction(auction_id=auction_id, **values)
            else:
                for k, v in values.items():
                    setattr(row, k, v)
            row.updated_at = int(time.time())
            s.add(row)
            s.commit()
            return row

    # ------------------------------------------------------------ tokens
    def token_for_auction(self, auction_id: int) -> AgentToken | None:
        with self.session() as s:
            return s.exec(select(AgentToken).where(AgentToken.auction_id == auction_id)).first()

    def add_token(self, token: AgentToken) -> AgentToken:
        """Record claims once per auction; a second call returns the first claims (restart safety)."""
        with self.session() as s:
            existing = s.exec(select(AgentToken).where(AgentToken.auction_id == token.auction_id)).first()
            if existing:
                return existing
            token.issued_at = int(time.time())
            s.add(token)
            s.commit()
            return token

    def mark_token(self, token_id: str, **values) -> None:
        with self.session() as s:
            row = s.get(AgentToken, token_id)
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()

    def tokens(self) -> list[AgentToken]:
        with self.session() as s:
            return list(s.exec(select(AgentToken).order_by(AgentToken.issued_at)))

    def revoked_ids(self) -> frozenset[str]:
        """Every data request asks: answered from memory until the database changes (a commit by
        any connection, also ``device-agent revoke`` in another process, moves SQLite's data_version)."""
        version = self._data_version()
        cached = self._revoked
        if version is not None and cached is not None and cached[0] == version:
            return cached[1]
        with self.session() as s:
            ids = frozenset(s.exec(select(AgentToken.token_id).where(AgentToken.revoked == True)))  # noqa: E712
        self._revoked = (version, ids) if version is not None else None
        return ids

    def _data_version(self) -> int | None:
        with self._watch_lock:
            if self._watch is None:
                return None
            return self._watch.execute("PRAGMA data_version").fetchone()[0]

    # ----------------------------------------------------------- cursors
    def cursor(self, name: str, default: int = 0) -> int:
        with self.session() as s:
            row = s.get(AgentCursor, name)
            return row.value if row else default

    def set_cursor(self, name: str, value: int) -> None:
        with self.session() as s:
            row = s.get(AgentCursor, name) or AgentCursor(name=name)
            row.value = value
            s.add(row)
            s.commit()

    # -------------------------------------------------------- stream sales
    def stream_sale(self, payment_id: str) -> AgentStreamSale | None:
        with self.session() as s:
            return s.get(AgentStreamSale, payment_id)

    def save_stream_sale(self, sale: AgentStreamSale) -> None:
        with self.session() as s:
            s.merge(sale)
            s.commit()

    def stream_sales(self) -> list[AgentStreamSale]:
        with self.session() as s:
            return list(s.exec(select(AgentStreamSale)))
