"""Spam control that new keys cannot bypass: API proof of work grows with the sender's rate
and with the node's load, and falls back when the flood stops."""

import json
import time

import pytest
from werkzeug.test import Client

from exchange.tangle import tx as txm
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.server import App
from exchange.tangle.spam import AdaptivePow
from exchange.tangle.wallet import Wallet

FLOODER, HONEST = "203.0.113.7", "198.51.100.2"


@pytest.fixture
def node(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'spam.db'}", difficulty=4, run_coordinator=False))
    yield n
    n.stop()


def _data_tx(difficulty: int, below: int | None = None) -> bytes:
    """A data message from a brand-new key; with ``below``, one whose PoW does not reach it."""
    while True:
        raw = txm.build(Wallet.generate()._key, txm.DATA, txm.data_payload("spam", b"x"), [txm.GENESIS_ID] * 2,
                        network=1, difficulty=difficulty)
        if below is None or not txm.pow_ok(txm.blake(raw), below):
            return raw


def _post(app, path, body, addr):
    r = Client(app).post(path, data=json.dumps(body), content_type="application/json",
                         environ_base={"REMOTE_ADDR": addr})
    return r.status_code, json.loads(r.get_data())


def _info(app, addr):
    return json.loads(Client(app).get("/v1/info", environ_base={"REMOTE_ADDR": addr}).get_data())


def test_a_flood_from_fresh_keys_raises_the_flooders_proof_of_work(node):
    app = App(node)
    flood = [_data_tx(4) for _ in range(2000)]  # every one from a new key: per-issuer limits never bite
    for i in range(0, len(flood), 1000):
        status, body = _post(app, "/v1/transactions/batch", {"txs": [r.hex() for r in flood[i:i + 1000]]}, FLOODER)
        assert status == 207 and all("id" in r for r in body["results"])
    need = _info(app, FLOODER)["pow_difficulty"]
    assert need > 4, "2000 transactions in a moment from one address must cost more proof of work"
    before = node.count
    status, body = _post(app, "/v1/transactions", {"tx": _data_tx(4, below=need).hex()}, FLOODER)
    assert status == 400 and f"need {need} leading zero bits" in body["error"]
    assert node.count == before
    status, _ = _post(app, "/v1/transactions", {"tx": _data_tx(need).hex()}, FLOODER)
    assert status == 201
    assert _info(app, HONEST)["pow_difficulty"] == 4  # another sender pays only for the node's load
    status, _ = _post(app, "/v1/transactions", {"tx": _data_tx(4).hex()}, HONEST)
    assert status == 201


def test_load_from_many_addresses_raises_everyones_proof_of_work(tmp_path):
    node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'load.db'}", difficulty=4, run_coordinator=False,
                           pow_free_rate=20, pow_free_rate_per_sender=0, pow_tau_s=10))
    try:
        app = App(node)
        for k in range(40):  # 40 addresses, 10 each: no one sender is busy, the node is
            body = {"txs": [_data_tx(4).hex() for _ in range(10)]}
            assert _post(app, "/v1/transactions/batch", body, f"192.0.2.{k}")[0] == 207
        need = _info(app, HONEST)["pow_difficulty"]
        assert need > 4
        status, body = _post(app, "/v1/transactions", {"tx": _data_tx(4, below=need).hex()}, HONEST)
        assert status == 400 and "insufficient proof of work" in body["error"]
    finally:
        node.stop()


def test_a_wallet_learns_the_higher_difficulty_and_gets_through(tmp_path):
    from exchange.tangle.client import TangleClient
    from exchange.tangle.testing import run_node

    with run_node(tmp_path, difficulty=4, run_coordinator=False, pow_free_rate=1, pow_free_rate_per_sender=0,
                  pow_tau_s=30) as (url, node):
        client = TangleClient(url)
        w = Wallet.generate()
        w.publish(client, "t", b"first")  # caches difficulty 4
        node.pow.record(None, time.monotonic(), 500)  # the node got busy meanwhile
        assert client.info()["pow_difficulty"] > 4
        tx_id = w.publish(client, "t", b"second")
        assert txm.pow_ok(bytes.fromhex(tx_id), client.info()["pow_difficulty"] - 1)


def test_the_difficulty_adds_a_bit_per_doubling_and_decays_back():
    p = AdaptivePow(base=10, free_rate=100, free_rate_per_sender=10, max_extra=6, tau_s=5)
    assert p.required("a", 0.0) == 10
    p.record("a", 0.0, 5 * 40)  # a's rate ~40/s: 4x its free rate, 2 bits; total below 100/s
    assert p.required("a", 0.0) == 12 and p.required("b", 0.0) == 10
    p.record("b", 0.0, 5 * 400)  # total ~440/s: 3 bits for everyone; b itself is capped at +6
    assert p.required("c", 0.0) == 13 and p.required("b", 0.0) == 16
    assert p.required("b", 60.0) == 10 and p.required("c", 60.0) == 10  # quiet for 12 tau
