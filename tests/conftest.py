"""Shared fixtures: chains (embedded eth-tester, a real anvil), PostgreSQL when reachable."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def chain():
    """A fresh eth-tester chain in this process (fast; time travel via chain.time_travel)."""
    from exchange.chain.connect import embedded_chain

    c = embedded_chain()
    yield c
    c.close()


@pytest.fixture(scope="session")
def anvil_process():
    """One real anvil for the session, on a free port, stopped at the end."""
    from exchange.chain.anvil import start_anvil

    proc = start_anvil(port=None, reuse=False)
    yield proc
    proc.stop()


@pytest.fixture
def anvil_chain(anvil_process):
    """A web3 connection to the session's anvil, state reverted after the test (evm_snapshot)."""
    from exchange.chain.connect import rpc_chain

    c = rpc_chain(anvil_process.url, kind="anvil")
    snap = c.w3.provider.make_request("evm_snapshot", [])["result"]
    yield c
    c.w3.provider.make_request("evm_revert", [snap])


def postgres_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_database():
    """Factory: ``make(collation)`` -> URL of an empty PostgreSQL database for this test, created
    with the server's default collation (``None``, C here) or ``"icu"`` (ICU en-US, a linguistic
    collation as many installations have); skipped (with the reason) when no server runs."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432 (install and start PostgreSQL): PostgreSQL variant skipped")
    import uuid

    import sqlalchemy

    admin = sqlalchemy.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    made = []

    def make(collation: str | None = None) -> str:
        name = "tb_" + uuid.uuid4().hex[:10]
        extra = {None: "", "icu": " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' TEMPLATE template0"}[collation]
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"{extra}'))
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_database):
    """A URL to an empty PostgreSQL database (default collation) for this test."""
    return postgres_database()
