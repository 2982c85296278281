"""SQLite durability settings of the tangle store: crash-safe always, power-loss safe with ``durable``."""

import pytest
import sqlalchemy as sa

from exchange.tangle.node import Node, NodeConfig


@pytest.mark.parametrize("durable, synchronous", [(False, 1), (True, 2)])  # 1 = NORMAL, 2 = FULL
def test_the_store_uses_wal_and_fsyncs_every_commit_only_when_durable(tmp_path, durable, synchronous):
    node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 't.db'}", run_coordinator=False, durable=durable))
    try:
        with node.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == synchronous
    finally:
        node.stop()


def test_a_durable_node_keeps_what_it_acknowledged_across_a_reopen(tmp_path):
    from exchange.tangle.wallet import Wallet
    from tests.tangle.helpers import transfer

    url = f"sqlite:///{tmp_path / 't.db'}"
    sender = Wallet.from_seed(b"durable-sender")
    node = Node(NodeConfig(db_url=url, run_coordinator=False, durable=True, genesis={sender.address: 100},
                           rate_per_s=0))
    t = node.ingest(transfer(node, sender, Wallet.from_seed(b"durable-to").address, 5), source="api")
    node.stop()
    again = Node(NodeConfig(db_url=url, run_coordinator=False, durable=True, genesis={sender.address: 100}))
    try:
        assert again.get(t.id.hex())["id"] == t.id.hex()
    finally:
        again.stop()
