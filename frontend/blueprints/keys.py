"""Keys received (opened here with the user's X25519 key) and the data viewer."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from exchange.chain.registry import RegistryClient
from frontend import auction_reads
from frontend.device_data import (
    CHART_RANGES,
    EXPORT_STEP_S,
    MAX_EXPORT_ROWS,
    DeviceKeys,
    DeviceReadError,
    ExportJob,
    export_rows_estimate,
    read_frame,
    read_series,
)
from frontend.errors import FormError, FrontendError, NotFound
from frontend.security import allow_connect, require_user

bp = Blueprint("keys", __name__, url_prefix="/keys")
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet",
                  "jsonl": "application/x-ndjson"}
MAX_EXPORT_KEYS = 250


def _services():
    return current_app.extensions["thingbid.services"]


def _key(user, auction_id: int):
    for k in auction_reads.my_keys(_services(), user):
        if k.auction_id == auction_id:
            return k
    raise NotFound("no key of yours for this auction")


def _device_keys(device) -> DeviceKeys | None:
    """The registry's keys of the device (reads through a relay are then sealed and verified);
    None when the catalog has no X25519 key for it."""
    x25519 = bytes.fromhex((device.x25519_key or "").removeprefix("0x"))
    if len(x25519) != 32:
        return None
    services = _services()
    chain = services.base_chain()
    device_hex = device.device_id.removeprefix("0x")
    with services.chain_guard():
        signing_key = RegistryClient.from_manifest(chain, services.manifest).signing_key_of(bytes.fromhex(device_hex))
    return DeviceKeys(device_hex, signing_key, x25519)


@bp.route("/")
def index():
    user = require_user()
    return render_template("keys/index.html", keys=auction_reads.my_keys(_services(), user),
                           now=auction_reads.chain_now(_services()))


@bp.route("/<int:auction_id>")
def view(auction_id: int):
    user = require_user()
    k = _key(user, auction_id)
    device = _services().catalog().device(k.device_id)
    from frontend.device_data import history_href, numeric_properties

    td = device.td if device is not None else None
    props = numeric_properties(td)
    history = history_href(td)
    direct = _device_origin(history) if k.sealed_hex else None
    if direct:  # a wallet session reads the device from the browser: its origin joins this page's connect-src
        allow_connect(direct)
    return render_template("keys/view.html", k=k, device=device, formats=EXPORT_FORMATS, ranges=CHART_RANGES,
                           history_url=history, first_property=props[0].name if props else "",
                           td_url=url_for("catalog.td", device_id=k.device_id, _external=True),
                           direct_url=history if direct else None, now=auction_reads.chain_now(_services()),
                           direct_props=[{"name": p.name, "unit": p.unit} for p in props])


_ORIGIN_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]{1,253})$")


def _device_origin(url: str | None) -> str | None:
    """scheme://host[:port] of a device URL, only when it is a plain http(s) origin (it goes into the CSP)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0] if port else parts.netloc).lower()
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or not _ORIGIN_HOST.match(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _step() -> int:
    raw = request.args.get("step", "")
    if raw == "":
        return EXPORT_STEP_S
    if not raw.isdigit() or not 1 <= int(raw) <= 86_400:
        raise FrontendError("step must be a whole number of seconds from 1 to 86400")
    return int(raw)


def _export(keys, fmt: str, name: str):
    """The readings of ``keys`` (their periods so far) as one tidy file: device, property, time
    (ISO 8601 UTC, with the date), value, unit."""
    if fmt not in EXPORT_FORMATS:
        raise NotFound(f"no export format {fmt[:20]!r} (csv, parquet, jsonl)")
    step = _step()
    closed = [k for k in keys if k.error]
    if closed and len(closed) == len(keys):
        return jsonify({"error": closed[0].error}), 409
    services = _services()
    now = auction_reads.chain_now(services)
    catalog = services.catalog()
    jobs, unknown = [], []
    for k in keys:
        if k.error:
            continue
        device = catalog.device(k.device_id)
        if device is None:
            unknown.append(k.device_id)
            continue
        jobs.append(ExportJob(k.device_id, device.td, k.token, k.not_before, k.not_after, _device_keys(device)))
    if not jobs:
        return jsonify({"error": "none of these devices is in the catalog any more"}), 404
    rows = export_rows_estimate(jobs, now, step)
    if rows > MAX_EXPORT_ROWS:
        raise FrontendError(f"this export would hold up to {rows:,} readings (at most {MAX_EXPORT_ROWS:,}): "
                         f"ask a larger step (now {step} s) or fewer keys")
    frame, failed = read_frame(jobs, now, step, policy=current_app.extensions["thingbid.device_networks"])
    if failed and len(failed) == len(jobs):
        return jsonify({"error": "no device could be read", "devices": failed}), 502
    buf = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(buf, index=False)
    elif fmt == "jsonl":
        from exchange.client.frames import to_jsonl

        to_jsonl(frame, buf)
    else:
        out = frame.astype({"time": "object"})
        out["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        buf.write(out.to_csv(index=False).encode())
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"', "X-Thingbid-Rows": str(len(frame))}
    if failed or unknown or closed:
        headers["X-Thingbid-Unread"] = str(len(failed) + len(unknown) + len(closed))
    return Response(buf.getvalue(), mimetype=EXPORT_FORMATS[fmt].split(";")[0], headers=headers)


@bp.route("/<int:auction_id>/data.<fmt>")
def export_one(auction_id: int, fmt: str):
    """One key's readings as CSV, Parquet or JSONL (``data.json`` is the chart's JSON)."""
    user = require_user()
    return _export([_key(user, auction_id)], fmt, f"thingbid-data-{auction_id}")


@bp.route("/export.<fmt>")
def export_many(fmt: str):
    """Every key's readings in one file, across devices (``?auction=`` repeated: those keys;
    ``?job=``: the keys won by one bidding job's bids)."""
    user = require_user()
    mine = {k.auction_id: k for k in auction_reads.my_keys(_services(), user)}
    raw = request.args.getlist("auction")
    job_id = request.args.get("job")
    if job_id is not None:
        job = current_app.extensions["thingbid.jobs"].get(job_id[:64], user.address)
        if job is None:
            raise NotFound("no such bidding job of yours")
        won = dict.fromkeys(o.auction_id for o in job.outcomes if o.status == "placed" and o.auction_id is not None)
        keys = [mine[a] for a in won if a in mine][:MAX_EXPORT_KEYS]
        if not keys:
            raise NotFound("no keys from this job yet: win its auctions and wait for the devices to deliver")
    elif raw:
        if len(raw) > MAX_EXPORT_KEYS or not all(a.isdigit() and len(a) < 20 for a in raw):
            raise FrontendError(f"auction must be auction numbers (at most {MAX_EXPORT_KEYS})")
        missing = [a for a in raw if int(a) not in mine]
        if missing:
            raise NotFound(f"no key of yours for auction #{missing[0]}")
        keys = [mine[int(a)] for a in dict.fromkeys(raw)]
    else:
        keys = list(mine.values())[:MAX_EXPORT_KEYS]
    if not keys:
        raise NotFound("no keys yet: win an auction and wait for the device to deliver")
    return _export(keys, fmt, "thingbid-data")


@bp.route("/<int:auction_id>/key.txt")
def download(auction_id: int):
    """The opened access key, for the user's own scripts (Authorization: Bearer <key>)."""
    from flask import Response

    user = require_user()
    k = _key(user, auction_id)
    if k.error:
        raise NotFound(k.error)
    return Response(k.token + "\n", mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="thingbid-key-{auction_id}.txt"'})


MAX_TOKEN = 4096


def _handed_token(user, k) -> tuple[str, int, int]:
    """The one key a wallet session hands over for the data viewer (the browser opened it): checked to be
    this auction's key, signed by its device, for this user; used for this read only, never kept."""
    from exchange.crypto.tokens import TokenError, read_claims_unverified, verify_token

    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        raise FormError("token", "must be the access key your wallet opened (send {\"token\": ...} as JSON)")
    services = _services()
    with services.chain_guard():
        signing_key = RegistryClient.from_manifest(services.base_chain(), services.manifest).signing_key_of(
            bytes.fromhex(k.device_id.removeprefix("0x")))
    try:
        claims = read_claims_unverified(token)
        verify_token(token, signing_key, device_id=k.device_id, now=claims.not_before)  # signature and device
    except (TokenError, ValueError) as exc:
        raise FormError("token", f"is not this device's key: {exc}") from None
    if claims.auction_id != k.auction_id or claims.buyer.lower() != user.address.lower():
        raise FormError("token", f"is the key of auction #{claims.auction_id} for {claims.buyer}, not yours of "
                                 f"auction #{k.auction_id}")
    return token, claims.not_before, claims.not_after


@bp.route("/<int:auction_id>/data.json", methods=["GET", "POST"])
def data(auction_id: int):
    """The device's readings over the key's period. A wallet session's key opens in the browser only:
    POST it here (one key, explicitly) for this server to read the device with it."""
    user = require_user()
    k = _key(user, auction_id)
    token, not_before, not_after = k.token, k.not_before, k.not_after
    if request.method == "POST":
        if not user.is_wallet:
            raise FormError("token", "is opened by this server already: GET this page")
        token, not_before, not_after = _handed_token(user, k)
    elif k.error:
        return jsonify({"error": k.error}), 409
    device = _services().catalog().device(k.device_id)
    if device is None:
        raise NotFound("the device is no longer in the catalog")
    span = request.args.get("range", "24h")
    if span not in CHART_RANGES:
        return jsonify({"error": f"range must be one of {', '.join(CHART_RANGES)}"}), 400
    try:
        out = read_series(device.td, token, not_before, not_after, now=auction_reads.chain_now(_services()),
                          policy=current_app.extensions["thingbid.device_networks"], keys=_device_keys(device),
                          span_s=CHART_RANGES[span])
    except DeviceReadError as exc:
        return jsonify({"error": str(exc)}), 502
    return jsonify(out)
