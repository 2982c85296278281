"""Peer traffic (gossip, peer registration) skips the per-issuer rate limit, so only the
network's own nodes may send it: loopback without a secret, anyone holding the shared
peer secret otherwise."""

import json
import time

import pytest
from werkzeug.test import Client

from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.node import PEER_SECRET_HEADER, Node, NodeConfig
from exchange.tangle.server import App
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet

SECRET = "s3cret-shared-by-the-network"


def _raw(i: int = 0) -> bytes:
    w = Wallet.from_seed(b"peer-auth")
    return txm.build(w._key, txm.DATA, txm.data_payload("peer", b"%d" % i), [txm.GENESIS_ID] * 2, network=1,
                     difficulty=NodeConfig().difficulty)


@pytest.fixture
def make_app(tmp_path):
    nodes = []

    def make(**config):
        node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / f'n{len(nodes)}.db'}", run_coordinator=False, **config))
        nodes.append(node)
        return node, App(node)

    yield make
    for n in nodes:
        n.stop()


def _post(app, path, body, addr="127.0.0.1", headers=None):
    r = Client(app).post(path, data=json.dumps(body), content_type="application/json",
                         environ_base={"REMOTE_ADDR": addr}, headers=headers or {})
    return r.status_code, json.loads(r.get_data())


@pytest.mark.parametrize("path, body", [
    ("/v1/gossip", {"txs": [_raw().hex()]}),
    ("/v1/peers", {"url": "http://10.0.0.9:14265"}),
])
def test_without_a_secret_only_loopback_peers_are_heard(make_app, path, body):
    node, app = make_app()
    before = (node.count, dict(node.peers))
    status, answer = _post(app, path, body, addr="203.0.113.5")
    assert status == 403 and "peer secret" in answer["error"]
    assert (node.count, dict(node.peers)) == before
    status, _ = _post(app, path, body, addr="127.0.0.1")
    assert status == 200


@pytest.mark.parametrize("given", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
@pytest.mark.parametrize("path, body", [
    ("/v1/gossip", {"txs": [_raw().hex()]}),
    ("/v1/peers", {"url": "http://10.0.0.9:14265"}),
])
def test_with_a_secret_a_missing_or_wrong_one_is_refused_even_from_loopback(make_app, path, body, given):
    node, app = make_app(peer_secret=SECRET)
    before = (node.count, dict(node.peers))
    headers = {} if given is None else {PEER_SECRET_HEADER: given}
    status, answer = _post(app, path, body, headers=headers)
    assert status == 401 and "peer authentication failed" in answer["error"]
    assert (node.count, dict(node.peers)) == before
    status, _ = _post(app, path, body, addr="203.0.113.5", headers={PEER_SECRET_HEADER: SECRET})
    assert status == 200


def test_the_peer_list_is_bounded(make_app):
    node, app = make_app(max_peers=2)
    for i in range(2):
        assert _post(app, "/v1/peers", {"url": f"http://10.0.0.{i}:1"})[0] == 200
    status, answer = _post(app, "/v1/peers", {"url": "http://10.0.0.99:1"})
    assert status == 409 and "maximum of 2 peers" in answer["error"]
    assert len(node.peers) == 2


def test_the_secret_is_never_in_the_config_repr():
    assert SECRET not in repr(NodeConfig(peer_secret=SECRET))


def test_two_nodes_sharing_the_secret_gossip_and_one_without_it_is_refused(tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="exchange.tangle.node")
    with run_node(tmp_path / "a", peer_secret=SECRET, run_coordinator=False) as (url_a, node_a), \
         run_node(tmp_path / "b", peer_secret=SECRET, run_coordinator=False, peers=[url_a]) as (url_b, _), \
         run_node(tmp_path / "c", peer_secret="another", run_coordinator=False, peers=[url_a]) as (url_c, _):
        b, c = TangleClient(url_b), TangleClient(url_c)
        from_b, from_c = b.submit(_raw(1)), c.submit(_raw(2))
        a = TangleClient(url_a)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and node_a.get(from_b) is None:
            time.sleep(0.1)
        assert a.get(from_b)["id"] == from_b  # pushed by b with the secret

        def c_was_refused():  # c pushed its transaction too, with the wrong secret, and a answered 401
            return any(r.getMessage().startswith(f"gossip to {url_a} failed") and "401" in r.getMessage()
                       for r in caplog.records)

        while time.monotonic() < deadline and not c_was_refused():
            time.sleep(0.05)
        assert c_was_refused(), [r.getMessage() for r in caplog.records]
        assert node_a.get(from_c) is None and node_a.stats["from_peers"] == 1
