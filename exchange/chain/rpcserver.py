"""Serve an in-process eth-tester chain over HTTP JSON-RPC (``thingbid up --chain embedded``).

The services of ``thingbid up`` are separate processes; this lets them all use one
eth-tester chain. Calls are serialised (eth-tester is not thread-safe). ``evm_increaseTime``
and ``evm_mine`` are mapped onto eth-tester's time travel so demos can move time like on anvil.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from web3.middleware import combine_middleware
from web3.providers.eth_tester.middleware import (
    default_transaction_fields_middleware,
    ethereum_tester_middleware,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from exchange.border import BorderError, JsonErrorHandler, parse_json, read_body
from exchange.chain.connect import Chain

log = logging.getLogger(__name__)


MAX_BODY = 8 * 1024 * 1024
MAX_BATCH = 100
MAX_TIME_JUMP = 100 * 365 * 24 * 3600


def _err(rid, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


def _seconds(v) -> int | None:
    """evm_increaseTime's argument: an int or a hex/decimal string of 0..MAX_TIME_JUMP seconds."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str) and len(v) <= 20:
        try:
            v = int(v, 0)
        except ValueError:
            return None
    return v if isinstance(v, int) and 0 <= v <= MAX_TIME_JUMP else None


class EmbeddedRpcServer:
    """Bad requests get JSON-RPC errors (a body that is not JSON: HTTP 400; a bad call: an
    ``error`` member), never a 5xx; bodies are size-checked while read (``MAX_BODY``)."""

    def __init__(self, chain: Chain, host: str = "127.0.0.1", port: int = 0, block_seconds: float | None = None):
        if chain.kind != "embedded":
            raise ValueError("only an embedded chain can be served")
        self.chain = chain
        provider = chain.w3.provider
        # Only eth-tester's own middleware (hex <-> int, default tx fields), named from its public
        # module rather than read from the provider's private attribute, and not web3's result
        # formatters: answers must stay in JSON-RPC wire format.
        self._request = combine_middleware(
            middleware=(default_transaction_fields_middleware, ethereum_tester_middleware), w3=chain.w3,
            provider_request_fn=provider.make_request)
        self.lock = threading.Lock()  # eth-tester is not thread-safe: one call at a time
        self._server = make_server(host, port, self._app, threaded=True, request_handler=JsonErrorHandler)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-rpc", daemon=True)
        # eth-tester mines only on transactions; with ``block_seconds`` an empty block is mined
        # whenever the chain has been idle that long, so chain time follows wall time.
        self.block_seconds = block_seconds
        self._stop_mining = threading.Event()
        self._miner = threading.Thread(target=self._mine_when_idle, name="embedded-miner", daemon=True)

    def _mine_when_idle(self) -> None:
        seen, since = -1, time.monotonic()
        while not self._stop_mining.wait(self.block_seconds / 4):
            with self.lock:
                head = self.chain.w3.eth.block_number
                if head != seen:
                    seen, since = head, time.monotonic()
                elif time.monotonic() - since >= self.block_seconds:
                    self.chain.tester.mine_blocks(1)

    def _call(self, req) -> dict:
        if not isinstance(req, dict):
            return _err(None, -32600, "invalid request: a call must be a JSON object")
        rid = req.get("id")
        if not (rid is None or isinstance(rid, str | int) and not isinstance(rid, bool)):
            return _err(None, -32600, "invalid request: id must be a string, a number or null")
        method, params = req.get("method"), req.get("params", [])
        if params is None:
            params = []
        if not isinstance(method, str) or not 0 < len(method) <= 64 or not method.isascii() \
                or not method.replace("_", "").isalnum():
            return _err(rid, -32600, "invalid request: method must be a name like eth_blockNumber")
        if not isinstance(params, list | dict):
            return _err(rid, -32602, "invalid params: params must be a list")
        with self.lock:
            if method == "evm_increaseTime":
                secs = _seconds(params[0]) if isinstance(params, list) and len(params) == 1 else None
                if secs is None:
                    return _err(rid, -32602, f"invalid params: evm_increaseTime takes one 0..{MAX_TIME_JUMP} seconds")
                ts = self.chain.w3.eth.get_block("latest")["timestamp"]
                self.chain.tester.time_travel(ts + secs)
                return {"jsonrpc": "2.0", "id": rid, "result": hex(secs)}
            if method == "evm_mine":
                self.chain.tester.mine_blocks(1)
                return {"jsonrpc": "2.0", "id": rid, "result": "0x0"}
            try:
                resp = self._request(method, params)
            except Exception as exc:  # noqa: BLE001 - answered as a JSON-RPC error, like a node would
                data = getattr(exc, "data", None)
                err = {"code": 3 if data else -32000, "message": f"execution reverted: {exc}"[:2000]}
                if isinstance(data, str):
                    err["data"] = data
                elif exc.args and isinstance(exc.args[0], bytes):
                    err["data"] = "0x" + exc.args[0].hex()
                else:
                    from exchange.chain.reverts import revert_data

                    raw = revert_data(exc)
                    if raw:
                        err["data"] = "0x" + raw.hex()
                return {"jsonrpc": "2.0", "id": rid, "error": err}
        out = {"jsonrpc": "2.0", "id": rid}
        if not isinstance(resp, dict):
            return _err(rid, -32603, "internal error: no answer")
        if "error" in resp:
            e = resp["error"]
            out["error"] = e if isinstance(e, dict) else {"code": -32601, "message": str(e)[:2000]}
        else:
            out["result"] = _wire(resp.get("result"))
        return out

    def _answer(self, request: Request) -> tuple[object, int]:
        if request.method != "POST":
            return _err(None, -32600, "JSON-RPC takes POST"), 405
        try:
            body = parse_json(read_body(request, MAX_BODY))
        except BorderError as exc:
            return _err(None, -32700 if exc.status == 400 else -32600, exc.reason), exc.status
        if isinstance(body, list):
            if not 1 <= len(body) <= MAX_BATCH:
                return _err(None, -32600, f"invalid request: a batch has 1..{MAX_BATCH} calls"), 400
            return [self._call(r) for r in body], 200
        return self._call(body), 200

    def _app(self, environ, start_response):
        request = Request(environ)
        try:
            result, status = self._answer(request)
            text = json.dumps(result, default=_jsonable)
        except Exception:  # a fault of this server, never of the request: logged, JSON, 500
            log.exception("embedded JSON-RPC call failed")
            text, status = json.dumps(_err(None, -32603, "internal error")), 500
        resp = Response(text, status, content_type="application/json")
        if status >= 400:
            resp.headers["Connection"] = "close"
        return resp(environ, start_response)

    def start(self) -> EmbeddedRpcServer:
        self._thread.start()
        if self.block_seconds:
            self._miner.start()
        return self

    def stop(self) -> None:
        self._stop_mining.set()
        self._server.shutdown()
        self._server.server_close()


# Fixed-size data that eth-tester hands over as an integer (bytes on the wire).
_DATA_BYTES = {"logsBloom": 256}


def _wire(v, key: str | None = None):
    """A result in JSON-RPC wire format: eth-tester's middleware answers quantities as Python
    ints, which strict clients (viem in the browser wallet) refuse; on the wire every quantity is a
    0x-prefixed hex string, fixed-size data zero-padded."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        size = _DATA_BYTES.get(key)
        return "0x" + v.to_bytes(size, "big").hex() if size else hex(v)
    if isinstance(v, dict):
        return {k: _wire(x, k) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_wire(x) for x in v]
    return v


def _jsonable(v):
    if isinstance(v, bytes | bytearray):
        return "0x" + bytes(v).hex()
    if hasattr(v, "hex"):
        return v.hex() if str(v.hex()).startswith("0x") else "0x" + v.hex()
    if isinstance(v, dict | list):
        return v
    return str(v)
