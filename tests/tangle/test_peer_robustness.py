"""Background work survives bad peers (issue 13): gossip and sync go on past a peer that answers
garbage, a failing peer is backed off and then dropped, and transactions from peers that wait
for unknown parents are capped, rate-limited per peer and expire."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import sqlalchemy as sa

from exchange.tangle import store
from exchange.tangle import tx as txm
from exchange.tangle.errors import TangleRejected
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.testing import free_port, run_node
from exchange.tangle.wallet import Wallet


class GarbagePeer:
    """A 'peer' that answers every request with ``answer`` (raw bytes), then hangs up."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer)
                    self.hits += 1
                except OSError:
                    pass

    def close(self):
        self.sock.close()


GARBAGE = {
    "not HTTP": b"hello there\r\n\r\n",
    "HTTP 500": b"HTTP/1.0 500 Oops\r\nContent-Length: 2\r\n\r\n{}",
    "JSON list": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2, 3]",
    "wrong types": b'HTTP/1.0 200 OK\r\n\r\n{"txs": "00", "cursor": "later", "tx": 5}',
    "bad hex": b'HTTP/1.0 200 OK\r\n\r\n{"txs": ["zz"], "cursor": 1}',
    "not JSON": b"HTTP/1.0 200 OK\r\n\r\n{{{{",
}


def _data_tx(node: Node, tag: str = "t") -> bytes:
    return txm.build(Wallet.from_seed(os.urandom(8))._key, txm.DATA, txm.data_payload(tag, b""),
                     node.select_tips(2), network=1, difficulty=node.config.difficulty)


def _wait(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_gossip_reaches_the_good_peer_after_one_that_answers_garbage(tmp_path, garbage):
    bad = GarbagePeer(GARBAGE[garbage])
    try:
        with run_node(tmp_path / "b", run_coordinator=False, difficulty=4) as (b_url, b), \
             run_node(tmp_path / "a", run_coordinator=False, difficulty=4, peers=[bad.url, b_url],
                      sync_interval=3600) as (_, a):
            for i in range(3):  # each push goes to the bad peer first, then to b
                raw = _data_tx(a, f"g{i}")
                a.ingest(raw)
                assert _wait(lambda raw=raw: txm.blake(raw) in b.graph), f"push {i} never reached the good peer"
            assert bad.hits >= 1
    finally:
        bad.close()


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_sync_pulls_from_the_good_peer_after_one_that_answers_garbage(tmp_path, garbage):
    bad = GarbagePeer(GARBAGE[garbage])
    try:
        with run_node(tmp_path / "b", run_coordinator=False, difficulty=4) as (b_url, b):
            raw = _data_tx(b, "pulled")
            b.ingest(raw)
            with run_node(tmp_path / "a", run_coordinator=False, difficulty=4, peers=[bad.url, b_url],
                          sync_interval=0.05) as (_, a):
                assert _wait(lambda: txm.blake(raw) in a.graph), "the sync pass never got past the bad peer"
    finally:
        bad.close()


def test_a_failing_peer_is_backed_off_then_dropped_from_memory_and_database(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'n.db'}", run_coordinator=False, difficulty=4,
                        peers=[dead], peer_backoff_s=0.05, peer_backoff_max_s=0.1, peer_max_failures=4,
                        http_timeout=0.5))
    try:
        n.sync_once()
        failures, retry_at = n._peer_fail[dead]
        assert failures == 1 and retry_at > time.monotonic()
        n.sync_once()  # backed off: not even tried
        assert n._peer_fail[dead][0] == 1
        assert _wait(lambda: (n.sync_once(), dead not in n.peers)[1], timeout=5)
        with n.engine.connect() as c:
            assert c.execute(sa.select(store.PEER.c.url)).all() == []
        assert n.stats["peers_dropped"] == 1
    finally:
        n.stop()


def _orphans(n: int, network: int = 1) -> list[bytes]:
    """Well-formed transactions whose parents nobody has."""
    return [txm.build(Wallet.from_seed(os.urandom(8))._key, txm.DATA, txm.data_payload("orphan", b""),
                      sorted([os.urandom(32), os.urandom(32)]), network=network, difficulty=4) for _ in range(n)]


def _stored(node: Node) -> int:
    with node.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(store.TX)).scalar()


def test_unsolid_transactions_from_peers_are_capped(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'n.db'}", run_coordinator=False, difficulty=4,
                        max_unsolid=5))
    try:
        res = n.ingest_many(_orphans(8), source="peer", peer="p1")
        assert sum(1 for r in res if not isinstance(r, TangleRejected)) == 5
        refused = [r for r in res if isinstance(r, TangleRejected)]
        assert len(refused) == 3 and all(r.status == 429 and "wait for their parents" in r.reason for r in refused)
        assert _stored(n) == 5 and len(n.unsolid) == 5
        assert all(isinstance(r, TangleRejected) for r in n.ingest_many(_orphans(2), source="peer", peer="p2"))
    finally:
        n.stop()


def test_unsolid_transactions_are_rate_limited_per_peer(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'n.db'}", run_coordinator=False, difficulty=4,
                        peer_unsolid_per_s=0.001, peer_unsolid_burst=3))
    try:
        res = n.ingest_many(_orphans(5), source="peer", peer="noisy")
        assert [isinstance(r, TangleRejected) and r.status == 429 for r in res] == [False] * 3 + [True] * 2
        res = n.ingest_many(_orphans(2), source="peer", peer="quiet")  # another peer has its own budget
        assert not any(isinstance(r, TangleRejected) for r in res)
        solid = n.ingest_many([_data_tx(n)], source="peer", peer="noisy")  # solid ones are not limited
        assert not isinstance(solid[0], TangleRejected)
    finally:
        n.stop()


def test_unsolid_transactions_expire_from_database_and_memory_and_can_come_back(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'n.db'}", run_coordinator=False, difficulty=4,
                        unsolid_ttl_s=60))
    try:
        parent = _data_tx(n, "parent")
        child = txm.build(Wallet.from_seed(b"child")._key, txm.DATA, txm.data_payload("child", b""),
                          sorted([txm.blake(parent), txm.GENESIS_ID]), network=1, difficulty=4)
        before_count, before_rows = n.count, _stored(n)
        assert not isinstance(n.ingest_many([child], source="peer", peer="p")[0], TangleRejected)
        assert txm.blake(child) in n.unsolid and _stored(n) == before_rows + 1
        assert n.expire_unsolid() == 0  # not old yet
        assert n.expire_unsolid(now=time.monotonic() + 61) == 1
        assert txm.blake(child) not in n.graph and n.count == before_count and _stored(n) == before_rows
        assert n.unsolid == {} and n.stats["unsolid_expired"] == 1
        # forgotten for good: it may come again, and becomes solid once its parent is here
        assert not isinstance(n.ingest_many([child, parent], source="peer", peer="p")[0], TangleRejected)
        assert txm.blake(child) in n.graph.solid and n.unsolid == {}
    finally:
        n.stop()
