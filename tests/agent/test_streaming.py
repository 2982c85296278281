"""Stream publishing and micro-sales on a real tangle node: a buyer pays, gets the root, reads its span."""

from __future__ import annotations

import pytest

from device_agent.runner import AgentRunner
from device_agent.streaming import StreamPublisher, tangle_ledger
from tests.agent.conftest import PASSWORD, wait_for, wait_for_idle_rounds


@pytest.fixture
def node(tmp_path):
    from exchange.tangle.testing import run_node

    with run_node(tmp_path / "tangle", rate_per_s=5000.0, rate_burst=10000) as (url, n):
        yield url


@pytest.fixture
def registry():
    """A DeviceRegistry on an eth-tester chain: buyers believe only offers that match a device's record."""
    from exchange.chain.connect import embedded_chain
    from exchange.chain.registry import RegistryClient

    chain = embedded_chain()
    try:
        yield RegistryClient.deploy(chain)
    finally:
        chain.close()


def registered_buyer(registry, agent, ledger):
    """A buyer on ``ledger`` who finds ``agent``'s device checked in at its tangle address (the runners
    here have no chain, so the test checks the device in for them)."""
    from exchange.streams import RegistryRecords, StreamBuyer
    from exchange.streams.testing import check_in

    check_in(registry, agent.identity.device_key, registry.chain.accounts[1], agent.tangle_address())
    return StreamBuyer(ledger, registry=RegistryRecords(registry))


def test_buyer_pays_and_reads_exactly_its_span_of_readings(node, make_agent, registry):
    from exchange.ledger.tangle import TangleLedger
    from exchange.tangle.client import TangleClient
    from exchange.tangle.wallet import Wallet

    agent = make_agent("s", "fridge", publish_every_seconds=0.2, stream_price_per_message=5)
    runner = AgentRunner(agent.data_dir, PASSWORD, tangle_url=node, kdf_n=2**8,  # no chain: serve + stream
                         enable=True).start()
    pub = runner.publisher
    assert pub.address == agent.tangle_address()
    try:
        client = TangleClient(node)
        buyer_ledger = TangleLedger(client, Wallet.generate())
        client.wait_confirmed(client.faucet(buyer_ledger.address, 1000))
        buyer = registered_buyer(registry, agent, buyer_ledger)
        purchase = buyer.buy(agent.identity.device_id_hex, 3, timeout=20)
        assert purchase.sold == 3 and purchase.paid == 15
        readings = list(buyer.follower(purchase).follow(timeout=15))
        assert len(readings) == 3
        for r in readings:
            data = r.json()
            assert set(data) == {"t", *agent.profile.names()}
            assert data["temperature"] == agent.simulator.read("temperature", data["t"])
        assert [s.span for s in agent.state.stream_sales()] == [3]
    finally:
        runner.stop()
    # Restart: the channel continues from the saved (encrypted) state; the sale is not made again.
    pub2 = StreamPublisher(agent, tangle_ledger(agent.identity, node), kdf_n=2**8)
    assert pub2.seller.writer("readings").seq == pub.seller.writer("readings").seq
    assert pub2.poll_sales() == []
    assert b"key" not in (agent.data_dir / "channels.json").read_bytes()


def test_nothing_is_advertised_published_or_sold_on_the_tangle_before_the_owner_enables(node, make_agent):
    from exchange.tangle.client import TangleClient

    agent = make_agent("n", "thermostat", publish_every_seconds=0.1)
    runner = AgentRunner(agent.data_dir, PASSWORD, tangle_url=node, kdf_n=2**8).start()  # not enabled
    try:
        client = TangleClient(node)

        def issued() -> int:
            items, _ = client.find(address=agent.tangle_address())
            return sum(1 for t in items if t["sender"] == agent.tangle_address())

        wait_for_idle_rounds(runner.publisher, 5)  # five rounds of the loop, each could have published
        assert runner.publisher.seller.writer("readings").seq == 0
        assert issued() == 0  # no advertisement, no stream message
        agent.record_consent()
        wait_for("publication after the opt-in", lambda: runner.publisher.seller.writer("readings").seq >= 2, 10)
        assert issued() >= 2
    finally:
        runner.stop()


def test_disable_withdraws_the_offer_and_refunds_a_payment_made_against_it(node, make_agent, registry):
    from exchange.ledger.tangle import TangleLedger
    from exchange.streams import SaleRefused
    from exchange.tangle.client import TangleClient
    from exchange.tangle.wallet import Wallet

    agent = make_agent("w", "fridge", publish_every_seconds=0.2, stream_price_per_message=5)
    runner = AgentRunner(agent.data_dir, PASSWORD, tangle_url=node, kdf_n=2**8, enable=True).start()
    try:
        client = TangleClient(node)
        buyer_ledger = TangleLedger(client, Wallet.generate())
        client.wait_confirmed(client.faucet(buyer_ledger.address, 1000))
        buyer = registered_buyer(registry, agent, buyer_ledger)
        dev = agent.identity.device_id_hex
        offer = wait_for("the offer", lambda: buyer.offers(dev) and buyer.offer(dev), 15)
        assert runner.agent.disable()["action"] == "consent_withdrawn"  # no chain: nothing to check out
        wait_for("the withdrawal", lambda: buyer.offers(dev) == [], 15)
        seq = runner.publisher.seller.writer("readings").seq
        req, ref, paid = buyer.pay(offer, 3)  # against the offer seen before
        with pytest.raises(SaleRefused) as refused:
            buyer.await_answer(offer, req, ref, paid, timeout=20)
        assert (refused.value.reason, refused.value.refund) == ("not_selling", 15)
        wait_for("the refund", lambda: client.balance(buyer_ledger.address) == 1000, 15)
        assert runner.publisher.seller.writer("readings").seq == seq  # nothing published while disabled
        assert [s.span for s in agent.state.stream_sales()] == [0]
    finally:
        runner.stop()


def test_restart_after_a_crash_continues_the_channel_after_unsaved_messages(node, make_agent):
    agent = make_agent("c", "tv")
    pub = StreamPublisher(agent, tangle_ledger(agent.identity, node), kdf_n=2**8)
    pub.publish_once()
    pub.save()
    for _ in range(3):  # published, then the power went out before the next save
        pub.publish_once()
    seq = pub.seller.writer("readings").seq
    again = StreamPublisher(agent, tangle_ledger(agent.identity, node), kdf_n=2**8)
    assert again.seller.writer("readings").seq == seq == 4
    assert again.publish_once()


def test_the_stream_loop_survives_an_unexpected_error_from_one_pass(node, make_agent, monkeypatch):
    """Only ExchangeError was caught: any other exception from one pass (here a ValueError as a
    malformed payment could raise) ended the publishing thread for good."""
    calls = {"n": 0}
    real_poll = StreamPublisher.poll_sales

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a payment this code did not expect")
        return real_poll(self)

    monkeypatch.setattr(StreamPublisher, "poll_sales", flaky)
    agent = make_agent("flaky", "thermostat", publish_every_seconds=0.1)
    agent.record_consent()
    runner = AgentRunner(agent.data_dir, PASSWORD, tangle_url=node, kdf_n=2**8).start()
    try:
        wait_for("publications after the failing pass", lambda: runner.publisher.seller.writer("readings").seq >= 3, 15)
        assert calls["n"] > 1
        assert all(t.is_alive() for t in runner.threads)
    finally:
        runner.stop()
