"""Transactions for a wallet session: planned, batched and estimated here, signed and sent by the browser.

The server prepares each transaction (``exchange.chain.prepared``) for the signed-in address, keeps
it under a single-use token, and checks what the wallet reports (``confirm``) before recording the
outcome. Nothing secret passes through: the call data is public once mined.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.market import Outcome, PlanView
from frontend.auction_reads import balance_of
from frontend.auction_reads import house as _client
from frontend.errors import FrontendError, NotFound
from frontend.jobs import Job
from frontend.wallet_sealed import BOX_LEN

PENDING_TTL_S = 1800
PLACEHOLDER_KEY = bytes(range(1, 33))  # gas of registerBuyerKey does not depend on the key's bytes
PLACEHOLDER_COMMITMENT = bytes(range(33, 65))  # nor commitBatch's on a commitment's (nonzero) bytes


class WalletTxError(FrontendError):
    """A wallet transaction cannot be prepared or its report is refused."""


@dataclass
class Pending:
    """A prepared transaction waiting for the wallet's hash; ``on_mined(receipt)`` records the outcome."""

    owner: str
    label: str
    prepared: object  # exchange.chain.prepared.PreparedTx
    on_mined: Callable[[dict], dict]
    on_failed: Callable[[str], None] = lambda reason: None
    run: WalletRun | None = None  # a step of a plan run: declining it stops the run
    created: float = field(default_factory=time.time)


class PendingStore:
    """token -> Pending, single use, per owner, expiring."""

    def __init__(self, ttl_s: float = PENDING_TTL_S):
        self.ttl = ttl_s
        self._items: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def put(self, pending: Pending) -> str:
        token = secrets.token_urlsafe(16)
        now = time.time()
        with self._lock:
            for k in [k for k, p in self._items.items() if now - p.created > self.ttl]:
                del self._items[k]
            self._items[token] = pending
        return token

    def take(self, token: str, owner: str) -> Pending:
        with self._lock:
            p = self._items.get(str(token))
            if p is None or p.owner.lower() != owner.lower() or time.time() - p.created > self.ttl:
                raise NotFound("no such prepared transaction (reported already, expired, or not yours)")
            del self._items[str(token)]
            return p

    def restore(self, token: str, pending: Pending) -> None:
        """Put a taken step back (its report was refused, so it is still to be reported)."""
        with self._lock:
            self._items[token] = pending


@dataclass
class WalletRun:
    """A plan being placed by the wallet: key registration, then one bidBatch per batch, in order."""

    job: Job
    plan: PlanView
    x25519_public: bytes
    register_key: bool
    commitments: dict[int, bytes] = field(default_factory=dict)  # sealed bids: auction id -> the browser's commitment
    next_batch: int = 0
    key_done: bool = False
    waiting: bool = False  # a step is with the wallet: the next is prepared only once it is reported
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


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


def next_step(services, address: str, run: WalletRun, pending: PendingStore) -> dict | None:
    """Prepare the run's next transaction (exact gas now) and hold it for the wallet; None when all are done."""
    client = _client(services)
    with run.lock:
        if run.waiting:
            raise WalletTxError("the previous transaction is still with your wallet: report it first")
        if run.register_key and not run.key_done:
            p = prepare_call(services, client.fns().registerBuyerKey(run.x25519_public), address)
            label = "register your key-delivery key (once)"

            def mined(receipt, run=run):
                run.key_done, run.waiting = True, False
                return {"label": label}

            def failed(reason, run=run):
                run.waiting = False
                fail_run(run, f"the key registration failed: {reason}")
        elif run.next_batch < len(run.plan.batches):
            i = run.next_batch
            batch = run.plan.batches[i]
            p = prepare_call(services, batch_fn(client, batch, run.commitments), address)
            label = batch_label(run.plan, i)
            run.job.stage = f"waiting for your wallet: {label}"

            def mined(receipt, run=run, batch=batch, i=i):
                skipped = client.skipped(receipt)
                note = "sealed bid committed: reveal it after bidding ends" if batch[0].sealed else ""
                run.job.record([Outcome(b.device_id, b.auction_id, "skipped" if b.auction_id in skipped else "placed",
                                        skipped.get(b.auction_id, "").replace("_", " ") or note, b.amount)
                                for b in batch],
                               "0x" + bytes(receipt["transactionHash"]).hex())
                run.next_batch, run.waiting = i + 1, False
                run.job.stage = f"transaction {i + 1} of {len(run.plan.batches)} mined"
                if run.next_batch == len(run.plan.batches):
                    finish_run(run)
                return {"label": label, "skipped": len(skipped), "placed": len(batch) - len(skipped)}

            def failed(reason, run=run, batch=batch, i=i):
                run.job.record([Outcome(b.device_id, b.auction_id, "failed", reason, b.amount) for b in batch])
                run.next_batch, run.waiting = i + 1, False
                if run.next_batch == len(run.plan.batches):
                    finish_run(run)
        else:
            return None
        run.waiting = True
    token = pending.put(Pending(address, label, p, mined, failed, run=run))
    total = len(run.plan.batches) + (1 if run.register_key else 0)
    done = run.next_batch + (1 if run.key_done else 0)
    return {"token": token, "label": label, "tx": p.for_wallet(), "step": done + 1, "total_steps": total,
            **cost_of(services, p.gas, p.value, 0)}


def finish_run(run: WalletRun) -> None:
    run.job.stage = "finished"
    run.job.state = "done"
    run.job.finished = time.time()


def fail_run(run: WalletRun, reason: str) -> None:
    run.job.error = reason
    run.job.stage = "stopped"
    run.job.state = "failed"
    run.job.finished = time.time()


def report(services, address: str, pending: PendingStore, token: str, tx_hash: str) -> dict:
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
        p.on_failed(str(exc))
        return {"ok": False, "label": p.label, "error": str(exc)}
    return {"ok": True, "tx_hash": tx_hash, **p.on_mined(receipt)}


def abandon(pending: PendingStore, address: str, token: str, reason: str) -> dict:
    """The wallet declined (or failed before sending): the step is recorded as not done."""
    p = pending.take(token, address)
    reason = str(reason or "")[:200] or "declined in the wallet"
    if p.run is not None:
        with p.run.lock:
            p.run.waiting = False
        fail_run(p.run, f"stopped at {p.label}: {reason}")
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
        return (f"rate auction #{auction_ids[0]}: {score}",
                prepare_call(services, f.rate(auction_ids[0], score), address))
    if action == "reveal":  # (amount, salt) per auction, from the browser: public once revealed
        return (f"reveal {len(auction_ids)} sealed bid(s)",
                prepare_call(services, f.revealBatch(list(auction_ids), [a for a, _s in reveal],
                                                     [s for _a, s in reveal], False), address))
    raise WalletTxError(f"unknown action {action!r}: one of {', '.join(SINGLE_ACTIONS)}")
