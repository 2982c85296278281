"""Transactions for a wallet session: planned, batched and estimated here, signed and sent by the browser.

The server prepares each transaction (``exchange.chain.prepared``) for the signed-in address, keeps
it under a single-use token, and checks what the wallet reports (``confirm``) before recording the
outcome. Nothing secret passes through: the call data is public once mined.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from exchange.chain.prepared import PreparedTx
from exchange.market import Outcome, PlanView
from frontend.auction_reads import balance_of
from frontend.auction_reads import house as _client
from frontend.errors import FrontendError, NotFound
from frontend.jobs import Job
from frontend.wallet_sealed import BOX_LEN
from frontend.webstate import WALLET_PENDING, WALLET_RUNS, create_web_tables, plan_from_json, plan_to_json

PENDING_TTL_S = 1800
PLACEHOLDER_KEY = bytes(range(1, 33))  # gas of registerBuyerKey does not depend on the key's bytes
PLACEHOLDER_COMMITMENT = bytes(range(33, 65))  # nor commitBatch's on a commitment's (nonzero) bytes
RUNS_KEPT = 500  # finished wallet runs kept (their jobs stay readable on the job page regardless)


class WalletTxError(FrontendError):
    """A wallet transaction cannot be prepared or its report is refused."""


@dataclass
class Pending:
    """A prepared transaction waiting for the wallet's hash. ``kind`` says what its mining records:
    ``single`` (one action, nothing to record but its answer), ``key`` (a run's key registration)
    or ``batch`` (batch ``batch`` of the run of ``job_id``)."""

    owner: str
    label: str
    prepared: PreparedTx
    kind: str = "single"
    action: str = ""
    job_id: str | None = None
    batch: int | None = None
    n: int = 0  # auctions of a single action (a reveal answers how many were revealed)
    created: float = field(default_factory=time.time)


def _token_hash(token: str) -> str:
    return hashlib.sha256(str(token).encode()).hexdigest()


class PendingStore:
    """token -> Pending in ``web_wallet_pending``: single use (taken by one DELETE, so two workers
    cannot both record one report), per owner, expiring. Only a hash of the token is stored, and of
    the call data only its keccak (a reveal's salts stay off the disk; the mined input is checked
    against it)."""

    def __init__(self, engine: Engine, ttl_s: float = PENDING_TTL_S):
        self.engine, self.ttl = engine, ttl_s
        create_web_tables(engine)

    def put(self, pending: Pending) -> str:
        token = secrets.token_urlsafe(16)
        self._insert(token, pending)
        return token

    def _insert(self, token: str, p: Pending) -> None:
        with self.engine.begin() as c:
            c.execute(delete(WALLET_PENDING).where(WALLET_PENDING.c.created < time.time() - self.ttl))
            c.execute(insert(WALLET_PENDING).values(
                token_hash=_token_hash(token), owner=p.owner.lower(), label=p.label,
                prepared=json.dumps(asdict(p.prepared.kept())), kind=p.kind, action=p.action, job_id=p.job_id,
                batch=p.batch, n=p.n, created=p.created))

    def take(self, token: str, owner: str) -> Pending:
        h = _token_hash(token)
        with self.engine.begin() as c:
            r = c.execute(select(WALLET_PENDING).where(WALLET_PENDING.c.token_hash == h)).mappings().first()
            gone = NotFound("no such prepared transaction (reported already, expired, or not yours)")
            if r is None or r["owner"] != owner.lower() or time.time() - r["created"] > self.ttl:
                raise gone
            if c.execute(delete(WALLET_PENDING).where(WALLET_PENDING.c.token_hash == h)).rowcount != 1:
                raise gone  # another worker took it in between
        return Pending(r["owner"], r["label"], PreparedTx(**json.loads(r["prepared"])), r["kind"], r["action"],
                       r["job_id"], r["batch"], r["n"], r["created"])

    def restore(self, token: str, pending: Pending) -> None:
        """Put a taken step back (its report was refused, so it is still to be reported)."""
        self._insert(token, pending)


@dataclass
class WalletRun:
    """A plan being placed by the wallet: key registration, then one bidBatch per batch, in order
    (a row of ``web_wallet_runs``; ``job`` is its job as stored now)."""

    job: Job
    plan: PlanView
    x25519_public: bytes
    register_key: bool
    commitments: dict[int, bytes] = field(default_factory=dict)  # sealed bids: auction id -> the browser's commitment
    next_batch: int = 0
    key_done: bool = False
    waiting: bool = False  # a step is with the wallet: the next is prepared only once it is reported


class RunStore:
    """Wallet runs in the database. ``claim_step`` is one conditional UPDATE, so of two workers asked
    for the next step at once only one prepares it."""

    def __init__(self, engine: Engine, jobs):
        self.engine, self.jobs = engine, jobs
        create_web_tables(engine)

    def add(self, job: Job, plan: PlanView, public: bytes, register_key: bool, commitments: dict[int, bytes]) -> None:
        with self.engine.begin() as c:
            c.execute(insert(WALLET_RUNS).values(
                job_id=job.id, owner=job.owner.lower(), plan=json.dumps(plan_to_json(plan)),
                x25519_public=public.hex(), register_key=register_key,
                commitments=json.dumps({str(k): v.hex() for k, v in commitments.items()}), next_batch=0,
                key_done=False, waiting=False, created=time.time()))
            old = list(c.execute(select(WALLET_RUNS.c.job_id).order_by(WALLET_RUNS.c.created.desc())
                                 .offset(RUNS_KEPT)).scalars())
            if old:
                c.execute(delete(WALLET_RUNS).where(WALLET_RUNS.c.job_id.in_(old)))

    def get(self, job_id: str, owner: str) -> WalletRun | None:
        with self.engine.connect() as c:
            r = c.execute(select(WALLET_RUNS).where(WALLET_RUNS.c.job_id == str(job_id)[:32],
                                                    WALLET_RUNS.c.owner == owner.lower())).mappings().first()
        job = self.jobs.get(r["job_id"], owner) if r else None
        if job is None:
            return None
        return WalletRun(job, plan_from_json(json.loads(r["plan"])), bytes.fromhex(r["x25519_public"]),
                         r["register_key"], {int(k): bytes.fromhex(v) for k, v in json.loads(r["commitments"]).items()},
                         r["next_batch"], r["key_done"], r["waiting"])

    def claim_step(self, job_id: str) -> bool:
        with self.engine.begin() as c:
            return c.execute(update(WALLET_RUNS).where(WALLET_RUNS.c.job_id == job_id, WALLET_RUNS.c.waiting.is_(False))
                             .values(waiting=True)).rowcount == 1

    def update(self, job_id: str, **values) -> None:
        with self.engine.begin() as c:
            c.execute(update(WALLET_RUNS).where(WALLET_RUNS.c.job_id == job_id).values(**values))


def cost_of(services, gas_total: int, value_total: int, bids_total: int) -> dict:
    from exchange.chain.prepared import fee_per_gas

    with services.chain_guard():
        price = fee_per_gas(services.base_chain())
    fee = gas_total * price
    return {"gas": gas_total, "fee_per_gas": price, "fee_wei": fee, "value_wei": value_total, "bids_wei": bids_total,
            "total_wei": value_total + fee}


def prepare_call(services, fn, sender: str, value: int = 0):
    """``exchange.chain.prepared.prepare`` under the chain guard, its refusals as one clear message."""
    from exchange.chain.prepared import prepare
    from exchange.errors import ContractRevert, InsufficientFundsError

    try:
        with services.chain_guard():
            return prepare(services.base_chain(), fn, sender, value)
    except (ContractRevert, InsufficientFundsError) as exc:
        raise WalletTxError(f"the chain would refuse this transaction: {exc}") from exc


def sealed_bids(plan: PlanView) -> list:
    return [b for batch in plan.batches if batch and batch[0].sealed for b in batch]


def batch_fn(client, batch, commitments: dict[int, bytes] | None = None):
    """The transaction of one plan batch: bidBatch, or commitBatch of the browser's commitments
    (placeholders for an estimate) with the plan's public 1-2-5 deposits."""
    ids = [b.auction_id for b in batch]
    if batch and batch[0].sealed:
        return client.fns().commitBatch(ids, [commitments[i] if commitments else PLACEHOLDER_COMMITMENT for i in ids],
                                        [b.deposit or b.amount for b in batch], False)
    return client.bid_batch_fn(ids, [b.amount for b in batch])


def take_commitments(services, address: str, plan: PlanView, raw, store) -> dict[int, bytes]:
    """The browser's commitments and amount boxes for every sealed bid of ``plan``; the boxes are kept
    before any commitment is sent (a commitment whose amount is lost cannot be revealed)."""
    from frontend.errors import FormError

    want = {b.auction_id for b in sealed_bids(plan)}
    if not want:
        if raw:
            raise FormError("sealed", "this plan has no sealed bids")
        return {}
    if not isinstance(raw, list) or len(raw) != len(want):
        raise FormError("sealed", f"must list a commitment and an amount box for each of the {len(want)} sealed bids")
    got: dict[int, tuple[bytes, bytes]] = {}
    for item in raw:
        aid = item.get("auction_id") if isinstance(item, dict) else None
        if aid not in want or aid in got:
            raise FormError("sealed", f"auction {aid!r} is not a sealed bid of this plan (or is listed twice)")
        try:
            commitment, box = bytes.fromhex(str(item.get("commitment", ""))), bytes.fromhex(str(item.get("box", "")))
        except ValueError:
            raise FormError("sealed", f"auction {aid}: commitment and box must be hex") from None
        if len(commitment) != 32 or commitment == bytes(32) or len(box) != BOX_LEN:
            raise FormError("sealed", f"auction {aid}: a commitment is 32 nonzero bytes, a box {BOX_LEN} bytes")
        got[aid] = (commitment, box)
    client = _client(services)
    for aid, (_c, box) in got.items():
        store.put(address, client.chain.chain_id, client.address, aid, box)
    return {aid: c for aid, (c, _b) in got.items()}


def estimate_plan(services, address: str, plan: PlanView, registered: bool) -> dict:
    """Every transaction the plan needs with its gas, estimated on the current state, and the total cost.

    Bids need a registered key-delivery key and enough free deposit, else the house refuses them
    (or skips them, a cheaper path): while either is missing, those set-up transactions come first,
    each with its own estimate (``ready`` false), and the bid batches are estimated after them.
    """
    client = _client(services)
    free, _locked = balance_of(services, address)
    steps = []
    if not registered:
        p = prepare_call(services, client.fns().registerBuyerKey(PLACEHOLDER_KEY), address)
        steps.append({"label": "register your key-delivery key (once)", "gas": p.gas, "value": 0, "kind": "register_key"})
    need = max(0, plan.total - free)
    if need:
        p = prepare_call(services, client.fns().deposit(), address, need)
        steps.append({"label": f"deposit the missing {need} wei", "gas": p.gas, "value": need, "kind": "deposit"})
    ready = not steps
    if ready:
        for i, batch in enumerate(plan.batches, 1):
            p = prepare_call(services, batch_fn(client, batch), address)
            steps.append({"label": batch_label(plan, i - 1), "gas": p.gas, "value": 0,
                          "kind": "commit_batch" if batch[0].sealed else "bid_batch"})
    cost = cost_of(services, sum(s["gas"] for s in steps), sum(s["value"] for s in steps), plan.total)
    # What the browser needs to seal: its salts come from the wallet, so only it can make the commitments.
    sealed = [{"auction_id": b.auction_id, "amount": str(b.amount), "deposit": str(b.deposit or b.amount)}
              for b in sealed_bids(plan)]
    return {"steps": steps, "ready": ready, "registered": registered, "need_deposit_wei": need,
            "batches": len(plan.batches), "bids": plan.count, "free_wei": free, "sealed_bids": sealed,
            "house": client.address, "chain_id": client.chain.chain_id, **cost}


def batch_label(plan: PlanView, i: int) -> str:
    batch = plan.batches[i]
    what = "sealed-bid commit batch" if batch[0].sealed else "bid batch"
    return f"{what} {i + 1} of {len(plan.batches)} ({len(batch)} bids)"


def next_step(services, address: str, run: WalletRun, pending: PendingStore, runs: RunStore) -> dict | None:
    """Prepare the run's next transaction (exact gas now) and hold it for the wallet; None when all are done."""
    client = _client(services)
    if run.waiting or not runs.claim_step(run.job.id):
        raise WalletTxError("the previous transaction is still with your wallet: report it first")
    try:
        if run.register_key and not run.key_done:
            p = prepare_call(services, client.fns().registerBuyerKey(run.x25519_public), address)
            step = Pending(address, "register your key-delivery key (once)", p, "key", job_id=run.job.id)
        elif run.next_batch < len(run.plan.batches):
            i = run.next_batch
            p = prepare_call(services, batch_fn(client, run.plan.batches[i], run.commitments), address)
            step = Pending(address, batch_label(run.plan, i), p, "batch", job_id=run.job.id, batch=i)
            run.job.stage = f"waiting for your wallet: {step.label}"
        else:
            runs.update(run.job.id, waiting=False)
            return None
    except BaseException:
        runs.update(run.job.id, waiting=False)  # nothing is with the wallet
        raise
    token = pending.put(step)
    total = len(run.plan.batches) + (1 if run.register_key else 0)
    done = run.next_batch + (1 if run.key_done else 0)
    return {"token": token, "label": step.label, "tx": p.for_wallet(), "step": done + 1, "total_steps": total,
            **cost_of(services, p.gas, p.value, 0)}


def _mined(services, runs: RunStore, p: Pending, receipt) -> dict:
    """Record what the mined step did (its row is taken: no other worker records it)."""
    if p.kind == "single":
        if p.action != "reveal":
            return {"label": p.label}
        skipped = _client(services).skipped(receipt)
        return {"label": p.label, "revealed": p.n - len(skipped), "skipped": len(skipped)}
    run = runs.get(p.job_id, p.owner)
    if run is None:
        return {"label": p.label}
    if p.kind == "key":
        runs.update(run.job.id, key_done=True, waiting=False)
        return {"label": p.label}
    i, batch = p.batch, run.plan.batches[p.batch]
    skipped = _client(services).skipped(receipt)
    note = "sealed bid committed: reveal it after bidding ends" if batch[0].sealed else ""
    run.job.record([Outcome(b.device_id, b.auction_id, "skipped" if b.auction_id in skipped else "placed",
                            skipped.get(b.auction_id, "").replace("_", " ") or note, b.amount) for b in batch],
                   "0x" + bytes(receipt["transactionHash"]).hex())
    runs.update(run.job.id, next_batch=i + 1, waiting=False)
    run.job.stage = f"transaction {i + 1} of {len(run.plan.batches)} mined"
    if i + 1 == len(run.plan.batches):
        finish_run(run)
    return {"label": p.label, "skipped": len(skipped), "placed": len(batch) - len(skipped)}


def _failed(runs: RunStore, p: Pending, reason: str) -> None:
    run = runs.get(p.job_id, p.owner) if p.job_id else None
    if run is None:
        return
    if p.kind == "key":
        runs.update(run.job.id, waiting=False)
        fail_run(run, f"the key registration failed: {reason}")
        return
    batch = run.plan.batches[p.batch]
    run.job.record([Outcome(b.device_id, b.auction_id, "failed", reason, b.amount) for b in batch])
    runs.update(run.job.id, next_batch=p.batch + 1, waiting=False)
    if p.batch + 1 == len(run.plan.batches):
        finish_run(run)


def finish_run(run: WalletRun) -> None:
    run.job.stage = "finished"
    run.job.state = "done"
    run.job.finished = time.time()


def fail_run(run: WalletRun, reason: str) -> None:
    run.job.error = reason
    run.job.stage = "stopped"
    run.job.state = "failed"
    run.job.finished = time.time()


def report(services, address: str, pending: PendingStore, runs: RunStore, token: str, tx_hash: str) -> dict:
    """Check the wallet's transaction against what was prepared, then record what it did."""
    from exchange.chain.prepared import PreparedTxError, confirm
    from exchange.errors import ContractRevert

    p = pending.take(token, address)
    try:
        with services.chain_guard():
            receipt = confirm(services.base_chain(), p.prepared, tx_hash)
    except PreparedTxError as exc:
        pending.restore(token, p)  # a wrong report does not lose the prepared step: report the right hash
        raise WalletTxError(str(exc)) from exc
    except ContractRevert as exc:
        _failed(runs, p, str(exc))
        return {"ok": False, "label": p.label, "error": str(exc)}
    return {"ok": True, "tx_hash": tx_hash, **_mined(services, runs, p, receipt)}


def abandon(pending: PendingStore, runs: RunStore, address: str, token: str, reason: str) -> dict:
    """The wallet declined (or failed before sending): the step is recorded as not done."""
    p = pending.take(token, address)
    reason = str(reason or "")[:200] or "declined in the wallet"
    run = runs.get(p.job_id, p.owner) if p.job_id else None
    if run is not None:
        runs.update(run.job.id, waiting=False)
        fail_run(run, f"stopped at {p.label}: {reason}")
    return {"ok": False, "label": p.label, "error": reason}


SINGLE_ACTIONS = ("register_key", "deposit", "withdraw", "settle", "reclaim", "rate", "reveal")


def prepare_single(services, address: str, action: str, amount: int = 0, auction_ids: tuple[int, ...] = (),
                   score: int = 0, x25519_public: bytes = b"", reveal: tuple = ()) -> tuple[str, object]:
    """(label, PreparedTx) of one wallet transaction of the auction house."""
    client = _client(services)
    f = client.fns()
    if action == "register_key":
        return "register your key-delivery key (once)", prepare_call(services, f.registerBuyerKey(x25519_public), address)
    if action == "deposit":
        return f"deposit {amount} wei", prepare_call(services, f.deposit(), address, amount)
    if action == "withdraw":
        return f"withdraw {amount} wei", prepare_call(services, f.withdraw(amount), address)
    if action == "settle":
        return (f"settle {len(auction_ids)} auction(s)",
                prepare_call(services, f.settleBatch(list(auction_ids)), address))
    if action == "reclaim":
        return f"reclaim auction #{auction_ids[0]}", prepare_call(services, f.reclaim(auction_ids[0]), address)
    if action == "rate":
        with services.chain_guard():
            top_up = client.rating_cost(auction_ids[0]).top_up
            free = client.balance_of(address).free
        if top_up > free:
            raise WalletTxError(f"rating auction #{auction_ids[0]} tops its protocol fee up to the minimum rating fee:"
                                f" {top_up} wei from your free deposit, which holds {free} wei; deposit"
                                f" {top_up - free} wei first")
        extra = f" (+{top_up} wei rating fee from your deposit)" if top_up else ""
        return (f"rate auction #{auction_ids[0]}: {score}{extra}",
                prepare_call(services, f.rate(auction_ids[0], score), address))
    if action == "reveal":  # (amount, salt) per auction, from the browser: public once revealed
        return (f"reveal {len(auction_ids)} sealed bid(s)",
                prepare_call(services, f.revealBatch(list(auction_ids), [a for a, _s in reveal],
                                                     [s for _a, s in reveal], False), address))
    raise WalletTxError(f"unknown action {action!r}: one of {', '.join(SINGLE_ACTIONS)}")
