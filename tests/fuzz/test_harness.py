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
        key = req.headers.get("X-Key")
        if self.flaw == "500 on a mangled key" and key is not None and key != "k":
            return Response('{"error": "boom"}', 500)(environ, start_response)
        if self.flaw in ("500 on a mangled key", "refuses with 403 on a missing key") and key != "k":
            return Response('{"error": "key"}', 403, mimetype="application/json")(environ, start_response)
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
        def item(rng, *headers):
            return Req("POST", "/items", (("Content-Type", "application/json"), *headers),
                       json.dumps({"name": f"n{rng.randint(0, 99)}"}).encode())

        if self.flaw in ("500 on a mangled key", "accepts a missing key", "refuses with 403 on a missing key"):
            # the key is a header: mutations reach it; a request without it must be refused
            route = Route("POST", "/items", lambda rng: item(rng, ("X-Key", "k")), refused=item)
        else:
            route = Route("POST", "/items", item)
        return Target(f"flawed-{self.flaw}", "127.0.0.1", self.httpd.server_port, [route],
                      lambda: len(self.items), max_body=4096)


@pytest.mark.parametrize(("flaw", "message"), [
    ("500 on deep JSON", "answered 500"),
    ("drops on NUL", "no HTTP answer"),
    ("html 400", "not JSON"),
    ("changes state when refusing", "state changed"),
    ("500 on a mangled key", "answered 500"),
    ("accepts a missing key", "must be refused was answered 201"),
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


def test_harness_passes_a_server_that_refuses_requests_without_the_key():
    srv = _Flawed("refuses with 403 on a missing key")
    try:
        stats = run(srv.target(), 1500, seed=99)
        assert stats.kinds["refused"] > 0 and stats.status_5xx == 0
    finally:
        srv.httpd.shutdown()


def test_a_target_that_accepts_redirects_takes_a_303_answer_to_a_valid_request():
    srv = _Flawed("none")
    target = srv.target()
    target.accepted = lambda resp: resp.status == 303
    try:
        with pytest.raises(FuzzFailure, match="a valid request was refused \\(201\\)"):
            run(target, 500, seed=5)
    finally:
        srv.httpd.shutdown()
