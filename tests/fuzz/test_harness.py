"""The harness itself: it catches each kind of broken server, and its failure message carries the seed."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from exchange.border import BorderError, JsonErrorHandler, parse_json, read_body
from exchange.fuzz import FuzzFailure, Req, Route, Target, run
from exchange.fuzz.wire import send


class _Flawed:
    """A tiny JSON server with one chosen flaw."""

    def __init__(self, flaw: str):
        self.flaw = flaw
        self.items: list = []
        self.httpd = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=JsonErrorHandler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        req = Request(environ)
        try:
            data = read_body(req, 4096)
        except BorderError as exc:
            return Response(json.dumps({"error": exc.reason}), exc.status, mimetype="application/json")(
                environ, start_response)
        if self.flaw == "500 on deep JSON" and data.startswith(b"[[[[[[[["):
            return Response('{"error": "boom"}', 500)(environ, start_response)
        if self.flaw == "drops on NUL" and (b"\\u0000" in data or "\x00" in req.full_path):
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # hang up without an answer
            return Response("", 200)(environ, start_response)
        try:
            obj = parse_json(data)
        except BorderError:
            if self.flaw == "html 400":
                return Response("<h1>bad</h1>", 400)(environ, start_response)
            if self.flaw == "changes state when refusing":
                self.items.append(data)
            return Response('{"error": "not JSON"}', 400, mimetype="application/json")(environ, start_response)
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return Response('{"error": "name must be a string"}', 400, mimetype="application/json")(
                environ, start_response)
        self.items.append(obj["name"])
        return Response('{"ok": true}', 201, mimetype="application/json")(environ, start_response)

    def target(self) -> Target:
        route = Route("POST", "/items", lambda rng: Req("POST", "/items", (("Content-Type", "application/json"),),
                                                        json.dumps({"name": f"n{rng.randint(0, 99)}"}).encode()))
        return Target(f"flawed-{self.flaw}", "127.0.0.1", self.httpd.server_port, [route],
                      lambda: len(self.items), max_body=4096)


@pytest.mark.parametrize(("flaw", "message"), [
    ("500 on deep JSON", "answered 500"),
    ("drops on NUL", "no HTTP answer"),
    ("html 400", "not JSON"),
    ("changes state when refusing", "state changed"),
])
def test_harness_catches_a_flawed_server_and_names_the_seed(flaw, message):
    srv = _Flawed(flaw)
    try:
        with pytest.raises(FuzzFailure, match=message) as exc:
            run(srv.target(), 3000, seed=1234)
        assert "[seed 1234]" in str(exc.value) and "THINGBID_FUZZ_SEED=1234" in str(exc.value)
    finally:
        srv.httpd.shutdown()


def test_protocol_errors_of_the_shared_handler_are_json_4xx_with_a_status_line():
    srv = _Flawed("none")
    try:
        for raw in (b"GET / HTTP/9.9\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n", b"NONSENSE\r\n\r\n",
                    b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n"):
            resp = send("127.0.0.1", srv.httpd.server_port, Req("RAW", "", raw=raw))
            assert resp.status is not None and 400 <= resp.status < 500, (raw[:40], resp)
            assert json.loads(resp.body)["error"]
    finally:
        srv.httpd.shutdown()
