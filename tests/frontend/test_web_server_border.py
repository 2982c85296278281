"""The web app's HTTP server (``python -m frontend.serve``) at its border: protocol errors (issue 13).

werkzeug's own handler answered an unknown HTTP version with 505 (a 5xx for what the client
sent), a bad request line with no status line at all (HTTP/0.9) and oversized headers with an
HTML page; the web server uses the project's JSON error handler like every other server."""

from __future__ import annotations

import json
import threading

import pytest

from exchange.fuzz import Req, send
from frontend import create_app
from frontend.serve import make_web_server
from frontend.services import Services


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-border")
    services = Services(None, None, f"sqlite:///{tmp / 'catalog.db'}", "http://127.0.0.1:9", tmp / "keystores")
    srv = make_web_server(create_app({"THINGBID_SERVICES": services}), "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_port
    finally:
        srv.shutdown()
        srv.server_close()


MALFORMED_REQUESTS = [  # shared with the served (gunicorn) app's test, test_served_border.py
    pytest.param(b"GET /catalog/ HTTP/9.9\r\nHost: x\r\n\r\n", id="unknown-http-version-was-505"),
    pytest.param(b"\xef81_vX\x1f\x1f\xd9d", id="garbage-taken-for-http-0.9-no-status-line"),
    pytest.param(b"\xef81_vX\x1f\x1f\xd9d\r\n\r\n", id="garbage-request-line"),
    pytest.param(b"GET /catalog/ HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="extra-word-in-request-line"),
    pytest.param(b"GET /catalog/?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line-too-long"),
    pytest.param(b"GET /catalog/ HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
                 id="too-many-headers"),
]


def answers_json_4xx(port: int, raw: bytes) -> None:
    resp = send("127.0.0.1", port, Req("RAW", "", raw=raw))
    assert resp.status is not None, f"no status line: {resp.error} {resp.body[:200]!r}"
    assert 400 <= resp.status < 500, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"], resp.body[:200]


@pytest.mark.parametrize("raw", MALFORMED_REQUESTS)
def test_the_web_server_answers_a_malformed_request_with_a_json_4xx(web, raw):
    answers_json_4xx(web, raw)
