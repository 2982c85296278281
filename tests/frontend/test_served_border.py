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


@pytest.mark.parametrize("raw", [
    pytest.param(b"GET /catalog/ HTTP/9.9\r\nHost: x\r\n\r\n", id="unknown-http-version"),
    pytest.param(b"\xef81_vX\x1f\x1f\xd9d\r\n\r\n", id="garbage-request-line"),
    pytest.param(b"GET /catalog/ HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="extra-word-in-request-line"),
    pytest.param(b"GET /catalog/?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line-too-long"),
    pytest.param(b"GET /catalog/ HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
                 id="too-many-headers"),
    pytest.param(b"GET /catalog/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", id="header-without-colon"),
    pytest.param(b"POST /account/signin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                 id="unsupported-transfer-encoding-was-501"),
])
def test_the_served_app_answers_a_malformed_request_with_a_json_4xx(served, raw):
    resp = send("127.0.0.1", served, Req("RAW", "", raw=raw))
    assert resp.status is not None, f"no status line: {resp.error} {resp.body[:200]!r}"
    assert 400 <= resp.status < 500, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"], resp.body[:200]


def test_a_broken_body_the_app_did_not_read_gets_one_answer_not_two(served):
    """The app answers (CSRF refused) without reading the chunked body; gunicorn then drained it,
    found it broken and wrote a second answer behind the first on the same connection."""
    raw = b"POST /siwe/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    resp = send("127.0.0.1", served, Req("RAW", "", raw=raw))
    assert resp.status == 400 and json.loads(resp.body)["error"], resp.body[:300]
