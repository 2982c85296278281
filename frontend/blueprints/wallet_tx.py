"""Wallet transactions (JSON for frontend/js/wallet.js): estimate, prepare, report; the browser's wallet signs.

``GET  /wallet-tx/plan/<pid>/estimate.json``  every transaction of a bid plan with gas and total cost
``POST /wallet-tx/plan/<pid>/start``          claim the plan: a job whose batches the wallet sends
``POST /wallet-tx/run/<job_id>/next``         the next transaction prepared (exact gas now), or done
``POST /wallet-tx/single/<action>``           one transaction: register_key, deposit, withdraw, settle, reclaim, rate,
                                              reveal (the amounts and salts the browser recovered)
``GET  /wallet-tx/sealed.json``               the user's sealed-bid amount boxes and on-chain commitments
``POST /wallet-tx/sent``                      the wallet's hash: checked on chain, then recorded
``POST /wallet-tx/declined``                  the wallet declined: the run stops there
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request, session, url_for

from frontend import auction_reads, wallet_tx
from frontend.errors import FormError, NotFound
from frontend.forms import parse_eth
from frontend.security import require_user
from frontend.wallet_sealed import WalletSealedStore

bp = Blueprint("wallet_tx", __name__, url_prefix="/wallet-tx")
MAX_SETTLE = 200


def _services():
    return current_app.extensions["thingbid.services"]


def _pending() -> wallet_tx.PendingStore:
    return current_app.extensions["thingbid.wallet_pending"]


def _runs() -> wallet_tx.RunStore:
    return current_app.extensions["thingbid.wallet_runs"]


def _wallet_user():
    user = require_user()
    if not user.is_wallet:
        raise wallet_tx.WalletTxError("this session signs on the server (local keystore): use the page's own forms")
    return user


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise wallet_tx.WalletTxError("send a JSON object")
    return body


def _plan(pid: str, owner: str):
    stored = current_app.extensions["thingbid.plans"].get(pid, owner)
    if stored is None:
        raise NotFound("no such plan (expired, or not yours): make a new one from the catalog")
    return stored


def _sealed_store() -> WalletSealedStore:
    return WalletSealedStore(_services().keystore_dir / "wallet-sealed")


def _registered(address: str, public: bytes | None = None) -> bool:
    key = auction_reads.buyer_key_of(_services(), address)
    return key == public if public is not None else key != bytes(32)


def _x25519(raw) -> bytes:
    if not isinstance(raw, str) or len(raw) != 64:
        raise FormError("x25519_public", "must be 64 hex digits (the key your wallet derived)")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise FormError("x25519_public", "must be 64 hex digits (the key your wallet derived)") from None
    if key == bytes(32):
        raise FormError("x25519_public", "must not be all zero")
    return key


@bp.route("/plan/<pid>/estimate.json")
def estimate(pid: str):
    user = _wallet_user()
    stored = _plan(pid, user.address)
    public = request.args.get("x25519_public")
    registered = _registered(user.address, _x25519(public) if public else None)
    return wallet_tx.estimate_plan(_services(), user.address, stored.plan, registered)


@bp.route("/plan/<pid>/start", methods=["POST"])
def start(pid: str):
    user = _wallet_user()
    body = _body()
    public = _x25519(body.get("x25519_public"))
    stored = _plan(pid, user.address)
    # Checked (and the amount boxes kept) before the plan is claimed: a refused body leaves it placeable.
    commitments = wallet_tx.take_commitments(_services(), user.address, stored.plan, body.get("sealed"), _sealed_store())
    free, _locked = auction_reads.balance_of(_services(), user.address)
    if stored.plan.total > free:
        raise wallet_tx.WalletTxError(f"your free deposit ({free} wei) is short of the plan's {stored.plan.total} wei:"
                                      " deposit first")
    stored = current_app.extensions["thingbid.plans"].claim(pid, user.address)
    if stored is None:
        raise NotFound("this plan is gone (placed already, expired, or not yours): make a new one")
    p = stored.plan
    job = current_app.extensions["thingbid.jobs"].add(user.address, "bids", len(p.batches), p.count,
                                                       meta={"total": p.total, "skipped_in_plan": p.skipped,
                                                             "signer": "wallet"})
    current_app.extensions["thingbid.plans"].attach_job(pid, job.id)
    _runs().add(job, p, public, not _registered(user.address, public), commitments)
    return {"job_id": job.id, "job_url": url_for("bids.job", job_id=job.id),
            "progress_url": url_for("bids.job_progress", job_id=job.id),
            "next_url": url_for("wallet_tx.next_tx", job_id=job.id)}


@bp.route("/run/<job_id>/next", methods=["POST"])
def next_tx(job_id: str):
    user = _wallet_user()
    run = _runs().get(job_id, user.address)
    if run is None:
        raise NotFound("no such wallet bidding run")
    if run.job.state != "running":
        return {"done": True, "state": run.job.state}
    step = wallet_tx.next_step(_services(), user.address, run, _pending(), _runs())
    if step is None:
        wallet_tx.finish_run(run)
        return {"done": True, "state": run.job.state}
    return {"done": False, **step}


@bp.route("/single/<action>", methods=["POST"])
def single(action: str):
    user = _wallet_user()
    body = _body()
    amount, ids, score, public, reveal = 0, (), 0, b"", ()
    if action == "register_key":
        public = _x25519(body.get("x25519_public"))
    elif action in ("deposit", "withdraw"):
        amount = parse_eth("amount", str(body.get("amount", "")))
        if amount <= 0:
            raise FormError("amount", "must be more than 0")
    elif action == "reveal":
        ids, reveal = _reveals(user.address, body)
    elif action in ("settle", "reclaim", "rate"):
        raw = body.get("auction_ids")
        if (not isinstance(raw, list) or not raw or len(raw) > MAX_SETTLE
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**64 for i in raw)):
            raise FormError("auction_id", f"must be a list of 1 to {MAX_SETTLE} auction numbers")
        ids = tuple(raw)
        if action == "rate":
            score = body.get("score")
            if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
                raise FormError("score", "must be 1 to 5")
    else:
        raise NotFound(f"no wallet action {action!r}")
    label, prepared = wallet_tx.prepare_single(_services(), user.address, action, amount, ids, score, public, reveal)
    token = _pending().put(wallet_tx.Pending(user.address, label, prepared, "single", action, n=len(ids)))
    return {"token": token, "label": label, "tx": prepared.for_wallet(),
            **wallet_tx.cost_of(_services(), prepared.gas, prepared.value, 0)}


def _reveals(address: str, body: dict) -> tuple[tuple[int, ...], tuple]:
    """(auction ids, ((amount, salt), ...)) of a reveal: only the user's sealed bids in their reveal window
    (a salt sent earlier would reach this server before bidding ends)."""
    raw = body.get("reveals")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_SETTLE:
        raise FormError("reveals", f"must list 1 to {MAX_SETTLE} sealed bids")
    due = {r.auction_id for r in auction_reads.my_auctions(_services(), address) if r.can_reveal}
    ids, pairs = [], []
    for item in raw:
        if not isinstance(item, dict):
            raise FormError("reveals", "each is {auction_id, amount, salt}")
        aid, amount, salt = item.get("auction_id"), item.get("amount"), item.get("salt")
        if aid not in due or aid in ids:
            raise NotFound(f"auction {aid!r} is not one of your sealed bids waiting for its reveal")
        if not isinstance(amount, str) or not amount.isdigit() or not 0 < int(amount) < 2**88:
            raise FormError("amount", f"auction {aid}: the amount is a decimal number of wei, 1 to 2^88-1")
        try:
            salt_bytes = bytes.fromhex(str(salt).removeprefix("0x"))
        except ValueError:
            salt_bytes = b""
        if len(salt_bytes) != 32:
            raise FormError("salt", f"auction {aid}: the salt is 32 bytes of hex")
        ids.append(aid)
        pairs.append((int(amount), salt_bytes))
    return tuple(ids), tuple(pairs)


@bp.route("/sealed.json")
def sealed():
    """The user's sealed bids on ``auction_id``: the amount box the browser sealed and the commitment on
    chain (the browser opens the box, derives the salt and checks both before it reveals)."""
    user = _wallet_user()
    try:
        ids = [int(v) for v in request.args.getlist("auction_id")]
    except ValueError:
        raise FormError("auction_id", "must be auction numbers") from None
    if not ids or len(ids) > MAX_SETTLE or not all(0 < i < 2**64 for i in ids):
        raise FormError("auction_id", f"must be 1 to {MAX_SETTLE} auction numbers")
    services, store = _services(), _sealed_store()
    client = auction_reads.house(services)
    bids = []
    for aid in ids:
        with services.chain_guard():
            commitment, deposit = client.commit_of(aid, user.address)
        box = store.get(user.address, client.chain.chain_id, client.address, aid)
        bids.append({"auction_id": aid, "commitment": "0x" + commitment.hex(), "deposit": str(deposit),
                     "box": box.hex() if box else None})
    return {"house": client.address, "chain_id": client.chain.chain_id, "bids": bids}


@bp.route("/sent", methods=["POST"])
def sent():
    user = _wallet_user()
    body = _body()
    return jsonify(wallet_tx.report(_services(), user.address, _pending(), _runs(), str(body.get("token", "")),
                                    body.get("tx_hash")))


@bp.route("/declined", methods=["POST"])
def declined():
    user = _wallet_user()
    body = _body()
    return jsonify(wallet_tx.abandon(_pending(), _runs(), user.address, str(body.get("token", "")), body.get("reason", "")))


# ---- the tangle wallet of a wallet session: its key is derived in the browser, which signs ----------
_TANGLE_ADDRESS = re.compile(r"^[0-9a-f]{64}$")
TANGLE_MEMO_MAX = 1024


def _tangle_address(raw) -> str:
    address = str(raw or "").lower()
    if not _TANGLE_ADDRESS.match(address):
        raise FormError("to", "must be a tangle address: 64 hex digits")
    return address


def _tangle():
    from exchange.errors import ExchangeError

    try:
        return _services().tangle()
    except (ExchangeError, OSError) as exc:
        raise wallet_tx.WalletTxError(f"tangle node unavailable: {exc}") from exc


def _tangle_call(fn):
    from exchange.errors import ExchangeError

    try:
        return fn()
    except (ExchangeError, OSError) as exc:
        raise wallet_tx.WalletTxError(f"the tangle node refused: {exc}") from exc


@bp.route("/tangle/prepare.json")
def tangle_prepare():
    """What the browser needs to build and sign its next transfer: network, proof-of-work difficulty,
    parents to approve (its own last pending transfer among them) and the account's next sequence.
    The address is the one the browser derived; this session sends from it from now on."""
    user = _wallet_user()
    address = _tangle_address(request.args.get("address"))
    client = _tangle()
    info, acct, tips = _tangle_call(lambda: (client.info(), client.account(address), client.tips()))
    parents = sorted({*tips, *([acct["last_pending"]] if acct.get("last_pending") else [])})[:8]
    if len(parents) < 2:
        parents = parents * 2
    session["tangle_address"] = address
    return {"address": address, "owner": user.address, "network": info["network"],
            "pow_difficulty": info["pow_difficulty"], "parents": parents, "sequence": acct["next_sequence"],
            "balance": acct["balance"]}


@bp.route("/tangle/account.json")
def tangle_account():
    """Balance and recent transfers of the browser-derived tangle address (public on the tangle)."""
    from frontend.blueprints.wallet import _history

    _wallet_user()
    address = _tangle_address(request.args.get("address"))
    client = _tangle()
    balance = _tangle_call(lambda: client.balance(address))

    def latest(keep: int = 20) -> list[dict]:  # the node pages oldest first: walk to the end, keep the last few
        out, since = [], 0
        while True:
            items, nxt = client.find(address=address, since=since, limit=500)
            out = (out + items)[-keep:]
            if len(items) < 500 or nxt == since:
                return out
            since = nxt

    return {"address": address, "balance": balance, "history": _history(_tangle_call(latest), address)}


@bp.route("/tangle/submit", methods=["POST"])
def tangle_submit():
    """A transfer the browser built and signed: checked to be a well-formed value transfer signed by
    this session's tangle address, then handed to the node (which checks proof of work and funds)."""
    from exchange.tangle import tx as txm
    from exchange.tangle.errors import TxFormatError

    _wallet_user()
    mine = session.get("tangle_address")
    if not mine:
        raise wallet_tx.WalletTxError("prepare the transfer first (/wallet-tx/tangle/prepare.json)")
    try:
        raw = bytes.fromhex(str(_body().get("tx", "")))
        t = txm.decode(raw)
    except (ValueError, TxFormatError) as exc:
        raise FormError("tx", f"is not a tangle transaction: {exc}") from None
    if t.kind != txm.VALUE:
        raise FormError("tx", "must be a value transfer")
    if t.sender != mine or not t.verify_signature():
        raise FormError("tx", "must be signed by your tangle address (the one your wallet derived)")
    client = _tangle()
    tx_id = _tangle_call(lambda: client.submit(raw))
    state = "pending"
    try:
        done = client.wait_confirmed(tx_id, timeout=15)
        state = "conflicting" if done.get("conflicting") else "confirmed"
    except Exception:  # noqa: BLE001 - not confirmed yet is an answer too: the page shows it pending
        pass
    return {"id": tx_id, "to": t.to.hex(), "amount": t.amount, "state": state}


# ---- streams bought by a wallet session: paid and opened in the browser; public data relayed ------------
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _hex(name: str, raw, pattern=_TANGLE_ADDRESS) -> str:
    value = str(raw or "").lower()
    if not pattern.match(value):
        raise FormError(name, "must be hex of the right length")
    return value


@bp.route("/streams/answer.json")
def stream_answer():
    """The device's signed answer to a purchase (``nonce``, paid by ``payment``), checked against the
    device key; its box holds the channel root sealed to the browser's key, which only the browser opens."""
    from exchange.streams.errors import MalformedMessage
    from exchange.streams.protocol import answer_tag, open_doc
    from frontend.stream_ops import reader_ledger

    _wallet_user()
    nonce = _hex("nonce", request.args.get("nonce"), _HEX32)
    device_public = bytes.fromhex(_hex("device_public", request.args.get("device_public")))
    payment = _hex("payment", request.args.get("payment"))
    ledger = reader_ledger(_services())
    msgs, _cursor = _tangle_call(lambda: ledger.read(answer_tag(nonce), 0))
    for m in msgs:
        try:
            body, _ = open_doc(m.data, device_public)
        except MalformedMessage:
            continue  # someone else's noise under the tag
        if body.get("t") == "sale" and body.get("id") == nonce and body.get("pay") == payment:
            return {"waiting": False, "sold": body.get("n", 0), "refund": body.get("refund", 0),
                    "reason": str(body.get("reason", ""))[:200], "box": body.get("box") if body.get("n") else None}
    return {"waiting": True}


@bp.route("/streams/messages.json")
def stream_messages():
    """A channel's messages after ledger cursor ``since``, as the encrypted, signed bytes the device
    published (the browser checks and decrypts them)."""
    from frontend.stream_ops import reader_ledger

    _wallet_user()
    channel = _hex("channel", request.args.get("channel"))
    raw = request.args.get("since", "0")
    if not raw.isdigit() or len(raw) > 18:
        raise FormError("since", "must be a ledger cursor (a whole number)")
    ledger = reader_ledger(_services())
    msgs, cursor = _tangle_call(lambda: ledger.read(channel, int(raw)))
    return {"wires": [m.data.hex() for m in msgs], "cursor": cursor}
