"""Per-peer Ed25519 identities: with an allow-list only listed keys may gossip or add peers,
each request signed (body, path, time) and never accepted twice; the shared secret still
admits unsigned peers while a network migrates."""

import json
import logging
import subprocess
import sys
import time

import pytest
from werkzeug.test import Client

from exchange.errors import ConfigError
from exchange.tangle import peerauth
from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.node import PEER_SECRET_HEADER, Node, NodeConfig
from exchange.tangle.server import App
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet

SEED_B, SEED_C = "0b" * 32, "0c" * 32
KEY_B, KEY_C = NodeConfig(peer_key_seed=SEED_B).peer_key(), NodeConfig(peer_key_seed=SEED_C).peer_key()
PUB_B, PUB_C = txm.public_bytes(KEY_B).hex(), txm.public_bytes(KEY_C).hex()
SECRET = "old-shared-secret"


def _raw(i: int = 0) -> bytes:
    return txm.build(Wallet.from_seed(b"peer-id")._key, txm.DATA, txm.data_payload("peer", b"%d" % i),
                     [txm.GENESIS_ID] * 2, network=1, difficulty=NodeConfig().difficulty)


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


def _signed(key, pub, path, body: bytes, time_ms=None):
    return peerauth.sign_headers(key, pub, "POST", path, body, txm.now_ms() if time_ms is None else time_ms)


def _post(app, path, body: bytes, headers, addr="127.0.0.1"):
    r = Client(app).post(path, data=body, content_type="application/json", headers=headers,
                         environ_base={"REMOTE_ADDR": addr})
    return r.status_code, json.loads(r.get_data())


GOSSIP = ("/v1/gossip", json.dumps({"txs": [_raw().hex()]}).encode())
ADD_PEER = ("/v1/peers", json.dumps({"url": "http://10.0.0.9:14265"}).encode())


def _bad_requests(path, body):
    other = json.dumps({"txs": [_raw(9).hex()]} if path == "/v1/gossip" else {"url": "http://10.6.6.6:1"}).encode()
    return {
        "unsigned from loopback": (body, {}),
        "key not on the allow-list": (body, _signed(KEY_C, PUB_C, path, body)),
        "listed key, signature by another key": (body, _signed(KEY_C, PUB_B, path, body)),
        "listed key, other body than signed": (other, _signed(KEY_B, PUB_B, path, body)),
        "listed key, signed for another path": (body, _signed(KEY_B, PUB_B, "/v1/elsewhere", body)),
        "listed key, a minute old": (body, _signed(KEY_B, PUB_B, path, body, txm.now_ms() - 60_000)),
        "listed key, garbage signature": (body, {**_signed(KEY_B, PUB_B, path, body), peerauth.SIG_HEADER: "zz"}),
        "secret of old instead of a key": (body, {PEER_SECRET_HEADER: SECRET}),
    }


@pytest.mark.parametrize("path, body", [GOSSIP, ADD_PEER])
@pytest.mark.parametrize("case", list(_bad_requests(*GOSSIP)))
def test_with_an_allow_list_only_listed_signed_fresh_requests_are_heard(make_app, path, body, case):
    node, app = make_app(peer_allow=[PUB_B])
    sent, headers = _bad_requests(path, body)[case]
    before = (node.count, dict(node.peers))
    status, answer = _post(app, path, sent, headers)
    assert status == 401 and "peer authentication failed" in answer["error"], (case, answer)
    assert (node.count, dict(node.peers)) == before
    assert _post(app, path, body, _signed(KEY_B, PUB_B, path, body), addr="203.0.113.5")[0] == 200


@pytest.mark.parametrize("path, body", [GOSSIP, ADD_PEER])
def test_a_recorded_peer_request_cannot_be_replayed(make_app, path, body):
    node, app = make_app(peer_allow=[PUB_B])
    headers = _signed(KEY_B, PUB_B, path, body)
    assert _post(app, path, body, headers)[0] == 200
    status, answer = _post(app, path, body, headers)
    assert status == 401 and "replayed" in answer["error"]


def test_while_migrating_the_secret_admits_unsigned_peers_but_a_signer_must_be_listed(make_app):
    node, app = make_app(peer_allow=[PUB_B], peer_secret=SECRET)
    path, body = GOSSIP
    assert _post(app, path, body, {PEER_SECRET_HEADER: SECRET}, addr="203.0.113.5")[0] == 200
    status, answer = _post(app, path, body, {PEER_SECRET_HEADER: SECRET, **_signed(KEY_C, PUB_C, path, body)})
    assert status == 401 and "allow-list" in answer["error"]
    assert _post(app, path, body, {PEER_SECRET_HEADER: "wrong"})[0] == 401


@pytest.mark.parametrize("config, what", [
    ({"peer_allow": ["nothex"]}, "allow-list entry"),
    ({"peer_allow": [PUB_B.upper()[:-2]]}, "allow-list entry"),
    ({"peer_key_seed": "ab" * 31}, "peer_key_seed"),
])
def test_bad_identity_config_is_a_config_error(tmp_path, config, what):
    with pytest.raises(ConfigError, match=what):
        Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}", **config))


def test_the_key_seed_is_never_in_the_config_repr():
    assert SEED_B not in repr(NodeConfig(peer_key_seed=SEED_B))


def test_nodes_gossip_to_an_allow_list_by_key_and_an_unlisted_node_is_refused(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="exchange.tangle.node")
    with run_node(tmp_path / "a", peer_allow=[PUB_B], run_coordinator=False) as (url_a, node_a), \
         run_node(tmp_path / "b", peer_key_seed=SEED_B, run_coordinator=False, peers=[url_a]) as (url_b, _), \
         run_node(tmp_path / "c", peer_key_seed=SEED_C, run_coordinator=False, peers=[url_a]) as (url_c, _):
        from_b, from_c = TangleClient(url_b).submit(_raw(1)), TangleClient(url_c).submit(_raw(2))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and node_a.get(from_b) is None:
            time.sleep(0.1)
        assert node_a.get(from_b)["id"] == from_b

        def c_was_refused():
            return any(r.getMessage().startswith(f"gossip to {url_a} failed") and "401" in r.getMessage()
                       for r in caplog.records)

        while time.monotonic() < deadline and not c_was_refused():
            time.sleep(0.05)
        assert c_was_refused()
        assert node_a.get(from_c) is None and node_a.stats["from_peers"] == 1
        assert TangleClient(url_b).info()["peer_key"] == PUB_B


def test_peer_id_prints_the_public_key_or_says_in_one_line_what_is_missing():
    import os

    def run(env):
        r = subprocess.run([sys.executable, "-m", "exchange.cli", "tangle", "peer-id"], capture_output=True,
                           text=True, timeout=60, env=env)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    env = {k: v for k, v in os.environ.items() if k != "THINGBID_TANGLE_PEER_KEY"}
    assert run({**env, "THINGBID_TANGLE_PEER_KEY": SEED_B}) == (0, PUB_B, "")
    rc, out, err = run(env)
    assert rc == 1 and out == "" and len(err.splitlines()) == 1 and "THINGBID_TANGLE_PEER_KEY" in err
