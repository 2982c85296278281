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

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.tangle.tx import GENESIS_ID, MILESTONE, VALUE, Tx


@dataclass
class Account:
    balance: int = 0
    next_seq: int = 0


def cone_order(root: bytes, parents_of: Callable[[bytes], tuple[bytes, ...]],
               done: Callable[[bytes], bool], root_parents: tuple[bytes, ...] | None = None) -> list[bytes]:
    """Post-order DFS from ``root`` over not-yet-confirmed transactions, parents ascending.

    ``root_parents`` stands in for ``parents_of(root)``: the coordinator orders the cone of a
    milestone it has not built yet (its root goes into the milestone)."""
    order: list[bytes] = []
    seen = {root}
    first = parents_of(root) if root_parents is None else root_parents
    stack: list[tuple[bytes, list[bytes]]] = [(root, sorted(set(first)))]
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


# ---------------------------------------------------------------- ledger-state commitments
#
# Each milestone carries ``ledger_root``: it commits, white-flag style, to what confirming its
# cone does to the ledger. Leaves, in cone order (the milestone itself excluded, since its id
# depends on the root): one per transaction (id and whether it was applied or conflicting),
# then one per touched account, by address, with its state after the milestone (balance,
# next sequence). The Merkle root of those leaves is chained with the previous milestone's
# root, and the chain starts at a hash of the network and genesis allocation, so a node that
# ever computed a different ledger (another genesis, another conflict decision, a balance
# that differs in an account the cone touches) gets a different root and can tell.

_LEAF, _NODE = b"\x00", b"\x01"
APPLIED, CONFLICTING, NOT_VALUE = 1, 2, 0


def _h(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32, person=b"tb-ledger").digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962-style binary Merkle root (leaf/node prefixes, an odd last node is promoted)."""
    if not leaves:
        return _h(b"")
    level = [_h(_LEAF + x) for x in leaves]
    while len(level) > 1:
        nxt = [_h(_NODE + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def mutation_leaves(txs: list[Tx], res: ConeResult) -> list[bytes]:
    """The leaves a milestone commits to: transactions in cone order, then touched accounts by address."""
    conflicting = set(res.conflicting)
    leaves = []
    for tx in txs:
        if tx.kind == MILESTONE:
            continue
        status = NOT_VALUE if tx.kind != VALUE else CONFLICTING if tx.id in conflicting else APPLIED
        leaves.append(b"tx" + tx.id + bytes([status]))
    for addr in sorted(res.touched):
        a = res.touched[addr]
        leaves.append(b"ac" + bytes.fromhex(addr) + a.balance.to_bytes(8, "big") + a.next_seq.to_bytes(8, "big"))
    return leaves


def genesis_root(network: int, alloc: dict[str, int]) -> bytes:
    """Where the commitment chain starts: the network id and its genesis allocation."""
    body = network.to_bytes(4, "big") + b"".join(bytes.fromhex(a) + v.to_bytes(8, "big")
                                                 for a, v in sorted(alloc.items()))
    return _h(b"genesis" + body)


def next_root(prev: bytes, index: int, leaves: list[bytes]) -> bytes:
    """Milestone ``index``'s ledger root: the previous root chained with this cone's mutations."""
    return _h(b"milestone" + prev + index.to_bytes(8, "big") + merkle_root(leaves))
