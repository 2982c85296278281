"""Hypothesis state machine: the node's confirmed balances against a plain dict model.

Honest transfers spend at most the sender's confirmed balance minus its pending spends, so
they are valid in any cone order; overspends exceed everything the sender could hold, so
they must end conflicting; double spends (same sequence twice) must end with exactly one
confirmed. After each settlement the node's balances equal the model's, supply is
conserved and no balance is negative.

Which half of a double spend wins depends on transaction ids (timestamps, PoW nonces), so
the model's balances differ from run to run. No rule may therefore be *selected* by that
state: a ``@precondition`` reading it made Hypothesis see different rule choices for the
same draws (FlakyStrategyDefinition in CI). Such checks live in the rule bodies instead.
The default run is derandomized; ``THINGBID_TANGLE_SM=NxM`` runs N random sequences of up
to M steps.
"""

import os
import tempfile
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exchange.tangle.errors import TangleRejected
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.wallet import Wallet
from tests.tangle.helpers import settle, transfer

N_WALLETS = 4
SUPPLY = 10_000
STATS = {"runs": 0, "steps": 0, "violations": 0, "transfers": 0, "overspends": 0, "double_spends": 0,
         "replays": 0, "settled_pairs": 0}
_DIR = tempfile.mkdtemp(prefix="tangle-sm-")


def check(cond, msg="invariant violated"):
    """Count, then fail (Hypothesis shrinks the failing sequence)."""
    if not cond:
        STATS["violations"] += 1
        raise AssertionError(msg)


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        STATS["runs"] += 1
        self.wallets = [Wallet.from_seed(b"sm-%d" % i) for i in range(N_WALLETS)]
        alloc = {self.wallets[0].address: SUPPLY}
        self.node = Node(NodeConfig(db_url=f"sqlite:///{_DIR}/{uuid.uuid4().hex}.db", genesis=alloc,
                                    difficulty=4, run_coordinator=False, rate_per_s=0))
        self.model = {w.address: 0 for w in self.wallets} | alloc
        self.pending_out = {w.address: 0 for w in self.wallets}
        self.expect: list[tuple[bytes, str]] = []  # (id, "confirmed"|"conflicting"|"pair")
        self.pairs: list[tuple[bytes, bytes, str, str, int, int]] = []
        self.honest: list[tuple[str, str, int]] = []
        self.settled_raws: list[bytes] = []  # every settled transaction, confirmed or conflicting

    def teardown(self):
        try:  # settle what the sequence left pending, so every double spend it made is checked
            if getattr(self, "node", None) is not None and (self.pairs or self.expect or self.honest):
                settle(self.node)
                self._check_settled()
        finally:
            if getattr(self, "node", None) is not None:
                self.node.stop()

    def _spendable(self, w):
        return self.model[w.address] - self.pending_out[w.address]

    @rule(src=st.integers(0, N_WALLETS - 1), dst=st.integers(0, N_WALLETS - 1), frac=st.floats(0.01, 1.0))
    def honest_transfer(self, src, dst, frac):
        STATS["steps"] += 1
        w = self.wallets[src]
        amount = int(self._spendable(w) * frac)
        if amount <= 0:
            return
        t = self.node.ingest(transfer(self.node, w, self.wallets[dst].address, amount), source="api")
        self.pending_out[w.address] += amount
        self.honest.append((w.address, self.wallets[dst].address, amount))
        self.expect.append((t.id, "confirmed"))
        STATS["transfers"] += 1

    @rule(src=st.integers(0, N_WALLETS - 1), dst=st.integers(0, N_WALLETS - 1))
    def overspend(self, src, dst):
        STATS["steps"] += 1
        w = self.wallets[src]
        if self.pairs or any(k == "conflicting" for _, k in self.expect) or self.pending_out[w.address]:
            return  # keep the sequence arithmetic simple: only from a settled account
        t = self.node.ingest(transfer(self.node, w, self.wallets[dst].address, SUPPLY + 1), source="api")
        self.expect.append((t.id, "conflicting"))
        STATS["overspends"] += 1
        settle(self.node)  # resolve before the sequence could be reused
        self._check_settled()

    @rule(src=st.integers(0, N_WALLETS - 1), a=st.integers(0, N_WALLETS - 1), b=st.integers(0, N_WALLETS - 1))
    def double_spend(self, src, a, b):
        STATS["steps"] += 1
        w = self.wallets[src]
        amount = self._spendable(w)
        if amount <= 0 or self.pending_out[w.address]:
            return
        r1 = transfer(self.node, w, self.wallets[a].address, amount)
        r2 = transfer(self.node, w, self.wallets[b].address, max(1, amount // 2), memo=b"second")
        t1 = self.node.ingest(r1, source="api")
        t2 = self.node.ingest(r2, source="peer")  # the same node may refuse it from the API; a peer may not
        self.pairs.append((t1.id, t2.id, self.wallets[a].address, self.wallets[b].address, amount,
                           max(1, amount // 2)))
        self.pending_out[w.address] += amount
        STATS["double_spends"] += 1

    @rule(pick=st.integers(0, 2**16))
    def replay_settled(self, pick):
        STATS["steps"] += 1
        if not self.settled_raws:
            return
        before = (self.node.count, dict((k, v.balance) for k, v in self.node.accounts.items()))
        with pytest.raises(TangleRejected) as exc:
            self.node.ingest(self.settled_raws[pick % len(self.settled_raws)], source="api")
        check(exc.value.status == 409)
        check(before == (self.node.count, dict((k, v.balance) for k, v in self.node.accounts.items())))
        STATS["replays"] += 1

    @rule()
    def milestone(self):
        STATS["steps"] += 1
        settle(self.node)
        self._check_settled()

    def _check_settled(self):
        for src, dst, amount in self.honest:
            self.model[src] -= amount
            self.model[dst] += amount
            self.pending_out[src] -= amount
        self.honest.clear()
        for t1, t2, a, b, x1, x2 in self.pairs:
            g1, g2 = self.node.get(t1.hex()), self.node.get(t2.hex())
            check(g1["confirmed"] != g2["confirmed"], "exactly one of a double spend confirms")
            check(g1["conflicting"] != g2["conflicting"])
            self.settled_raws += [self.node.get_raw(t1.hex()), self.node.get_raw(t2.hex())]
            src = g1["payload"]["from"]
            dst, amt = (a, x1) if g1["confirmed"] else (b, x2)
            self.model[src] -= amt
            self.model[dst] += amt
            self.pending_out[src] -= x1
            STATS["settled_pairs"] += 1
        self.pairs.clear()
        for tid, kind in self.expect:
            g = self.node.get(tid.hex())
            check(g["milestone"] is not None)
            check(g["conflicting"] == (kind == "conflicting"), (kind, g))
            self.settled_raws.append(self.node.get_raw(tid.hex()))
        self.expect.clear()
        for addr, bal in self.model.items():
            check(self.node.balance(addr) == bal, "node balance differs from the model")

    @invariant()
    def supply_conserved_and_no_negative_balance(self):
        check(self.node.supply() == SUPPLY)
        check(all(a.balance >= 0 for a in self.node.accounts.values()))


_RUN = os.environ.get("THINGBID_TANGLE_SM")
EXAMPLES, STEPS = (int(n) for n in (_RUN or "100x30").lower().split("x"))
LedgerMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                           derandomize=_RUN is None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestLedgerMachine = LedgerMachine.TestCase


def test_zz_report_state_machine_run():
    """Prints the run size; any violation would have failed TestLedgerMachine above."""
    if STATS["runs"] == 0:
        pytest.skip("state machine not run in this session")
    print(f"\ntangle state machine: {STATS['runs']} sequences x up to {STEPS} steps ({STATS['steps']} steps run), "
          f"violations {STATS['violations']}")
    assert STATS["steps"] > STATS["runs"]
    assert STATS["violations"] == 0
    # Every rule can return early (nothing to spend, a pair pending): the run must still have done
    # each kind of step, or the invariants were only checked on an idle ledger.
    print(f"effective steps: {STATS}")
    # The draws are derandomized, but the counts still vary from run to run: which half of a
    # double spend wins (by transaction id) changes balances and so which rules return early.
    # The floor is far below the usual counts (80-250 each here) for that reason.
    if _RUN is None:
        for what in ("transfers", "overspends", "double_spends", "replays", "settled_pairs"):
            assert STATS[what] >= 20, f"the state machine did too few {what}: {STATS}"
