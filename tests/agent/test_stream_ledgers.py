"""The selectable stream ledger: the agent sells spans over Ethereum (MessageBoard) as over the tangle."""

from __future__ import annotations

import json

import pytest

from device_agent.config import AgentConfig
from device_agent.errors import AgentConfigError
from device_agent.runner import AgentRunner, init_agent
from tests.agent.conftest import PASSWORD, wait_for, wait_for_idle_rounds

PRICE = 5




@pytest.mark.parametrize("value, reason", [
    (["iota"], "unknown ledger 'iota'"),
    (["tangle", "bitcoin"], "unknown ledger 'bitcoin'"),
    ("ethereum", "must be a list"),
    ([1], "must be a list"),
    (["ethereum", "ethereum"], "twice"),
])
def test_stream_ledgers_outside_the_known_ledgers_are_refused(value, reason):
    with pytest.raises(AgentConfigError, match=reason):
        AgentConfig.from_dict({"stream_ledgers": value})


@pytest.mark.parametrize("value", [[], ["tangle"], ["ethereum"], ["ethereum", "tangle"]])
def test_stream_ledgers_accepts_each_ledger_and_both(value):
    assert AgentConfig.from_dict({"stream_ledgers": value}).stream_ledgers == value


def test_stream_ledgers_defaults_to_the_tangle():
    assert AgentConfig().validate().stream_ledgers == ["tangle"]


def test_init_sets_stream_ledgers_and_refuses_an_unknown_one_in_one_line(capsys, tmp_path):
    from device_agent.cli import main
    from device_agent.config import load_config

    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    base = ["--password-file", str(pw), "--data-dir"]
    assert main([*base, str(tmp_path / "bad"), "init", "--stream-ledgers", "tangle,iota"]) == 1
    err = capsys.readouterr().err
    assert "unknown ledger 'iota'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad" / "agent.json").exists()
    assert main([*base, str(tmp_path / "ok"), "init", "--stream-ledgers", "ethereum,tangle"]) == 0
    assert load_config(tmp_path / "ok").stream_ledgers == ["ethereum", "tangle"]


@pytest.mark.anvil
def test_buyer_buys_a_span_over_ethereum_reads_exactly_it_and_the_agent_withdraws(anvil_chain, tmp_path, capsys,
                                                                                   monkeypatch):
    from exchange.chain.deploy import deploy_all
    from exchange.chain.message_board import MessageBoardClient
    from exchange.chain.registry import RegistryClient
    from exchange.ledger.ethereum import EthereumLedger
    from exchange.streams import RegistryRecords, StreamBuyer

    chain = anvil_chain
    manifest, _ = deploy_all(chain, tmp_path / "deployments", fresh=True)
    board = manifest["contracts"]["MessageBoard"]["address"]
    cfg = AgentConfig(appliance="thermostat", seed=7, stream_ledgers=["ethereum"], stream_price_per_message=PRICE,
                      publish_every_seconds=0.3, withdraw_every_seconds=1)
    device_hex = init_agent(tmp_path / "thermo", PASSWORD, cfg, kdf_n=2**8)
    runner = AgentRunner(tmp_path / "thermo", PASSWORD, chain_url=chain.w3.provider.endpoint_uri, manifest=manifest,
                         sell=False, kdf_n=2**8)
    agent = runner.agent
    chain.w3.eth.send_transaction({"from": chain.deployer, "to": agent.address, "value": 10**19})
    try:
        runner.start()
        assert set(runner.publishers) == {"ethereum"}
        assert runner.publisher.address == agent.address  # paid to the device's own Ethereum account
        registry = RegistryRecords(RegistryClient.from_manifest(chain, manifest))
        buyer = StreamBuyer(EthereumLedger.connect(chain, board, chain.accounts[6]), registry=registry)
        # Not opted in yet: nothing is posted from the owner's account, so nothing is offered.
        wait_for_idle_rounds(runner.publishers["ethereum"], 4)
        assert buyer.offers(device_hex) == [] and chain.w3.eth.get_transaction_count(agent.address) == 0
        runner.agent.enable()
        offer = wait_for("the offer", lambda: buyer.offers(device_hex))[0]
        assert (offer.ledger, offer.pay_to, offer.price) == ("ethereum", agent.address, PRICE)

        purchase = buyer.buy(device_hex, 3, timeout=20)
        assert (purchase.sold, purchase.paid, purchase.refund) == (3, 3 * PRICE, 0)
        readings = list(buyer.follower(purchase).follow(timeout=15))
        assert [r.seq for r in readings] == list(range(purchase.root.seq, purchase.root.seq + 3))
        for r in readings:
            data = r.json()
            assert set(data) == {"t", *agent.profile.names()}
            assert data["roomTemperature"] == agent.simulator.read("roomTemperature", data["t"])
        assert [(s.payment_id, s.span) for s in agent.state.stream_sales()] == [(purchase.payment_ref, 3)]

        # The same over the CLI: `thingbid stream buy DEVICE --span 2 --ledger ethereum --follow`.
        from exchange.cli import main as thingbid

        monkeypatch.setenv("THINGBID_STREAM_PASSWORD", "purchase file password")
        capsys.readouterr()
        code = thingbid(["stream", "buy", device_hex, "--span", "2", "--ledger", "ethereum", "--rpc",
                         chain.w3.provider.endpoint_uri, "--board", board, "--registry", manifest["contracts"]["DeviceRegistry"]["address"],
                         "--account", chain.accounts[7],
                         "--out", str(tmp_path / "bought.json"), "--timeout", "20", "--follow"])
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert code == 0, lines
        assert (lines[0]["sold"], lines[0]["paid"]) == (2, 2 * PRICE)
        assert [x["seq"] for x in lines[1:]] == [lines[0]["first_message"], lines[0]["first_message"] + 1]
        assert len(agent.state.stream_sales()) == 2

        # Pull payment: the credit on the board moves to the device's account on the schedule.
        credits = MessageBoardClient(chain, board)
        wait_for("the withdrawal", lambda: credits.credit_of(agent.address) == 0)
        assert agent.state.cursor("last_stream_withdraw_ethereum") > 0
    finally:
        runner.stop()
    assert b"key" not in (tmp_path / "thermo" / "channels-ethereum.json").read_bytes()
    assert not (tmp_path / "thermo" / "channels.json").exists()  # no tangle channel was opened
