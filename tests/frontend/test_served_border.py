"""The served web app (``python -m frontend.serve``, gunicorn with two workers) at its border: a
malformed request gets a JSON 4xx like every server of the project (issue 13). gunicorn's own
answers were HTML pages, and an unsupported Transfer-Encoding a 501."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from exchange.config import REPO_ROOT
from exchange.fuzz import Req, send
from tests.frontend.test_web_server_border import MALFORMED_REQUESTS, answers_json_4xx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served-border")
    port = _free_port()
    env = {**os.environ, "THINGBID_RPC_URL": "http://127.0.0.1:9", "THINGBID_DEPLOYMENTS_DIR": str(tmp / "none"),
           "THINGBID_DATABASE_URL": f"sqlite:///{tmp / 'catalog.db'}", "THINGBID_STATE_DIR": str(tmp / "state"),
           "THINGBID_TANGLE_URL": "http://127.0.0.1:9"}
    proc = subprocess.Popen([sys.executable, "-m", "frontend.serve", "--port", str(port), "--workers", "2"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the served app did not listen within 60 s"
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


# gunicorn is stricter than werkzeug here (werkzeug takes a header line without a colon and a gzip
# Transfer-Encoding, not a 5xx either); a request line the client half-closes before its end gets no
# answer from gunicorn (the client left), so that one case is werkzeug's only.
SERVED_REQUESTS = [p for p in MALFORMED_REQUESTS if p.id != "garbage-taken-for-http-0.9-no-status-line"] + [
    pytest.param(b"GET /catalog/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", id="header-without-colon"),
    pytest.param(b"POST /account/signin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                 id="unsupported-transfer-encoding-was-501"),
]


@pytest.mark.parametrize("raw", SERVED_REQUESTS)
def test_the_served_app_answers_a_malformed_request_with_a_json_4xx(served, raw):
    answers_json_4xx(served, raw)


def test_a_broken_body_the_app_did_not_read_gets_one_answer_not_two(served):
    """The app answers (CSRF refused) without reading the chunked body; gunicorn then drained it,
    found it broken and wrote a second answer behind the first on the same connection."""
    raw = b"POST /siwe/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    resp = send("127.0.0.1", served, Req("RAW", "", raw=raw))
    assert resp.status == 400 and json.loads(resp.body)["error"], resp.body[:300]
