"""The coordinator outlives one transaction it cannot confirm (issue 13: background threads survive
an exception caused by one item, log it and carry on).

Before: when working out a milestone's effects raised for one tip, every milestone attempt over
the same tips raised again (the loop logged "milestone failed" each pass) and nothing else was
ever confirmed on the network.
"""

from __future__ import annotations

import logging

import pytest

from exchange.tangle import node as node_mod
from exchange.tangle import tx as txm
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.wallet import Wallet


@pytest.fixture
def coordinator(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'coord.db'}", difficulty=2, run_coordinator=False,
                        rate_per_s=0))
    yield n
    n.stop()


def _data(node: Node, seed: bytes, tag: str) -> bytes:
    parents = sorted(node.select_tips(2))
    parents = parents * 2 if len(parents) < 2 else parents
    raw = txm.build(Wallet.from_seed(seed)._key, txm.DATA, txm.data_payload(tag, b"x"), parents, network=1,
                    difficulty=2)
    return node.ingest(raw, source="api").id


def test_a_tip_whose_effects_cannot_be_worked_out_is_set_aside_and_the_others_are_confirmed(
        coordinator, monkeypatch, caplog):
    node = coordinator
    node.issue_milestone()
    poison = _data(node, b"poison", "poison")
    honest = [_data(node, b"honest-%d" % i, "honest") for i in range(3)]
    # parents chosen before the poison existed would not reference it; make sure the honest ones
    # are tips of their own: the poison stays a tip (nobody approves it here)
    real = node_mod.apply_cone

    def apply(txs, account):
        if any(t.id == poison for t in txs):
            raise ValueError("a state this ledger code never expected")
        return real(txs, account)

    monkeypatch.setattr(node_mod, "apply_cone", apply)
    with caplog.at_level(logging.WARNING, logger="exchange.tangle.node"):
        for _ in range(5):
            node.issue_milestone()
    confirmed = [h for h in honest if h in node.confirmed]
    assert confirmed == [h for h in honest if poison not in node_ancestors(node, h)]
    assert confirmed, "no honest transaction was confirmed"
    assert poison not in node.confirmed and poison in node.set_aside
    assert "a state this ledger code never expected" in node.set_aside[poison]
    assert any("set aside" in m for m in caplog.messages), caplog.messages


def node_ancestors(node: Node, tx_id: bytes) -> set[bytes]:
    seen, todo = set(), [tx_id]
    while todo:
        for p in node.graph.parents.get(todo.pop(), ()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen
