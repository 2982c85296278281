"""Streams: a device's offers, buying a span with the tangle wallet, live readings."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from frontend.errors import FormError, FrontendError, NotFound
from frontend.forms import Kept, parse_int
from frontend.security import require_user
from frontend.stream_ops import list_offers

bp = Blueprint("streams", __name__, url_prefix="/streams")
DEVICE_ID_LEN = 66
MAX_SPAN = 1_000_000  # the form's own bound; the offer's max span is checked against the device's offer


def _services():
    return current_app.extensions["thingbid.services"]


def _manager():
    return current_app.extensions["thingbid.streams"]


def _device_id(raw) -> str:
    s = (raw or "").strip().lower()
    s = s if s.startswith("0x") else "0x" + s
    if len(s) != DEVICE_ID_LEN or any(c not in "0123456789abcdef" for c in s[2:]):
        raise FormError("device_id", "must be 0x followed by 64 hex digits")
    return s


@bp.route("/")
def index():
    user = require_user()
    return render_template("streams/index.html", sessions=_manager().of(user.address),
                           device_id=request.args.get("device_id", ""))


@bp.route("/offers")
def offers():
    user = require_user()
    return _offers_page(user, _device_id(request.args.get("device_id")))


def _offers_page(user, device_id: str, errors=(), kept: Kept | None = None, status: int = 200):
    from exchange.errors import ExchangeError

    try:
        found = list_offers(_services(), user, device_id)
        error = None
    except ExchangeError as exc:
        found, error = [], f"cannot read offers: {exc}"
    return render_template("streams/offers.html", device_id=device_id, offers=found, error=error,
                           errors=list(errors), kept=kept or Kept()), status


def _buy_refused(user, exc: FormError):
    """A refused purchase: the offers page again (400) with the message and the typed span kept."""
    raw_device = (request.form.get("device_id") or "")[:100]
    if exc.field == "device_id":  # no device to list offers of: the streams page with the typed id
        return render_template("streams/index.html", sessions=_manager().of(user.address), device_id=raw_device,
                               errors=[str(exc)], kept=Kept.of("offers", request.form, ("device_id",), exc.field)), 400
    stream = (request.form.get("stream") or "").strip()[:100]
    # The form is per stream: key the kept span by the stream it was typed for.
    kept = Kept.of(f"buy:{stream}", request.form, ("span",), exc.field)
    return _offers_page(user, _device_id(raw_device), [str(exc)], kept, 400)


@bp.route("/buy", methods=["POST"])
def buy():
    from exchange.errors import ExchangeError

    user = require_user()
    try:
        device_id = _device_id(request.form.get("device_id"))
        stream = (request.form.get("stream") or "").strip()
        if not stream or len(stream) > 100:
            raise FormError("stream", "is missing: choose a stream")
        span = parse_int("span", request.form.get("span"), 1, MAX_SPAN)
        s = _manager().buy(_services(), user, device_id, stream, span)  # FormError: over the offer's max span
    except FormError as exc:
        return _buy_refused(user, exc)
    except FrontendError:
        raise
    except ExchangeError as exc:
        raise FrontendError(f"purchase refused: {exc}") from exc
    return redirect(url_for("streams.watch", sid=s.id))


@bp.route("/s/<sid>")
def watch(sid: str):
    user = require_user()
    s = _manager().get(sid, user.address)
    if s is None:
        raise NotFound("no such stream purchase")
    return render_template("streams/watch.html", s=s)


@bp.route("/s/<sid>/readings.json")
def readings(sid: str):
    user = require_user()
    s = _manager().get(sid, user.address)
    if s is None:
        raise NotFound("no such stream purchase")
    cursor = parse_int("since", request.args.get("since"), 0, 10**9, default=0)
    items, nxt = s.since(cursor)
    return jsonify({"state": s.state, "error": s.error, "readings": items, "cursor": nxt, "sold": s.sold})
