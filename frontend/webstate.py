"""The web app's own state in the database, so any worker answers any request (issue 14).

Tables beside the catalog's (the catalog's rebuild and reorg handling leave them alone), on the
same database: SQLite by default, PostgreSQL by URL.

- ``web_sessions``: one row per signed-in session. A local-keystore session's private key is
  stored only sealed (AES-GCM) under a key that lives in the user's signed session cookie, never
  in the database: the row alone opens nothing, the cookie alone holds no key. The row is looked
  up by a hash of the session id.
- ``web_nonces``: Sign-In with Ethereum nonces, each accepted once within its lifetime.
- ``web_plans`` and ``web_jobs``: bid plans waiting for the go-ahead, and bidding jobs with their
  progress, outcomes and transaction hashes (a job run by one worker is polled on another).
- ``web_wallet_runs`` and ``web_wallet_pending``: plans a browser wallet is placing (which step is
  next, whether one is with the wallet) and the transactions prepared for a wallet, each under a
  single-use token (stored as its hash), so a wallet's next step may reach any worker.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.engine import Engine

from exchange.market import Outcome, PlannedBid, PlanView, Skip, Terms

metadata = MetaData()

SESSIONS = Table(
    "web_sessions", metadata,
    Column("sid_hash", String(64), primary_key=True),
    Column("username", String(200), nullable=False),
    Column("address", String(42), nullable=False),
    Column("wallet", Boolean, nullable=False),
    Column("sealed_key", LargeBinary, nullable=True),  # nonce + AES-GCM(private key), keystore sessions only
    Column("created", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)
NONCES = Table(
    "web_nonces", metadata,
    Column("nonce", String(64), primary_key=True),
    Column("issued", Float, nullable=False, index=True),
)
PLANS = Table(
    "web_plans", metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(42), nullable=False),
    Column("created", Float, nullable=False, index=True),
    Column("placed", Boolean, nullable=False, default=False),
    Column("job_id", String(32), nullable=True),
    Column("body", Text, nullable=False),
)
JOBS = Table(
    "web_jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(42), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("total_batches", Integer, nullable=False),
    Column("total_items", Integer, nullable=False),
    Column("done_batches", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),
    Column("stage", Text, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("outcomes", Text, nullable=False, default="[]"),
    Column("tx_hashes", Text, nullable=False, default="[]"),
    Column("started", Float, nullable=False),
    Column("finished", Float, nullable=True),
    Column("meta", Text, nullable=False, default="{}"),
    Index("ix_web_jobs_owner", "owner", "started"),
)

JOB_BEATS = Table(  # a server-run job's heartbeat: a worker that died leaves it stale
    "web_job_beats", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("beat", Float, nullable=False),
)
WALLET_RUNS = Table(
    "web_wallet_runs", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("owner", String(42), nullable=False),
    Column("plan", Text, nullable=False),
    Column("x25519_public", String(64), nullable=False),
    Column("register_key", Boolean, nullable=False),
    Column("commitments", Text, nullable=False, default="{}"),  # auction id -> the browser's commitment (hex)
    Column("next_batch", Integer, nullable=False, default=0),
    Column("key_done", Boolean, nullable=False, default=False),
    Column("waiting", Boolean, nullable=False, default=False),  # a step is with the wallet
    Column("created", Float, nullable=False, index=True),
)
WALLET_PENDING = Table(
    "web_wallet_pending", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("owner", String(42), nullable=False),
    Column("label", Text, nullable=False),
    Column("prepared", Text, nullable=False),  # PreparedTx fields as JSON (public call data)
    Column("kind", String(16), nullable=False),  # single | key | batch
    Column("action", String(32), nullable=False, default=""),
    Column("job_id", String(32), nullable=True),
    Column("batch", Integer, nullable=True),
    Column("n", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False, index=True),
)


def create_web_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


# ---- plans as JSON -----------------------------------------------------------------------------
def plan_to_json(plan: PlanView) -> list:
    return [[asdict(b) for b in batch] for batch in plan.batches], [asdict(s) for s in plan.skipped]


def plan_from_json(data) -> PlanView:
    batches, skipped = data

    def bid(d):
        terms = Terms(**d["terms"]) if d.get("terms") else None
        return PlannedBid(**{**d, "terms": terms})

    return PlanView([[bid(b) for b in batch] for batch in batches], [Skip(**s) for s in skipped])


def outcomes_to_json(outcomes: list[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes])


def outcomes_from_json(text: str) -> list[Outcome]:
    return [Outcome(**o) for o in json.loads(text or "[]")]


def meta_json(meta: dict) -> str:
    return json.dumps(meta, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))


def new_id() -> str:
    return secrets.token_urlsafe(12)

