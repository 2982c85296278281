"""Snapshots and pruning: confirmed history below a depth leaves memory and the database
(stream messages of unexpired spans stay in the database), a restart loads only the live
window, replays of pruned transactions are refused, and a fresh node starts from a peer's
snapshot plus the recent cone."""

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from exchange.errors import ConfigError
from exchange.tangle import tx as txm
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet

ALICE, BOB = Wallet.from_seed(b"prune-alice"), Wallet.from_seed(b"prune-bob")
CHANNEL = "cc" * 32
PRUNE = {"genesis": {ALICE.address: 10_000}, "difficulty": 4, "run_coordinator": False, "rate_per_s": 0,
         "prune_depth": 5, "prune_min_age_s": 0, "data_retention_s": 0}
ROUNDS, PER_ROUND = 40, 4


def _node(path, **config) -> Node:
    return Node(NodeConfig(db_url=f"sqlite:///{path}", **{**PRUNE, **config}))


class History:
    """Value transfers, stream and data messages, a milestone after each round."""

    def __init__(self, ahead_ms: int = 0):
        self.ahead_ms = ahead_ms  # timestamps this far in the future (clocks differ; within future_ms)
        self.seq = 0
        self.data: list[bytes] = []
        self.streams: list[bytes] = []

    def build(self, node: Node, kind: int, payload: bytes, extra=()) -> bytes:
        parents = sorted({*sorted(node.graph.tipset)[:2], *extra} or {txm.GENESIS_ID})
        return txm.build(ALICE._key, kind, payload, parents * (3 - len(parents)) if len(parents) < 2 else parents,
                         network=1, difficulty=4, timestamp_ms=txm.now_ms() + self.ahead_ms)

    def round(self, node: Node, i: int) -> None:
        last = node.account_info(ALICE.address)["last_pending"]
        raws = [self.build(node, txm.VALUE, txm.value_payload(BOB.address, 1, self.seq), [last] if last else [])]
        self.seq += 1
        node.ingest_many(raws, source="peer")
        for k in range(PER_ROUND - 1):
            kind, payload = ((txm.STREAM, txm.stream_payload(CHANNEL, b"%d" % i)) if k == 0
                             else (txm.DATA, txm.data_payload("noise", b"%d-%d" % (i, k))))
            raw = self.build(node, kind, payload)
            (self.streams if kind == txm.STREAM else self.data).append(raw)
            node.ingest_many([raw], source="peer")
        node.issue_milestone()

    def run(self, node: Node, rounds: int = ROUNDS) -> None:
        for i in range(rounds):
            self.round(node, i)


@pytest.fixture
def pruned(tmp_path):
    node = _node(tmp_path / "p.db")
    history = History()
    history.run(node)
    yield node, history, tmp_path / "p.db"
    node.stop()


def _live_bound() -> int:
    depth = PRUNE["prune_depth"]
    return (depth + depth // 10 + 3) * (PER_ROUND + 1) * 2


def test_confirmed_history_below_the_depth_leaves_memory_and_the_ledger_is_whole(pruned):
    node, history, _ = pruned
    total = ROUNDS * (PER_ROUND + 1)
    assert node.latest_milestone == ROUNDS and node.pruned_index >= ROUNDS - 2 * PRUNE["prune_depth"]
    assert len(node.graph.parents) - 1 <= _live_bound() < total
    assert len(node.confirmed) <= _live_bound() and len(node.essences) <= _live_bound()
    assert node.balance(BOB.address) == ROUNDS and node.supply() == 10_000
    assert node.stats["pruned"] > total // 2


def test_a_restart_loads_only_the_live_window_and_goes_on_confirming(pruned):
    node, history, path = pruned
    before = (node.ledger_root, node.latest_milestone, node.pruned_index, len(node.graph.parents), node.count,
              node.balance(BOB.address))
    node.stop()
    again = _node(path)
    try:
        assert (again.ledger_root, again.latest_milestone, again.pruned_index, len(again.graph.parents),
                again.count, again.balance(BOB.address)) == before
        history.run(again, 10)  # new traffic on top of the entry points confirms as before
        assert again.latest_milestone == ROUNDS + 10 and again.status()["status"] == "ok"
        assert again.balance(BOB.address) == ROUNDS + 10
        assert len(again.graph.parents) - 1 <= _live_bound()
    finally:
        again.stop()


def test_history_timestamped_after_its_milestone_stays_until_the_horizon_passes_it(tmp_path):
    """Such transactions are not pruned yet (a replay would not be refused), neither in memory
    nor in the database, so a restart finds the same live window."""
    node = _node(tmp_path / "ahead.db")
    try:
        History(ahead_ms=50).run(node, 15)
        late = {i for i, _ in node._late}
        assert node.pruned_index > 0 and late
        live = set(node.graph.parents)
    finally:
        node.stop()
    again = _node(tmp_path / "ahead.db")
    try:
        assert set(again.graph.parents) == live and {i for i, _ in again._late} == late
    finally:
        again.stop()


def test_pruned_messages_are_gone_and_unexpired_stream_messages_stay(pruned):
    node, history, _ = pruned
    first_data, first_stream = txm.blake(history.data[0]).hex(), txm.blake(history.streams[0]).hex()
    assert node.get(first_data) is None
    assert node.get(first_stream)["confirmed"]
    items, _ = node.find(tag=CHANNEL, limit=1000)
    assert len(items) == ROUNDS  # a buyer still reads the whole channel
    assert node.count < ROUNDS * (PER_ROUND + 1) - len(history.data) // 2


def test_data_messages_within_their_retention_stay_in_the_database(tmp_path):
    node = _node(tmp_path / "d.db", data_retention_s=3600)
    try:
        history = History()
        history.run(node)
        assert node.pruned_index > 0 and node.get(txm.blake(history.data[0]).hex())["confirmed"]
        assert len(node.find(tag="noise", limit=1000)[0]) == len(history.data)
    finally:
        node.stop()


def test_pruning_is_off_unless_configured(tmp_path):
    node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'off.db'}", **{k: v for k, v in PRUNE.items()
                                                                          if k != "prune_depth"}))
    try:
        History().run(node, 20)
        assert node.pruned_index == 0 and node.count == 20 * (PER_ROUND + 1)
    finally:
        node.stop()


def test_expired_stream_messages_are_pruned_too(tmp_path):
    node = _node(tmp_path / "s.db", stream_retention_s=0)
    try:
        history = History()
        history.run(node)
        assert node.get(txm.blake(history.streams[0]).hex()) is None
        assert len(node.find(tag=CHANNEL, limit=1000)[0]) < ROUNDS // 2
    finally:
        node.stop()


@pytest.mark.parametrize("source", ["peer", "api"])
def test_a_replay_of_a_pruned_transaction_is_refused(pruned, source):
    node, history, _ = pruned
    before = node.count
    res = node.ingest_many([history.data[0]], source=source)[0]
    assert res.status == 400 and "pruning horizon" in res.reason
    assert node.count == before


@pytest.mark.parametrize("config", [{"prune_depth": 3}, {"prune_depth": 1, "walk_depth": 1}])
def test_a_prune_depth_within_the_walk_depth_is_a_config_error(tmp_path, config):
    with pytest.raises(ConfigError, match="prune_depth"):
        _node(tmp_path / "bad.db", **config)


def test_a_fresh_node_starts_from_a_peers_snapshot_and_follows_it(tmp_path):
    with run_node(tmp_path / "a", **{**PRUNE, "sync_interval": 3600}) as (url_a, a):
        history = History()
        history.run(a)
        fresh = _node(tmp_path / "fresh.db", bootstrap_from=url_a, peers=[url_a])
        try:
            assert (fresh.latest_milestone, fresh.ledger_root, fresh.pruned_index) == \
                   (a.latest_milestone, a.ledger_root, a.pruned_index)
            assert fresh.balance(BOB.address) == ROUNDS and fresh.supply() == 10_000
            assert set(fresh.graph.parents) == set(a.graph.parents)
            assert len(fresh.find(tag=CHANNEL, limit=1000)[0]) < ROUNDS  # the live window, not all history
            history.run(a, 5)
            fresh.sync_once()
            assert fresh.latest_milestone == a.latest_milestone and fresh.ledger_root == a.ledger_root
            assert fresh.status()["status"] == "ok" and fresh.balance(BOB.address) == ROUNDS + 5
        finally:
            fresh.stop()
        again = _node(tmp_path / "fresh.db", bootstrap_from=url_a)  # a restart uses its own database
        try:
            assert again.latest_milestone == ROUNDS + 5
        finally:
            again.stop()


class _FakePeer:
    """Serves a given snapshot document (what a lying or broken peer could send)."""

    def __init__(self, doc: dict):
        self.httpd = make_server("127.0.0.1", 0, lambda env, sr: Response(json.dumps(doc),
                                                                         mimetype="application/json")(env, sr))
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _tampered(snap: dict, how: str) -> dict:
    snap = json.loads(json.dumps(snap))
    if how == "another genesis":
        snap["genesis"] = "00" * 16
    elif how == "latest root not the signed one":
        snap["milestones"][-1][4] = "11" * 32
        snap["ledger_root"] = "11" * 32
    elif how == "a transaction altered":
        raw = bytearray.fromhex(snap["txs"][-3][0])
        raw[-20] ^= 1
        snap["txs"][-3][0] = raw.hex()
    elif how == "latest milestone left out":
        snap["txs"] = [t for t in snap["txs"] if txm.decode(bytes.fromhex(t[0])).kind != txm.MILESTONE]
    elif how == "not a snapshot":
        snap = {"error": "nope"}
    return snap


@pytest.mark.parametrize("how", ["another genesis", "latest root not the signed one", "a transaction altered",
                                 "latest milestone left out", "not a snapshot"])
def test_a_bad_snapshot_is_refused_and_nothing_is_written(pruned, tmp_path, how):
    node, _, _ = pruned
    peer = _FakePeer(_tampered(node.snapshot(), how))
    try:
        with pytest.raises(ConfigError, match="bootstrap|another network"):
            _node(tmp_path / "victim.db", bootstrap_from=peer.url)
        plain = _node(tmp_path / "victim.db")  # the database stayed empty: a normal start works
        assert plain.latest_milestone == 0 and plain.count == 0
        plain.stop()
    finally:
        peer.close()


def test_a_forged_balance_in_a_snapshot_shows_as_divergence_when_touched(pruned, tmp_path):
    node, history, _ = pruned
    snap = node.snapshot()
    for acct in snap["accounts"]:
        if acct[0] == BOB.address:
            acct[1] += 1000
    peer = _FakePeer(snap)
    try:
        victim = _node(tmp_path / "forged.db", bootstrap_from=peer.url)
    finally:
        peer.close()
    try:
        assert victim.balance(BOB.address) == node.balance(BOB.address) + 1000
        cursor = node.sync_since(0, 1)[1]
        history.run(node, 1)  # the next milestone credits Bob: its root shows the forgery
        raws, _ = node.sync_since(cursor, 1000)
        victim.ingest_many(raws, source="peer")
        assert victim.status()["status"] == "diverged"
        assert victim.latest_milestone == node.latest_milestone - 1
    finally:
        victim.stop()
