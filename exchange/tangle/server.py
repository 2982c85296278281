"""The node's HTTP API (plain WSGI on werkzeug); every error is JSON ``{"error": reason}``."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from exchange.border import INT32, BorderError, JsonErrorHandler, check_text, parse_json, read_body
from exchange.tangle import peerauth
from exchange.tangle.errors import TangleRejected
from exchange.tangle.node import PEER_HEADER, PEER_SECRET_HEADER, Node, _is_addr
from exchange.tangle.tx import now_ms

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024

_URLS = Map([
    Rule("/v1/transactions", methods=["POST"], endpoint="submit"),
    Rule("/v1/transactions/batch", methods=["POST"], endpoint="submit_batch"),
    Rule("/v1/transactions/<tx_id>", methods=["GET"], endpoint="get"),
    Rule("/v1/transactions/<tx_id>/raw", methods=["GET"], endpoint="get_raw"),
    Rule("/v1/tips", methods=["GET"], endpoint="tips"),
    Rule("/v1/balances/<address>", methods=["GET"], endpoint="balance"),
    Rule("/v1/accounts/<address>", methods=["GET"], endpoint="account"),
    Rule("/v1/find", methods=["GET"], endpoint="find"),
    Rule("/v1/milestones", methods=["GET"], endpoint="milestones"),
    Rule("/v1/info", methods=["GET"], endpoint="info"),
    Rule("/v1/status", methods=["GET"], endpoint="status"),
    Rule("/v1/peers", methods=["GET", "POST"], endpoint="peers"),
    Rule("/v1/faucet", methods=["POST"], endpoint="faucet"),
    Rule("/v1/gossip", methods=["POST"], endpoint="gossip"),
    Rule("/v1/sync", methods=["GET"], endpoint="sync"),
    Rule("/v1/snapshot", methods=["GET"], endpoint="snapshot"),
])


def _json(obj, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")


def _bad(reason: str, status: int = 400):
    raise TangleRejected(reason, status)


def _raw_body(req: Request) -> bytes:
    raw = req.environ.get("tangle.body")
    if raw is None:
        raw = req.environ["tangle.body"] = read_body(req, MAX_BODY)  # size checked while reading
    return raw


def _body(req: Request) -> dict:
    obj = parse_json(_raw_body(req))  # depth, encoding checked
    if not isinstance(obj, dict):
        _bad("body must be a JSON object")
    return obj


def _hex_bytes(v, what: str) -> bytes:
    if not isinstance(v, str):
        _bad(f"{what} must be a hex string")
    try:
        return bytes.fromhex(v)
    except ValueError:
        _bad(f"{what} is not valid hex")


def _int_arg(req: Request, name: str, default: int, lo: int = 0, hi: int = 2**62) -> int:
    raw = req.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        _bad(f"{name} must be an integer")
    if not lo <= v <= hi:
        _bad(f"{name} must be in {lo}..{hi}")
    return v


def _sender(addr: str | None) -> str:
    """Who an API submission comes from, for its proof-of-work rate: the IPv4 address, or the /64."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return addr or "?"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _is_loopback(addr: str | None) -> bool:
    try:
        return ipaddress.ip_address(addr or "").is_loopback
    except ValueError:
        return False


def _tx_id(tx_id: str) -> str:
    if not _is_addr(tx_id):
        _bad("transaction id must be 64 lowercase hex characters")
    return tx_id


class App:
    def __init__(self, node: Node):
        self.node = node

    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            endpoint, values = _URLS.bind_to_environ(environ).match()
            resp = getattr(self, "on_" + endpoint)(req, **values)
        except (TangleRejected, BorderError) as exc:
            resp = _json({"error": exc.reason}, exc.status)
            if isinstance(exc, BorderError):  # the rest of a refused body is not read: no keep-alive
                resp.headers["Connection"] = "close"
        except HTTPException as exc:
            resp = _json({"error": exc.description or exc.name}, exc.code or 400)
        except Exception:  # never an HTML page: log it, answer JSON
            log.exception("tangle request failed")
            resp = _json({"error": "internal error"}, 500)
        return resp(environ, start_response)

    def on_submit(self, req):
        body = _body(req)
        res = self.node.ingest_many([_hex_bytes(body.get("tx"), "tx")], source="api", sender=_sender(req.remote_addr))
        if isinstance(res[0], TangleRejected):
            raise res[0]
        return _json({"id": res[0].hex_id}, 201)

    def on_submit_batch(self, req):
        body = _body(req)
        txs = body.get("txs")
        if not isinstance(txs, list) or not 1 <= len(txs) <= 1000:
            _bad("txs must be a list of 1..1000 hex strings")
        raws = [_hex_bytes(h, "tx") for h in txs]
        res = self.node.ingest_many(raws, source="api", sender=_sender(req.remote_addr))
        return _json({"results": [{"id": r.hex_id} if not isinstance(r, TangleRejected)
                                  else {"error": r.reason, "status": r.status} for r in res]}, 207)

    def on_get(self, req, tx_id):
        d = self.node.get(_tx_id(tx_id))
        if d is None:
            _bad("transaction not found", 404)
        return _json(d)

    def on_get_raw(self, req, tx_id):
        raw = self.node.get_raw(_tx_id(tx_id))
        if raw is None:
            _bad("transaction not found", 404)
        return _json({"tx": raw.hex()})

    def on_tips(self, req):
        return _json({"tips": self.node.select_tips(2)})

    def on_balance(self, req, address):
        if not _is_addr(address):
            _bad("address must be 64 lowercase hex characters")
        return _json({"address": address, "balance": self.node.balance(address)})

    def on_account(self, req, address):
        if not _is_addr(address):
            _bad("address must be 64 lowercase hex characters")
        return _json(self.node.account_info(address))

    def on_find(self, req):
        tag = req.args.get("tag") or None
        address = req.args.get("address") or None
        if address is not None and not _is_addr(address):
            _bad("address must be 64 lowercase hex characters")
        if tag is not None:
            check_text(tag, "tag", 256)  # NUL would be a 500 on PostgreSQL; no stored tag has one
        kind = req.args.get("kind") or None
        kinds = {"value": 1, "data": 2, "stream": 3, "milestone": 4}
        if kind is not None and kind not in kinds:
            _bad(f"kind must be one of {', '.join(kinds)}")
        items, cursor = self.node.find(tag, address, _int_arg(req, "since", 0, hi=INT32[1]),
                                       _int_arg(req, "limit", 500, 1, 1000), kinds.get(kind))
        return _json({"items": items, "cursor": cursor})

    def on_milestones(self, req):
        return _json({"milestones": self.node.milestone_list(_int_arg(req, "since", 0, hi=INT32[1]))})

    def on_info(self, req):
        return _json(self.node.info(_sender(req.remote_addr)))

    def on_status(self, req):
        n = self.node
        return _json({**n.status(), "latest_milestone": n.latest_milestone, "ledger_root": n.ledger_root.hex()})

    def _require_peer(self, req) -> str | None:
        """Gossip and peer registration come from the network's own nodes only; returns the
        peer's verified key ("key:<hex>") when it signed with an allow-listed one.

        With an allow-list: a signature by a listed key, or (while a network migrates) the
        shared secret if one is configured. Otherwise the shared secret, or loopback."""
        secret = self.node.config.peer_secret
        verifier = self.node.peer_verifier
        raw = _raw_body(req)
        if verifier is not None:
            if req.headers.get(peerauth.KEY_HEADER) or not secret:
                return "key:" + verifier.verify(req.headers, req.method, req.path, raw, now_ms())
        if secret:
            given = req.headers.get(PEER_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                _bad("peer authentication failed: this network's nodes share a peer secret", 401)
        elif not _is_loopback(req.remote_addr):
            _bad("peers on other hosts need an allow-listed peer key ($THINGBID_TANGLE_PEER_ALLOW) "
                 "or a shared peer secret ($THINGBID_TANGLE_PEER_SECRET)", 403)
        return None

    def on_peers(self, req):
        if req.method == "POST":
            self._require_peer(req)
            url = _body(req).get("url")
            if not isinstance(url, str):
                _bad("url must be a string")
            self.node.add_peer(url)
        return _json({"peers": sorted(self.node.peers)})

    def on_faucet(self, req):
        if not self.node.config.dev:
            _bad("faucet is only available on dev networks", 403)
        body = _body(req)
        return _json({"id": self.node.faucet(body.get("address"), body.get("amount"))}, 201)

    def on_gossip(self, req):
        key = self._require_peer(req)  # peer traffic skips the per-issuer rate limit: never open to anyone
        txs = _body(req).get("txs")
        if not isinstance(txs, list) or len(txs) > 5000:
            _bad("txs must be a list of at most 5000 hex strings")
        raws = [_hex_bytes(h, "tx") for h in txs]
        peer = key or f"{req.remote_addr} {req.headers.get(PEER_HEADER, '')[:200]}"
        res = self.node.ingest_many(raws, source="peer", peer=peer)
        return _json({"accepted": sum(1 for r in res if not isinstance(r, TangleRejected))})

    def on_snapshot(self, req):
        self._require_peer(req)  # the whole live window: for the network's own (new) nodes only
        return _json(self.node.snapshot())

    def on_sync(self, req):
        raws, cursor = self.node.sync_since(_int_arg(req, "since", 0, hi=INT32[1]), _int_arg(req, "limit", 500, 1, 1000))
        return _json({"txs": [r.hex() for r in raws], "cursor": cursor})


class NodeServer:
    """A node plus its threaded HTTP server; ``url`` once started."""

    def __init__(self, node: Node, host: str = "127.0.0.1", port: int = 0, background: bool = True):
        self.node = node
        self.background = background  # False: HTTP only, no gossip/sync/coordinator threads (fuzzing)
        self.httpd = make_server(host, port, App(node), threaded=True, request_handler=JsonErrorHandler)
        self.url = f"http://{host}:{self.httpd.server_port}"
        if node.config.self_url is None:
            node.config.self_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> NodeServer:
        if self.background:
            self.node.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tangle-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.node.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.node.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self.node.stop()
