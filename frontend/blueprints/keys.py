"""Keys received (opened here with the user's X25519 key) and the data viewer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from exchange.chain.registry import RegistryClient
from frontend import auction_reads
from frontend.device_data import DeviceKeys, DeviceReadError, read_series
from frontend.errors import NotFound
from frontend.security import require_user

bp = Blueprint("keys", __name__, url_prefix="/keys")


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
    return render_template("keys/view.html", k=k, device=device)


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


@bp.route("/<int:auction_id>/data.json")
def data(auction_id: int):
    user = require_user()
    k = _key(user, auction_id)
    if k.error:
        return jsonify({"error": k.error}), 409
    device = _services().catalog().device(k.device_id)
    if device is None:
        raise NotFound("the device is no longer in the catalog")
    try:
        out = read_series(device.td, k.token, k.not_before, k.not_after, now=auction_reads.chain_now(_services()),
                          policy=current_app.extensions["thingbid.device_networks"], keys=_device_keys(device))
    except DeviceReadError as exc:
        return jsonify({"error": str(exc)}), 502
    return jsonify(out)
