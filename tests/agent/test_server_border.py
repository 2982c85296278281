"""The WoT server at its network border: what the fuzz suite found, one regression test each (issue 13).

Each request is sent over a raw socket to the real server ``device-agent run`` starts
(``AgentRunner.serve``); the answer must be an HTTP status line below 500 with a JSON reason,
and nothing the agent keeps may change.
"""

from __future__ import annotations

import json

import pytest

from device_agent.fuzz_target import DATA_DIR, wot_server
from exchange.fuzz import Req, send


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("wot-border")


@pytest.fixture(scope="module")
def served(workdir):
    with wot_server(workdir) as target:
        yield target


def _raw(target, data: bytes):
    return send(target.host, target.port, Req("RAW", "", raw=data))


@pytest.mark.parametrize("raw", [
    pytest.param(b"FOO /events/doorOpened HTTP/9.9\r\nHost: x\r\n\r\n", id="unknown-http-version-was-505"),
    pytest.param(b"\xef81_vX\x1f\x1f\xd9d\xe3\x12\x06", id="garbage-taken-for-http-0.9-no-status-line"),
    pytest.param(b"OPTIONS /properties HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="extra-word-in-request-line"),
    pytest.param(b"get /.well-known/wot http/1.1\r\nHost: x\r\n\r\n", id="lower-case-version"),
    pytest.param(b"P0ST /properties HTTP/1.1.1\r\nHost: x\r\n\r\n", id="version-with-three-parts"),
    pytest.param(b"GET /properties?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="request-line-too-long-414"),
    pytest.param(b"GET /properties HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", id="header-too-long"),
    pytest.param(b"GET /properties HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
                 id="too-many-headers"),
])
def test_wot_server_answers_a_malformed_request_with_a_json_4xx_and_changes_nothing(served, raw):
    before = served.digest()
    resp = _raw(served, raw)
    assert resp.status is not None, f"no status line: {resp.error} {resp.body[:200]!r}"
    assert 400 <= resp.status < 500, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"], resp.body[:200]
    assert served.digest() == before


def test_the_served_td_is_built_once_yet_follows_a_config_or_url_change(make_agent):
    from dataclasses import replace

    agent = make_agent(tags=["kitchen"])
    first = agent.td()
    first["title"] = "changed by a caller"  # a copy: the next answer is not affected
    assert agent.td()["title"] != "changed by a caller"
    agent.save_config(replace(agent.config, tags=["garage"]))
    assert agent.td()["tags"] == ["garage"]
    agent.set_base_url("http://127.0.0.1:4567")
    assert agent.td()["base"] == "http://127.0.0.1:4567/"


def test_a_key_revoked_through_another_connection_is_refused_at_once(served, workdir):
    """The server answers revocations from memory until the database changes (data_version)."""
    import random
    import sqlite3

    from device_agent.state import STATE_FILE

    state_db = workdir / DATA_DIR / STATE_FILE
    req = next(r for r in served.routes if r.path == "/properties").valid(random.Random(0))
    assert send(served.host, served.port, req).status == 200
    token_ids = [row[0] for row in sqlite3.connect(state_db).execute(
        "SELECT token_id FROM agent_token WHERE auction_id = 1")]
    with sqlite3.connect(state_db) as db:  # what `device-agent revoke` does, elsewhere
        db.execute("UPDATE agent_token SET revoked = 1 WHERE token_id = ?", token_ids)
    try:
        resp = send(served.host, served.port, req)
        assert resp.status == 403 and json.loads(resp.body)["error"] == "revoked", resp.body
    finally:
        with sqlite3.connect(state_db) as db:
            db.execute("UPDATE agent_token SET revoked = 0 WHERE token_id = ?", token_ids)


@pytest.mark.parametrize("path", ["/properties", "/actions/history"])
@pytest.mark.parametrize("body", [b"[" * 2040 + b"]" * 2040, b'{"property":' + b"[" * 2000 + b"]" * 2000 + b"}"],
                         ids=["array-2040-deep", "arrays-2000-deep-in-an-object"])
def test_json_nested_deeper_than_the_recursion_limit_within_4_kib_gets_400_not_500(served, path, body):
    """request.get_json raised RecursionError out of the view: 500 internal_error."""
    import random

    auth = next(r for r in served.routes if r.path == path and r.method == "POST").valid(random.Random(1)).headers
    before = served.digest()
    resp = send(served.host, served.port, Req("POST", path, auth, body))
    assert resp.status == 400, (resp.status, resp.body[:200])
    assert "JSON" in json.loads(resp.body)["detail"]
    assert served.digest() == before


@pytest.mark.parametrize("chunks", [b"-5\r\n{}\r\n0\r\n\r\n", b"zz\r\nab\r\n0\r\n\r\n", b"5\r\nab"],
                         ids=["negative-size", "size-not-hex", "cut-short"])
def test_a_sealed_request_with_a_malformed_chunked_body_gets_a_json_400(served, chunks):
    """request.get_data() raised werkzeug's BadRequest: an HTML 400 page."""
    before = served.digest()
    resp = _raw(served, b"POST /sealed HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.thingbid.sealed\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert resp.status == 400, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"], resp.body[:200]
    assert served.digest() == before


def _device_public(workdir) -> tuple[bytes, str]:
    from device_agent.fuzz_target import PASSWORD
    from device_agent.identity import load_identity

    ident = load_identity(workdir / DATA_DIR, PASSWORD)
    return ident.x25519_public, ident.device_id_hex


@pytest.mark.parametrize("inner", [b"[" * 1500 + b"]" * 1500, b'{"m":' + b"[" * 1500 + b"]" * 1500 + b"}"],
                         ids=["array", "in-an-object"])
def test_a_sealed_request_whose_plaintext_nests_past_the_recursion_limit_gets_400(served, workdir, inner):
    """Anyone can seal to the device's public key (it is in the registry): json.loads of the opened
    box raised RecursionError, which open_request did not catch: 500 internal_error."""
    from exchange.crypto import seal
    from exchange.relay.e2e import _REQUEST_CONTEXT

    public, device = _device_public(workdir)
    box = seal(public, inner, _REQUEST_CONTEXT + bytes.fromhex(device))
    before = served.digest()
    resp = send(served.host, served.port, Req("POST", "/sealed",
                                              (("Content-Type", "application/vnd.thingbid.sealed"),), box))
    assert resp.status == 400, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"] == "bad_sealed_request"
    assert served.digest() == before


@pytest.mark.parametrize(("method", "target", "headers"), [
    ("GET", "/properties", {"Authorization": "\r\n"}),
    ("GET", "/properties", {"X-Thing": "a\nb"}),
    ("GET", "/properties", {"X-Thing": "a\x00b"}),
    ("GET", "/properties", {"X\r\nInjected": "1"}),
    ("GET", "/properties?names=\ud800", {}),
    ("GET", "/properties/\u00e9 x", {}),
    ("G\nET", "/properties", {}),
], ids=["crlf-value", "lf-value", "nul-value", "crlf-name", "lone-surrogate-target", "non-ascii-target",
        "newline-method"])
def test_a_sealed_request_whose_inner_request_could_not_go_on_the_wire_gets_400(served, workdir, method, target,
                                                                               headers):
    """The inner request went to the app's test client as it was: a newline in a header raised
    ValueError, a lone surrogate in the target UnicodeEncodeError: 500 internal_error."""
    from exchange.relay.e2e import SEALED_TYPE, seal_request

    public, device = _device_public(workdir)
    box, _ = seal_request(public, device, method, target, headers)
    before = served.digest()
    resp = send(served.host, served.port, Req("POST", "/sealed", (("Content-Type", SEALED_TYPE),), box))
    assert resp.status == 400, (resp.status, resp.body[:200])
    assert json.loads(resp.body)["error"] == "bad_sealed_request"
    assert served.digest() == before
