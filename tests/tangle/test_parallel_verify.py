"""Signature checks of big batches shared with worker processes give the same answers as in-thread."""

import pytest

from exchange.tangle import tx as txm
from exchange.tangle.errors import TangleRejected
from exchange.tangle.node import VERIFY_PARALLEL_MIN, Node, NodeConfig
from exchange.tangle.wallet import Wallet

BAD = {17, 80}


def _batch() -> list[bytes]:
    raws = []
    for i in range(VERIFY_PARALLEL_MIN + 40):
        raw = bytearray(txm.build(Wallet.from_seed(b"pv-%d" % (i % 8))._key, txm.DATA,
                                  txm.data_payload("pv", b"%d" % i), [txm.GENESIS_ID] * 2, network=1, difficulty=0))
        if i in BAD:
            raw[-8 - 64 + 5] ^= 0x40  # a signature byte
        raws.append(bytes(raw))
    raws.append(b"not a transaction at all")
    raws.append(bytes(raws[3]))  # a duplicate within the batch
    return raws


@pytest.mark.parametrize("workers", [0, 1])
def test_a_batch_gets_the_same_verdicts_with_and_without_worker_processes(tmp_path, workers):
    node = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'v.db'}", difficulty=0, run_coordinator=False,
                           rate_per_s=0, pow_free_rate=0, pow_free_rate_per_sender=0, verify_workers=workers))
    try:
        res = node.ingest_many(_batch(), source="api")
        refused = {i: r.reason for i, r in enumerate(res) if isinstance(r, TangleRejected)}
        n = VERIFY_PARALLEL_MIN + 40
        assert refused == {17: "bad signature", 80: "bad signature", n: "transaction too short",
                           n + 1: "duplicate transaction (replay)"}
        assert node.count == n - len(BAD)
        assert (node._verify_pool is not None) == bool(workers)
    finally:
        node.stop()
