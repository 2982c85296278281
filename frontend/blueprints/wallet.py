"""Wallets: Ether in the auction house (deposit/withdraw) and the tangle wallet (balance/send/receive)."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from frontend import auction_ops, auction_reads, stream_ops
from frontend.errors import FormError, FormRefusal, FrontendError
from frontend.forms import Kept, format_eth, parse_eth, parse_int, parse_tangle_address
from frontend.security import require_user
from frontend.wallet_ops import account_summary

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
MAX_TANGLE_SEND = 10**15


def _services():
    return current_app.extensions["thingbid.services"]


@bp.route("/")
def index():
    return _page()


def _page(errors=(), kept: Kept | None = None, status: int = 200):
    from exchange.errors import ExchangeError

    user = require_user()
    services = _services()
    tangle = {"address": getattr(user.tangle_wallet, "address", None), "balance": None, "history": [], "error": None}
    if user.is_wallet:  # its tangle key lives in the browser: frontend/js/wallet.js fills this section in
        tangle["wallet"] = True
        return render_template("wallet/index.html", summary=account_summary(services, user), tangle=tangle,
                               dev=services.dev_faucet, errors=list(errors), kept=kept or Kept()), status
    try:
        ledger = stream_ops.user_ledger(services, user)
        tangle["balance"] = ledger.balance()
        tangle["history"] = _history(user.tangle_wallet.history(services.tangle())[-20:], tangle["address"])
    except (ExchangeError, OSError) as exc:
        tangle["error"] = f"tangle node unavailable: {exc}"
    return render_template("wallet/index.html", summary=account_summary(services, user), tangle=tangle,
                           dev=services.dev_faucet, errors=list(errors), kept=kept or Kept()), status


def _form(name: str, fields: tuple[str, ...]):
    """A wallet form's POST: a bad value shows the wallet again (400) with the message and the typed values."""

    def wrap(view):
        @wraps(view)
        def run():
            try:
                return view()
            except FormError as exc:
                return _page([str(exc)], Kept.of(name, request.form, fields, exc.field), 400)

        return run

    return wrap


def _history(items: list[dict], me: str) -> list[dict]:
    """Value transfers as (direction, amount, counterparty, confirmed), newest first."""
    out = []
    for t in reversed(items):
        p = t.get("payload") if isinstance(t.get("payload"), dict) else {}
        if t.get("kind") != "value":
            continue
        incoming = p.get("to") == me
        out.append({"id": str(t.get("id", ""))[:16], "direction": "in" if incoming else "out",
                    "amount": p.get("amount", 0), "other": str(p.get("from") if incoming else p.get("to"))[:16],
                    "confirmed": bool(t.get("confirmed")), "conflicting": bool(t.get("conflicting"))})
    return out


def _do(action, ok_message: str):
    from exchange.errors import ContractRevert, ExchangeError

    try:
        action()
    except ContractRevert as exc:
        raise FrontendError(f"refused by the contract: {exc.error}{exc.error_args}") from exc
    except FrontendError:
        raise
    except ExchangeError as exc:
        raise FrontendError(str(exc)) from exc
    flash(ok_message)
    return redirect(url_for("wallet.index"))


@bp.route("/deposit", methods=["POST"])
@_form("deposit", ("amount",))
def deposit():
    user = require_user()
    amount = parse_eth("amount", request.form.get("amount"))
    services = _services()
    with services.chain_guard():
        balance = services.base_chain().balance(user.address)
    if amount > balance:
        raise FormError("amount", f"is more than your Ether balance ({format_eth(balance)} ETH)")
    return _do(lambda: auction_ops.deposit(services, user, amount), f"Deposited {format_eth(amount)} ETH.")


@bp.route("/withdraw", methods=["POST"])
@_form("withdraw", ("amount",))
def withdraw():
    user = require_user()
    amount = parse_eth("amount", request.form.get("amount"))
    services = _services()
    free, _locked = auction_reads.balance_of(services, user.address)
    if amount > free:
        raise FormError("amount", f"is more than your free deposit ({format_eth(free)} ETH)")
    return _do(lambda: auction_ops.withdraw(services, user, amount), f"Withdrew {format_eth(amount)} ETH.")


@bp.route("/tangle/send", methods=["POST"])
@_form("send", ("amount", "to"))
def tangle_send():
    user = require_user()
    to = parse_tangle_address("to", request.form.get("to"))
    amount = parse_int("amount", request.form.get("amount"), 1, MAX_TANGLE_SEND)
    ledger = stream_ops.user_ledger(_services(), user)

    def go():
        with user.tx_lock:  # transfers of one wallet are sequenced, so the balance cannot drop meanwhile
            balance = ledger.balance()
            if balance < amount:  # say it in the user's terms, not the ledger's "<address> cannot pay"
                raise FormRefusal("amount", f"Your tangle balance ({balance}) is too low to send {amount}.")
            ledger.transfer(to, amount, b"thingbid web wallet")

    return _do(go, f"Sent {amount} to {to[:16]}…")


@bp.route("/tangle/faucet", methods=["POST"])
@_form("faucet", ("amount",))
def tangle_faucet():
    user = require_user()
    services = _services()
    if not services.dev_faucet:
        raise FrontendError("the faucet exists on development networks only")
    amount = parse_int("amount", request.form.get("amount"), 1, 1_000_000)

    # A wallet session's tangle address is the one its browser derived (and prepared a transfer from).
    address = session.get("tangle_address") if user.is_wallet else user.tangle_wallet.address
    if not address:
        raise FrontendError("show your tangle wallet first: the page derives its address with your wallet")

    def go():
        client = services.tangle()
        client.wait_confirmed(client.faucet(address, amount), timeout=15)

    return _do(go, f"Faucet sent {amount} to your tangle wallet.")
