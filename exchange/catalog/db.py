"""Engines for the catalog: SQLite by default (WAL, math functions ensured), PostgreSQL by URL."""

from __future__ import annotations

import math

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from exchange.catalog.models import CATALOG_TABLES
from exchange.errors import ConfigError


def make_engine(database_url: str) -> Engine:
    if not database_url:
        raise ConfigError("catalog database URL is empty")
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            try:
                cur.execute("SELECT sin(0), asin(0), radians(0), power(2, 2)")
            except Exception:  # noqa: BLE001 - SQLite built without math functions: supply them
                for name, fn, n in (("sin", math.sin, 1), ("cos", math.cos, 1), ("asin", math.asin, 1),
                                    ("sqrt", math.sqrt, 1), ("radians", math.radians, 1), ("power", math.pow, 2)):
                    dbapi_conn.create_function(name, n, fn, deterministic=True)
            cur.close()

        return engine
    if database_url.startswith("postgres"):
        return create_engine(database_url, pool_pre_ping=True)
    raise ConfigError(f"unsupported catalog database URL {database_url!r} (sqlite:/// or postgresql+psycopg://)")


def create_tables(engine: Engine) -> None:
    from sqlmodel import SQLModel

    SQLModel.metadata.create_all(engine, tables=CATALOG_TABLES)


def drop_tables(engine: Engine) -> None:
    from sqlmodel import SQLModel

    SQLModel.metadata.drop_all(engine, tables=CATALOG_TABLES)
