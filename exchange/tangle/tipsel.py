"""The in-memory DAG index and tip selection by weighted random walk (MCMC, whitepaper §4.1).

The walk starts at an entry point below the tips (a milestone a few milestones back, else
the genesis) and steps from a transaction to one of its approvers ``y`` with probability
proportional to ``exp(alpha * (W(y) - W_max))`` where ``W`` is cumulative weight (1 + the
number of transactions approving it directly or indirectly). It stops at a tip. Lazy tips
(whose newest parent is older than ``lazy_age_ms`` behind the newest transaction) are
never chosen. Only solid transactions (whole past cone present) take part.
"""

from __future__ import annotations

import math
import random
import threading
import time

from exchange.tangle.tx import GENESIS_ID


class Graph:
    """Parents, approvers, timestamps and solidity of every stored transaction."""

    def __init__(self):
        self.parents: dict[bytes, tuple[bytes, ...]] = {GENESIS_ID: ()}
        self.children: dict[bytes, list[bytes]] = {GENESIS_ID: []}
        self.ts: dict[bytes, int] = {GENESIS_ID: 0}
        self.solid: set[bytes] = {GENESIS_ID}
        self.waiting: dict[bytes, set[bytes]] = {}  # missing parent -> txs waiting for it
        self.tipset: set[bytes] = set()  # solid transactions no solid transaction approves yet
        self.newest_ts = 0
        self.version = 0
        self.lock = threading.RLock()

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self.parents

    def missing(self) -> list[bytes]:
        return [p for p in self.waiting if p not in self.parents]

    def add(self, tx_id: bytes, parents: tuple[bytes, ...], ts: int) -> list[bytes]:
        """Index a stored transaction; returns the ids that became solid (it and any waiting on it)."""
        with self.lock:
            self.parents[tx_id] = parents
            self.ts[tx_id] = ts
            self.children.setdefault(tx_id, [])
            for p in set(parents):
                self.children.setdefault(p, []).append(tx_id)
            self.newest_ts = max(self.newest_ts, ts)
            self.version += 1
            newly: list[bytes] = []
            todo = [tx_id]
            while todo:
                t = todo.pop()
                if t in self.solid:
                    continue
                ps = set(self.parents[t])
                absent = [p for p in ps if p not in self.solid]
                if absent:
                    for p in absent:
                        if p not in self.parents:
                            self.waiting.setdefault(p, set()).add(t)
                    continue
                self.solid.add(t)
                self.tipset.add(t)
                self.tipset.difference_update(ps)
                newly.append(t)
                todo.extend(self.waiting.pop(t, ()))
                todo.extend(c for c in self.children.get(t, ()) if c not in self.solid)
            return newly

    def remove(self, tx_id: bytes) -> None:
        """Forget a transaction that never became solid (its children wait for it again)."""
        with self.lock:
            if tx_id in self.solid or tx_id not in self.parents:
                return
            ps = self.parents.pop(tx_id)
            self.ts.pop(tx_id, None)
            kids = self.children.pop(tx_id, [])
            for p in set(ps):
                sib = self.children.get(p)
                if sib is not None and tx_id in sib:
                    sib.remove(tx_id)
                w = self.waiting.get(p)
                if w is not None:
                    w.discard(tx_id)
                    if not w:
                        del self.waiting[p]
            if kids:
                self.waiting.setdefault(tx_id, set()).update(kids)
            self.version += 1

    def add_entry_point(self, tx_id: bytes, ts: int) -> None:
        """A pruned, confirmed transaction that kept transactions still approve: solid, no parents."""
        with self.lock:
            self.parents[tx_id] = ()
            self.ts[tx_id] = ts
            self.children.setdefault(tx_id, [])
            self.solid.add(tx_id)
            self.version += 1

    def prune(self, ids: set[bytes]) -> set[bytes]:
        """Forget ``ids`` (confirmed history); those still approved by a kept transaction stay as
        solid entry points without parents. Returns the entry points among ``ids``."""
        entry: set[bytes] = set()
        with self.lock:
            for t in ids:
                for p in set(self.parents.get(t, ())):
                    if p not in ids:
                        sib = self.children.get(p)
                        if sib is not None and t in sib:
                            sib.remove(t)
            for t in ids:
                if t not in self.parents or t == GENESIS_ID:
                    continue
                live = [c for c in self.children.get(t, ()) if c not in ids]
                if live:
                    self.parents[t] = ()
                    self.children[t] = live
                    entry.add(t)
                else:
                    del self.parents[t]
                    self.children.pop(t, None)
                    self.ts.pop(t, None)
                    self.solid.discard(t)
                self.tipset.discard(t)
            self.version += 1
        return entry

    def is_tip(self, t: bytes) -> bool:
        return not any(c in self.solid for c in self.children.get(t, ()))

    def is_lazy(self, t: bytes, lazy_age_ms: int) -> bool:
        ps = self.parents.get(t, ())
        newest_parent = max((self.ts[p] for p in ps), default=0)
        return newest_parent < self.newest_ts - lazy_age_ms

    def tips(self) -> list[bytes]:
        return sorted(self.tipset)


class TipSelector:
    """Cumulative weights of the entry point's future cone (cached briefly) and the random walk."""

    def __init__(self, graph: Graph, alpha: float = 0.5, lazy_age_ms: int = 60_000, cache_ms: float = 30.0,
                 rng: random.Random | None = None):
        self.graph = graph
        self.alpha = alpha
        self.lazy_age_ms = lazy_age_ms
        self.cache_ms = cache_ms
        self.rng = rng or random.Random()
        self._cache: tuple | None = None  # (entry, version, made_at, weights)

    def weights(self, entry: bytes) -> dict[bytes, int]:
        g = self.graph
        c = self._cache
        if c and c[0] == entry and (c[1] == g.version or (time.monotonic() - c[2]) * 1000 < self.cache_ms):
            return c[3]
        with g.lock:
            version = g.version
            # post-order over approvers: every approver is finished before the one it approves
            order: list[bytes] = []
            seen = {entry}
            stack = [(entry, iter(g.children.get(entry, ())))]
            while stack:
                node, it = stack[-1]
                for ch in it:
                    if ch not in seen and ch in g.solid:
                        seen.add(ch)
                        stack.append((ch, iter(g.children.get(ch, ()))))
                        break
                else:
                    stack.pop()
                    order.append(node)
            bit = {t: 1 << i for i, t in enumerate(order)}
            mask: dict[bytes, int] = {}
            for t in order:
                m = bit[t]
                for ch in g.children.get(t, ()):
                    cm = mask.get(ch)
                    if cm is not None:
                        m |= cm
                mask[t] = m
            weights = {t: m.bit_count() for t, m in mask.items()}
        self._cache = (entry, version, time.monotonic(), weights)
        return weights

    def walk(self, entry: bytes) -> bytes:
        g = self.graph
        w = self.weights(entry)
        cur = entry
        for _ in range(100_000):
            cands = [c for c in g.children.get(cur, ()) if c in w
                     and not (g.is_tip(c) and g.is_lazy(c, self.lazy_age_ms))]
            if not cands:
                return cur
            if len(cands) == 1:
                cur = cands[0]
                continue
            top = max(w[c] for c in cands)
            probs = [math.exp(self.alpha * (w[c] - top)) for c in cands]
            cur = self.rng.choices(cands, probs)[0]
        return cur

    def select(self, entry: bytes, n: int = 2) -> list[bytes]:
        return sorted(self.walk(entry) for _ in range(n))
