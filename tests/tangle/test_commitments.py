"""Ledger-state commitments: every milestone commits to the ledger it confirms, and a node
whose own ledger differs stops confirming and says so (log, /v1/info, /v1/status)."""

import json
import logging

import pytest
import sqlalchemy as sa
from werkzeug.test import Client

from exchange.tangle import store
from exchange.tangle import tx as txm
from exchange.tangle.ledger import Account, ConeResult, merkle_root, mutation_leaves, next_root
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.server import App
from exchange.tangle.wallet import Wallet
from tests.tangle.helpers import settle, transfer

ALICE, BOB = Wallet.from_seed(b"commit-alice"), Wallet.from_seed(b"commit-bob")
GENESIS = {ALICE.address: 100}


def _node(path, **config) -> Node:
    cfg = {"genesis": GENESIS, "difficulty": 4, "run_coordinator": False, "rate_per_s": 0, **config}
    return Node(NodeConfig(db_url=f"sqlite:///{path}", **cfg))


def _relay(src: Node, dst: Node, since: int = 0) -> int:
    """What a peer's sync does: every transaction ``src`` stored since ``since``, into ``dst``."""
    raws, cursor = src.sync_since(since, 1000)
    dst.ingest_many(raws, source="peer")
    return cursor


@pytest.fixture
def coordinator(tmp_path):
    node = _node(tmp_path / "coord.db")
    yield node
    node.stop()


def _divergent_follower(path) -> Node:
    """A follower whose stored ledger was altered behind its back: Alice holds 1000, not 100."""
    _node(path).stop()
    engine = store.make_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(store.ACCOUNT.update().where(store.ACCOUNT.c.address == ALICE.address).values(balance=1000))
    engine.dispose()
    return _node(path)


def test_a_follower_with_the_same_history_computes_every_milestone_root(coordinator, tmp_path):
    follower = _node(tmp_path / "f.db")
    try:
        for amount in (10, 20, 500):  # the last one overspends: conflicting on both
            coordinator.ingest(transfer(coordinator, ALICE, BOB.address, amount), source="api")
            coordinator.issue_milestone()
        settle(coordinator)
        _relay(coordinator, follower)
        assert follower.latest_milestone == coordinator.latest_milestone >= 3
        assert follower.ledger_root == coordinator.ledger_root
        assert follower.status()["status"] == "ok" and follower.balance(BOB.address) == 30
        roots = [m["ledger_root"] for m in coordinator.milestone_list()]
        assert [m["ledger_root"] for m in follower.milestone_list()] == roots and len(set(roots)) == len(roots)
    finally:
        follower.stop()


def test_a_divergent_follower_stops_confirming_and_says_so(coordinator, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="exchange.tangle.node")
    follower = _divergent_follower(tmp_path / "div.db")
    try:
        fine = coordinator.ingest(transfer(coordinator, ALICE, BOB.address, 10), source="api")
        coordinator.issue_milestone()
        cursor = _relay(coordinator, follower)
        assert coordinator.latest_milestone == 1  # Alice's balance after it is one of its leaves
        assert follower.latest_milestone == 0, "a follower with another ledger must not confirm"
        assert fine.id not in follower.confirmed
        status = follower.status()
        assert status["status"] == "diverged"
        assert status["divergence"]["milestone"] == 1
        assert status["divergence"]["milestone_ledger_root"] == coordinator.ledger_root.hex()
        assert status["divergence"]["computed_ledger_root"] != coordinator.ledger_root.hex()
        # and it keeps not confirming as the network goes on
        coordinator.ingest(transfer(coordinator, ALICE, BOB.address, 5), source="api")
        coordinator.issue_milestone()
        _relay(coordinator, follower, cursor)
        assert coordinator.latest_milestone == 2 and follower.latest_milestone == 0
        assert follower.balance(BOB.address) == 0 and coordinator.balance(BOB.address) == 15
    finally:
        follower.stop()
    assert any("LEDGER DIVERGED at milestone 1" in r.getMessage() for r in caplog.records)
    again = _node(tmp_path / "div.db")  # a restart recomputes, and diverges again
    try:
        assert again.status()["status"] == "diverged" and again.latest_milestone == 0
        client = Client(App(again))
        for path in ("/v1/info", "/v1/status"):
            r = client.get(path)
            assert r.status_code == 200
            body = json.loads(r.get_data())
            assert body["status"] == "diverged" and body["divergence"]["milestone"] == 1
    finally:
        again.stop()


def test_a_divergent_conflict_decision_is_caught_too(coordinator, tmp_path):
    """With 1000 instead of 100 the follower would apply a 500 spend the network marks conflicting."""
    follower = _divergent_follower(tmp_path / "div2.db")
    try:
        over = coordinator.ingest(transfer(coordinator, ALICE, BOB.address, 500), source="api")
        coordinator.issue_milestone()
        _relay(coordinator, follower)
        assert over.id in coordinator.confirmed and coordinator.balance(BOB.address) == 0
        assert follower.latest_milestone == 0 and follower.balance(BOB.address) == 0
        assert follower.status()["status"] == "diverged"
    finally:
        follower.stop()


def _milestone(node: Node, payload: bytes) -> bytes:
    parents = sorted({*node.graph.tipset} or {txm.GENESIS_ID})[:2]
    return txm.build(node.config.coordinator_key(), txm.MILESTONE, payload, parents * (3 - len(parents)),
                     network=node.config.network, difficulty=node.config.difficulty)


@pytest.mark.parametrize("payload, status, reason", [
    (txm.milestone_payload(1), 400, "no ledger root"),
    (b"\x00" * 8 + b"\x01" * 31, 400, "40 bytes"),
])
def test_milestones_without_a_well_formed_root_are_refused(coordinator, payload, status, reason):
    coordinator.ingest(transfer(coordinator, ALICE, BOB.address, 1), source="api")
    before = coordinator.count
    client = Client(App(coordinator))
    r = client.post("/v1/transactions", data=json.dumps({"tx": _milestone(coordinator, payload).hex()}),
                    content_type="application/json")
    assert r.status_code == status and reason in json.loads(r.get_data())["error"]
    assert coordinator.count == before


def test_a_milestone_with_a_wrong_root_is_not_applied_even_by_its_coordinator(coordinator):
    coordinator.ingest(transfer(coordinator, ALICE, BOB.address, 7), source="api")
    coordinator.ingest(_milestone(coordinator, txm.milestone_payload(1, b"\x42" * 32)), source="peer")
    assert coordinator.latest_milestone == 0 and coordinator.status()["status"] == "diverged"
    assert coordinator.issue_milestone() is None


def test_uncommitted_milestones_are_accepted_only_when_configured(tmp_path):
    node = _node(tmp_path / "legacy.db", require_commitments=False)
    try:
        node.ingest(transfer(node, ALICE, BOB.address, 3), source="api")
        node.ingest(_milestone(node, txm.milestone_payload(1)), source="peer")
        assert node.latest_milestone == 1 and node.balance(BOB.address) == 3 and node.status()["status"] == "ok"
    finally:
        node.stop()


def test_the_root_depends_on_order_status_and_account_state():
    a = txm.build(ALICE._key, txm.VALUE, txm.value_payload(BOB.address, 1, 0), [txm.GENESIS_ID] * 2, network=1,
                  difficulty=0)
    b = txm.build(ALICE._key, txm.VALUE, txm.value_payload(BOB.address, 2, 1), [txm.GENESIS_ID] * 2, network=1,
                  difficulty=0)
    ta, tb = txm.decode(a), txm.decode(b)
    res = ConeResult(touched={ALICE.address: Account(97, 2), BOB.address: Account(3, 0)})
    base = next_root(b"\x00" * 32, 1, mutation_leaves([ta, tb], res))
    swapped = next_root(b"\x00" * 32, 1, mutation_leaves([tb, ta], res))
    conflict = next_root(b"\x00" * 32, 1, mutation_leaves([ta, tb], ConeResult(conflicting=[tb.id],
                                                                                touched=res.touched)))
    richer = next_root(b"\x00" * 32, 1, mutation_leaves([ta, tb], ConeResult(
        touched={ALICE.address: Account(98, 2), BOB.address: Account(3, 0)})))
    other_prev = next_root(b"\x01" * 32, 1, mutation_leaves([ta, tb], res))
    assert len({base, swapped, conflict, richer, other_prev}) == 5
    assert merkle_root([b"x", b"y", b"z"]) != merkle_root([b"x", b"y"])
    assert merkle_root([b"x"]) != merkle_root([b"x", b"x"])


def test_a_database_from_before_commitments_opens_and_goes_on_confirming(tmp_path):
    path = tmp_path / "old.db"
    node = _node(path, require_commitments=False)
    node.ingest(transfer(node, ALICE, BOB.address, 3), source="api")
    node.ingest(_milestone(node, txm.milestone_payload(1)), source="peer")
    node.stop()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:  # the milestone table as older versions made it
        c.execute(sa.text("ALTER TABLE tangle_milestone DROP COLUMN ledger_root"))
    engine.dispose()
    node = _node(path)
    try:
        assert node.latest_milestone == 1 and node.balance(BOB.address) == 3
        node.ingest(transfer(node, ALICE, BOB.address, 4), source="api")
        settle(node)
        assert node.latest_milestone == 2 and node.balance(BOB.address) == 7 and node.status()["status"] == "ok"
        assert node.milestone_list()[-1]["ledger_root"] == node.ledger_root.hex()
    finally:
        node.stop()
