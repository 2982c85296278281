"""One set of transactions, many random arrival orders, fresh nodes: one ledger state."""

import random

import sqlalchemy as sa

from exchange.tangle import store
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.wallet import Wallet
from tests.tangle.helpers import settle, transfer

ORDERS = 40
GENESIS = {Wallet.from_seed(b"det-0").address: 1000, Wallet.from_seed(b"det-1").address: 500}


def _state(node: Node):
    with node.engine.connect() as c:
        txs = sorted(c.execute(sa.select(store.TX.c.id, store.TX.c.milestone, store.TX.c.conflicting)).all())
    return ({a: (x.balance, x.next_seq) for a, x in node.accounts.items() if x.balance or x.next_seq},
            [tuple(r) for r in txs], sorted((i, t.hex()) for i, t in node.milestones.items()))


def _history(tmp_path):
    rng = random.Random(7)
    ws = [Wallet.from_seed(b"det-%d" % i) for i in range(5)]
    node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'src.db'}", genesis=GENESIS,
                           difficulty=4, run_coordinator=False, rate_per_s=0))
    for step in range(60):
        w = rng.choice(ws)
        to = rng.choice(ws).address
        if step % 7 == 3:  # a double spend, both stored (as from two peers)
            a = transfer(node, w, to, rng.randint(1, 400))
            b = transfer(node, w, ws[0].address, rng.randint(1, 400), memo=b"twin")
            node.ingest_many([a, b], source="peer")
        else:
            node.ingest(transfer(node, w, to, rng.randint(1, 300)), source="peer")
        if step % 5 == 4:
            node.issue_milestone()
    settle(node)
    raws, _ = node.sync_since(0, 1000)
    state = _state(node)
    node.stop()
    return raws, state


def test_random_arrival_orders_give_one_ledger_state(tmp_path):
    raws, expected = _history(tmp_path)
    conflicting = sum(1 for _, _, c in expected[1] if c)
    assert conflicting >= 5, "the history must contain conflicts to resolve"
    rng = random.Random(11)
    seen = set()
    for k in range(ORDERS):
        order = raws[:]
        rng.shuffle(order)
        seen.add(tuple(order[:5]))
        node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / f'n{k}.db'}", genesis=GENESIS, difficulty=4,
                               run_coordinator=False, rate_per_s=0))
        i = 0
        while i < len(order):  # random chunk sizes: batches and single arrivals
            n = rng.randint(1, 12)
            node.ingest_many(order[i:i + n], source="peer")
            i += n
        assert _state(node) == expected, f"order {k} gave another ledger"
        assert node.supply() == 1500
        node.stop()
    assert len(seen) == ORDERS
