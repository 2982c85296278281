"""Three node processes on loopback: double spend across nodes, SIGKILL mid-traffic and catch-up."""

import threading
import time

import pytest

from exchange.tangle.client import TangleClient
from exchange.tangle.errors import TangleError, TangleRejected
from exchange.tangle.testing import NodeProcess, free_port
from exchange.tangle.wallet import Wallet


def _until(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (TangleError, TangleRejected):  # not there yet (404) or restarting
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def three(tmp_path):
    ports = [free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = []
    try:
        for i, name in enumerate("abc"):
            procs.append(NodeProcess(tmp_path / f"{name}.db", ports[i], peers=[u for u in urls if u != urls[i]],
                                     run_coordinator=(i == 0), sync_interval=0.2).start())
        yield procs, [TangleClient(u) for u in urls]
    finally:
        for p in procs:
            p.stop()


def test_double_spend_to_two_nodes_confirms_exactly_one_everywhere(three):
    procs, (a, b, c) = three
    w = Wallet.generate()
    x, y = Wallet.generate().address, Wallet.generate().address
    fund = a.faucet(w.address, 100)
    for cl in (a, b, c):
        _until(lambda cl=cl: cl.get(fund)["confirmed"], what="funding on every node")
    first = w.transfer_bytes(b, x, 80, sequence=0)
    second = w.transfer_bytes(c, y, 70, sequence=0)
    id1, id2 = b.submit(first), c.submit(second)
    for cl in (a, b, c):
        for t in (id1, id2):
            _until(lambda cl=cl, t=t: cl.get(t)["milestone"] is not None, what="both spends referenced")
    views = [(cl.get(id1)["confirmed"], cl.get(id2)["confirmed"], cl.get(id1)["conflicting"],
              cl.get(id2)["conflicting"]) for cl in (a, b, c)]
    assert len(set(views)) == 1, views
    c1, c2, f1, f2 = views[0]
    assert c1 != c2 and f1 == c2 and f2 == c1, "exactly one spend confirmed, the other conflicting"
    balances = [(cl.balance(w.address), cl.balance(x), cl.balance(y)) for cl in (a, b, c)]
    assert len(set(balances)) == 1
    assert balances[0] == ((20, 80, 0) if c1 else (30, 0, 70))


def test_sigkilled_node_restarts_catches_up_and_lost_nothing_acknowledged(three):
    procs, (a, b, c) = three
    w_c, w_b = Wallet.generate(), Wallet.generate()
    acked_c: list[str] = []
    stop = threading.Event()

    def traffic():  # publish to node c until told to stop; record what c acknowledged
        cl = TangleClient(c.base_url, timeout=2)
        i = 0
        while not stop.is_set():
            try:
                acked_c.append(w_c.publish(cl, "load", b"%d" % i))
            except TangleError:
                time.sleep(0.05)
            i += 1

    th = threading.Thread(target=traffic)
    th.start()
    try:
        _until(lambda: len(acked_c) >= 40, what="traffic on c")
        procs[2].kill()  # SIGKILL mid-traffic
        n_acked = len(acked_c)
    finally:
        stop.set()
        th.join(10)
    assert len(acked_c) == n_acked  # nothing acknowledged after the kill
    during = [w_b.publish(b, "while-down", b"%d" % i) for i in range(15)]
    procs[2].start()
    c2 = TangleClient(procs[2].url)
    for t in acked_c:  # everything c acknowledged survived the kill
        assert c2.get(t)["id"] == t
    _until(lambda: all(c2.get(t)["milestone"] is not None for t in during[-3:]), what="c catching up")
    for t in during:
        assert c2.get(t)["id"] == t
    for cl in (a, b):  # and the rest of the network has what c acknowledged
        _until(lambda cl=cl: all(cl.get(t)["id"] == t for t in acked_c[-5:]), what="peers have c's txs")
    _until(lambda: c2.info()["latest_milestone"] >= a.info()["latest_milestone"] - 1, what="milestones synced")
    common = min(c2.info()["latest_milestone"], a.info()["latest_milestone"])
    assert [m["id"] for m in c2.milestones()][:common] == [m["id"] for m in a.milestones()][:common]
