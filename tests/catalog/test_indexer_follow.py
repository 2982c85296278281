"""The indexer's follow loop (``python -m exchange.system.indexer``) outlives a failing pass (issue 13)."""

from __future__ import annotations

import threading
import time

import pytest

from exchange.catalog.indexer import Indexer
from exchange.system.indexer import follow


@pytest.fixture
def served_chain(tmp_path):
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all
    from exchange.chain.rpcserver import EmbeddedRpcServer

    chain = embedded_chain()
    deploy_all(chain, tmp_path / "deployments")
    srv = EmbeddedRpcServer(chain).start()
    try:
        yield srv.url, tmp_path / "deployments"
    finally:
        srv.stop()
        chain.close()


def test_the_follow_loop_survives_an_unexpected_error_in_one_pass_and_backs_off(served_chain, tmp_path,
                                                                                monkeypatch):
    """Only ExchangeError was caught: a database or decoding error from one pass ended the indexer."""
    url, deployments = served_chain
    real_sync = Indexer.sync
    passes: list[float] = []

    def flaky(self, *a, **kw):
        passes.append(time.monotonic())
        if len(passes) <= 3:
            raise RuntimeError("database is locked (say)")
        return real_sync(self, *a, **kw)

    monkeypatch.setattr(Indexer, "sync", flaky)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run():
        try:
            follow(url, deployments, f"sqlite:///{tmp_path / 'catalog.db'}", interval=0.05, stop=stop)
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            failure.append(exc)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while len(passes) < 5 and time.monotonic() < deadline and th.is_alive():
        time.sleep(0.05)
    stop.set()
    th.join(10)
    assert not failure, failure
    assert len(passes) >= 5
    gaps = [b - a for a, b in zip(passes, passes[1:4], strict=False)]
    assert gaps[1] > gaps[0] * 1.5, gaps  # a pass that keeps failing is retried further and further apart
