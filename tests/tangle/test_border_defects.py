"""Regression tests for issue 13: hostile input at the node's HTTP border gets a 4xx, never a 5xx,
and a bad peer never stops gossip. Each runs on SQLite and on PostgreSQL (skipped when absent)."""

from __future__ import annotations

import json
import select
import socket
import time

import pytest
import sqlalchemy as sa

from exchange.tangle import store
from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.errors import TangleRejected
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet
from tests.tangle.helpers import faucet_wallet, transfer

POST_ROUTES = ["/v1/transactions", "/v1/transactions/batch", "/v1/peers", "/v1/faucet", "/v1/gossip"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'border.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def node(db_url, tmp_path):
    with run_node(tmp_path, db_url=db_url, run_coordinator=False, rate_per_s=0, difficulty=4) as (url, n):
        yield url, n


def _raw(url: str, data: bytes, timeout: float = 20) -> tuple[int, dict]:
    """Send raw bytes, half-close, read the whole answer; (status, JSON body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _post(url: str, path: str, body: bytes, extra: str = "") -> tuple[int, dict]:
    req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n").encode() + body
    return _raw(url, req)


def _snapshot(n):
    with n.engine.connect() as c:
        rows = c.execute(sa.select(sa.func.count()).select_from(store.TX)).scalar()
        peers = sorted(r[0] for r in c.execute(sa.select(store.PEER.c.url)))
    return rows, peers, n.count, sorted(n.peers)


@pytest.mark.parametrize("path", POST_ROUTES)
def test_deeply_nested_json_gets_400_not_recursion_error(node, path):
    url, n = node
    before = _snapshot(n)
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        status, resp = _post(url, path, body)
        assert status == 400, (status, resp)
        assert "JSON" in resp["error"]
    assert _snapshot(n) == before


@pytest.mark.parametrize("chunks", [
    b"zz\r\nab\r\n0\r\n\r\n",  # chunk size not hex
    b"-5\r\nabcde\r\n0\r\n\r\n",  # negative size
    b"5\r\nab",  # truncated chunk (client stops)
    b"",  # no chunk at all
])
def test_malformed_chunked_body_gets_400_not_oserror(node, chunks):
    url, n = node
    before = _snapshot(n)
    req = (b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks)
    status, resp = _raw(url, req)
    assert status == 400, (status, resp)
    assert resp["error"]
    assert _snapshot(n) == before


def test_oversized_chunked_body_is_refused_while_reading_not_after(node):
    """64 MiB chunked: the 413 must arrive long before the client has sent it all."""
    url, n = node
    host, port = url.removeprefix("http://").split(":")
    chunk = b"%x\r\n" % 65536 + b"0" * 65536 + b"\r\n"
    total = 64 * 1024 * 1024
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n")
        answered = False
        try:
            while sent < total:
                s.sendall(chunk)
                sent += 65536
                if select.select([s], [], [], 0)[0]:
                    answered = True
                    break
            if not answered:
                s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            answered = True
        try:
            s.shutdown(socket.SHUT_WR)  # a client that stops sending says so
        except OSError:
            pass
        buf = b""
        try:
            while part := s.recv(65536):
                buf += part
        except ConnectionResetError:
            pass
    assert buf.startswith(b"HTTP/1.1 413"), buf[:200]
    assert sent < 16 * 1024 * 1024, f"the server read {sent >> 20} MiB before answering 413"


def test_sequence_beyond_the_storage_range_is_refused_and_the_rest_of_the_batch_kept(node):
    url, n = node
    c = TangleClient(url)
    f = faucet_wallet()
    x = Wallet.from_seed(b"overflow")
    first = transfer(n, f, x.address, 5)
    n.ingest(first)
    big = txm.build(x._key, txm.VALUE, txm.value_payload(f.address, 1, 2**63), n.select_tips(2),
                    network=1, difficulty=n.config.difficulty)
    fresh = Wallet.from_seed(b"overflow-2")
    data = txm.build(fresh._key, txm.DATA, txm.data_payload("kept", b"1"), n.select_tips(2),
                     network=1, difficulty=n.config.difficulty)
    res = c.submit_batch([big, data])
    assert "error" in res[0] and "sequence" in res[0]["error"], res
    assert 400 <= res[0]["status"] < 500
    assert res[1]["id"] == txm.blake(data).hex()
    assert c.get(res[1]["id"])["payload"]["tag"] == "kept"
    with pytest.raises(TangleRejected, match="sequence"):
        c.submit(big)


BAD_PEER_URLS = ["http://bad host:9000", "http://host:99999", "http://host:abc", "http://:9000",
                 "http://user@host:9000", "http://host:9000/path", "http://host:9000?q=1", "http://ho\x00st:1",
                 "http://host\t:9000", "http://ho\nst:9000", "http://[::1:9000", "https://", "http://h\u00e9:1"]


@pytest.mark.parametrize("bad", BAD_PEER_URLS)
def test_peer_url_that_urllib_cannot_use_is_refused_on_input(node, bad):
    url, n = node
    before = _snapshot(n)
    status, resp = _post(url, "/v1/peers", json.dumps({"url": bad}).encode())
    assert status == 400, (status, resp)
    assert "peer url" in resp["error"]
    assert _snapshot(n) == before


def test_stored_bad_peer_url_is_dropped_at_start_and_gossip_reaches_the_good_peer(db_url, tmp_path):
    with run_node(tmp_path / "b", run_coordinator=False, rate_per_s=0, difficulty=4) as (b_url, b):
        with run_node(tmp_path / "a", db_url=db_url, run_coordinator=False, rate_per_s=0,
                      difficulty=4) as (_, a0):
            a0.engine.dispose()
            with a0.engine.begin() as conn:  # as an old node version stored it
                conn.execute(store.PEER.insert(), [{"url": "http://bad host:9000", "cursor": 0}])
        with run_node(tmp_path / "a", db_url=db_url, run_coordinator=False, rate_per_s=0, difficulty=4,
                      peers=[b_url], sync_interval=3600) as (_, a):
            assert sorted(a.peers) == [b_url]
            raw = txm.build(Wallet.from_seed(b"g")._key, txm.DATA, txm.data_payload("g", b""),
                            a.select_tips(2), network=1, difficulty=4)
            a.ingest(raw)
            deadline = time.monotonic() + 10
            while txm.blake(raw) not in b.graph and time.monotonic() < deadline:
                time.sleep(0.05)
            assert txm.blake(raw) in b.graph


def test_nul_or_control_character_in_tag_query_gets_400(node):
    url, n = node
    for q in ("/v1/find?tag=a%00b", "/v1/find?tag=%01", "/v1/find?address=" + "0" * 63 + "%00"):
        status, resp = _raw(url, f"GET {q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert status == 400, (q, status, resp)
        assert resp["error"]


def test_well_formed_chunked_body_in_several_chunks_is_accepted(node):
    url, n = node
    raw = txm.build(Wallet.from_seed(b"chunks")._key, txm.DATA, txm.data_payload("ck", b"x" * 300),
                    n.select_tips(2), network=1, difficulty=4)
    body = json.dumps({"tx": raw.hex()}).encode()
    parts = [body[i:i + 100] for i in range(0, len(body), 100)]
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-Trailer: 1\r\n\r\n"
    status, resp = _raw(url, b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n" + chunked)
    assert (status, resp) == (201, {"id": txm.blake(raw).hex()})


def test_the_same_peer_posted_concurrently_is_stored_once_without_error(node):
    import threading

    url, n = node
    answers = []

    def post():
        answers.append(_post(url, "/v1/peers", b'{"url": "http://127.0.0.1:9"}')[0])

    threads = [threading.Thread(target=post) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert answers == [200] * 16
    assert _snapshot(n)[1] == ["http://127.0.0.1:9"]


@pytest.mark.parametrize("path", ["/v1/milestones?since={}", "/v1/sync?since={}&limit=10",
                                  "/v1/find?kind=data&since={}"])
@pytest.mark.parametrize("since", [2**31, 2**53 + 1, 2**62])
def test_a_cursor_beyond_the_32_bit_arrival_and_milestone_columns_gets_400(node, path, since):
    """``since`` was accepted up to 2**62; on PostgreSQL those columns are INTEGER: 500 (out of range)."""
    url, n = node
    before = _snapshot(n)
    status, resp = _raw(url, f"GET {path.format(since)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status == 400, (status, resp)
    assert "since" in resp["error"]
    assert _snapshot(n) == before
