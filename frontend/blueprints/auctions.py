"""My auctions: state of every auction I bid on, settle, reclaim after a missed delivery, rate."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from frontend import auction_ops, auction_reads
from frontend.errors import FormError, FrontendError, NotFound
from frontend.forms import parse_int
from frontend.security import require_user

bp = Blueprint("auctions", __name__, url_prefix="/auctions")


def _services():
    return current_app.extensions["thingbid.services"]


@bp.route("/")
def index():
    user = require_user()
    rows = auction_reads.my_auctions(_services(), user.address)
    return render_template("auctions/index.html", rows=rows, now=auction_reads.chain_now(_services()))


def _ids_from_form() -> list[int]:
    ids = request.form.getlist("auction_id")
    if not ids:
        raise FormError("auction_id", "is empty: choose at least one auction")
    if len(ids) > 500:
        raise FormError("auction_id", "must be at most 500 auctions at once")
    return [parse_int("auction_id", i, 0, 2**63) for i in ids]


def _guarded(fn, ok: str):
    from exchange.errors import ContractRevert, ExchangeError

    try:
        fn()
    except ContractRevert as exc:
        raise FrontendError(f"refused by the auction house: {exc.error}{exc.error_args}") from exc
    except ExchangeError as exc:
        if isinstance(exc, FrontendError):
            raise
        raise FrontendError(str(exc)) from exc
    flash(ok)
    return redirect(url_for("auctions.index"))


@bp.route("/settle", methods=["POST"])
def settle():
    user = require_user()
    ids = _ids_from_form()
    mine = {r.auction_id for r in auction_reads.my_auctions(_services(), user.address)}
    if not set(ids) <= mine:
        raise NotFound("not one of your auctions")
    return _guarded(lambda: auction_ops.settle(_services(), user, ids), f"Settled {len(ids)} auction(s).")


@bp.route("/reveal", methods=["POST"])
def reveal():
    user = require_user()
    ids = _ids_from_form()
    due = {r.auction_id for r in auction_reads.my_auctions(_services(), user.address) if r.can_reveal}
    if not set(ids) <= due:
        raise NotFound("not one of your sealed bids waiting for its reveal")
    return _guarded(lambda: auction_ops.reveal(_services(), user, ids), f"Revealed {len(ids)} sealed bid(s).")


@bp.route("/reclaim", methods=["POST"])
def reclaim():
    user = require_user()
    (aid,) = _ids_from_form()[:1]
    return _guarded(lambda: auction_ops.reclaim(_services(), user, aid), f"Payment for auction #{aid} reclaimed.")


@bp.route("/rate", methods=["POST"])
def rate():
    user = require_user()
    (aid,) = _ids_from_form()[:1]
    score = parse_int("score", request.form.get("score"), 1, 5)
    return _guarded(lambda: auction_ops.rate(_services(), user, aid, score), f"Rated auction #{aid}: {score}/5.")
