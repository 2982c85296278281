"""Serve an in-process eth-tester chain over HTTP JSON-RPC (``thingbid up --chain embedded``).

The services of ``thingbid up`` are separate processes; this lets them all use one
eth-tester chain. Calls are serialised (eth-tester is not thread-safe). ``evm_increaseTime``
and ``evm_mine`` are mapped onto eth-tester's time travel so demos can move time like on anvil.
"""

from __future__ import annotations

import json
import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from exchange.chain.connect import Chain


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # one line per RPC call would drown the console
        pass


class EmbeddedRpcServer:
    def __init__(self, chain: Chain, host: str = "127.0.0.1", port: int = 0):
        if chain.kind != "embedded":
            raise ValueError("only an embedded chain can be served")
        self.chain = chain
        from web3.middleware import combine_middleware

        provider = chain.w3.provider
        # Only the provider's own middleware (hex <-> int for eth-tester), not web3's result
        # formatters: answers must stay in JSON-RPC wire format.
        self._request = combine_middleware(middleware=tuple(provider._middleware), w3=chain.w3,
                                           provider_request_fn=provider.make_request)
        self._lock = threading.Lock()
        self._server = make_server(host, port, self._app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-rpc", daemon=True)

    def _call(self, req: dict) -> dict:
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        with self._lock:
            if method == "evm_increaseTime":
                ts = self.chain.w3.eth.get_block("latest")["timestamp"]
                self.chain.tester.time_travel(ts + int(params[0], 16) if isinstance(params[0], str) else ts + int(params[0]))
                return {"jsonrpc": "2.0", "id": rid, "result": hex(int(params[0], 0) if isinstance(params[0], str) else params[0])}
            if method == "evm_mine":
                self.chain.tester.mine_blocks(1)
                return {"jsonrpc": "2.0", "id": rid, "result": "0x0"}
            try:
                resp = self._request(method, params)
            except Exception as exc:  # noqa: BLE001 - answered as a JSON-RPC error, like a node would
                data = getattr(exc, "data", None)
                err = {"code": 3 if data else -32000, "message": f"execution reverted: {exc}"}
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
        out.update({k: v for k, v in resp.items() if k in ("result", "error")})
        return out

    def _app(self, environ, start_response):
        request = Request(environ)
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return Response(json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}),
                            400, content_type="application/json")(environ, start_response)
        result = [self._call(r) for r in body] if isinstance(body, list) else self._call(body)
        text = json.dumps(result, default=_jsonable)
        return Response(text, content_type="application/json")(environ, start_response)

    def start(self) -> EmbeddedRpcServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()


def _jsonable(v):
    if isinstance(v, bytes | bytearray):
        return "0x" + bytes(v).hex()
    if hasattr(v, "hex"):
        return v.hex() if str(v.hex()).startswith("0x") else "0x" + v.hex()
    if isinstance(v, dict | list):
        return v
    return str(v)
