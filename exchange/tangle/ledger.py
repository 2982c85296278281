"""Deterministic confirmation: milestone cones in a fixed depth-first order, first spend wins.

Pure logic (no I/O). For milestone ``n`` the cone is every transaction reachable from it that
no earlier milestone confirmed. It is walked depth first, parents in ascending id order,
each transaction emitted after its parents (post-order), the milestone last. Transfers are
applied in that order against the account state: a transfer whose sequence is not the
sender's next sequence, or whose amount exceeds the sender's balance, is marked conflicting
for good and moves nothing. Every node sees the same milestones, so every node computes
the same ledger whatever order the transactions arrived in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.tangle.tx import GENESIS_ID, VALUE, Tx


@dataclass
class Account:
    balance: int = 0
    next_seq: int = 0


def cone_order(root: bytes, parents_of: Callable[[bytes], tuple[bytes, ...]],
               done: Callable[[bytes], bool]) -> list[bytes]:
    """Post-order DFS from ``root`` over not-yet-confirmed transactions, parents ascending."""
    order: list[bytes] = []
    seen = {root}
    stack: list[tuple[bytes, list[bytes]]] = [(root, sorted(set(parents_of(root))))]
    while stack:
        node, pending = stack[-1]
        while pending:
            p = pending.pop(0)
            if p == GENESIS_ID or p in seen or done(p):
                continue
            seen.add(p)
            stack.append((p, sorted(set(parents_of(p)))))
            break
        else:
            stack.pop()
            order.append(node)
    return order


@dataclass
class ConeResult:
    confirmed: list[bytes] = field(default_factory=list)
    conflicting: list[bytes] = field(default_factory=list)
    touched: dict[str, Account] = field(default_factory=dict)


def apply_cone(txs: list[Tx], account: Callable[[str], Account]) -> ConeResult:
    """Apply transactions in cone order; ``account(addr)`` gives the current state (not mutated)."""
    res = ConeResult()

    def acct(addr: str) -> Account:
        a = res.touched.get(addr)
        if a is None:
            cur = account(addr)
            a = res.touched[addr] = Account(cur.balance, cur.next_seq)
        return a

    for tx in txs:
        res.confirmed.append(tx.id)
        if tx.kind != VALUE:
            continue
        src = acct(tx.sender)
        if tx.sequence != src.next_seq or tx.amount > src.balance:
            res.conflicting.append(tx.id)
            continue
        src.next_seq += 1
        src.balance -= tx.amount
        acct(tx.to.hex()).balance += tx.amount
    return res
