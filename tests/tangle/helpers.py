"""Build signed transactions straight against an in-process Node (no HTTP)."""

from __future__ import annotations

from exchange.tangle import tx as txm
from exchange.tangle.node import Node, dev_key
from exchange.tangle.wallet import Wallet


def faucet_wallet(network: int = 1) -> Wallet:
    return Wallet(dev_key(network, "faucet"))


def transfer(node: Node, w: Wallet, to: str, amount: int, seq: int | None = None, memo: bytes = b"") -> bytes:
    info = node.account_info(w.address)
    seq = info["next_sequence"] if seq is None else seq
    parents = set(node.select_tips(2))
    if info["last_pending"]:
        parents.add(info["last_pending"])
    parents = sorted(parents)[:8]
    if len(parents) < 2:
        parents *= 2
    return txm.build(w._key, txm.VALUE, txm.value_payload(to, amount, seq, memo), parents,
                     network=node.config.network, difficulty=node.config.difficulty)


def settle(node: Node, limit: int = 200) -> None:
    """Issue milestones until every stored transaction is referenced by one."""
    for _ in range(limit):
        if not node.unconfirmed:
            return
        node.issue_milestone()
    raise AssertionError(f"{len(node.unconfirmed)} transactions never confirmed")
