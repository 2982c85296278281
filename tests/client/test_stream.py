"""``Exchange.stream()``: a span of a device's live stream bought on the chain's MessageBoard and
read as an iterator of verified, decrypted messages (issue 17), against a real agent on anvil."""

from __future__ import annotations

import pytest

from device_agent.config import AgentConfig
from device_agent.runner import AgentRunner, init_agent
from tests.agent.conftest import PASSWORD, wait_for

pytestmark = pytest.mark.anvil
PRICE = 5
BUYER_PASSWORD = "stream buyer passphrase"


def test_stream_yields_exactly_the_bought_span_as_verified_readings_of_the_device(anvil_chain, tmp_path):
    from exchange.chain.connect import create_keystore
    from exchange.chain.deploy import deploy_all
    from exchange.client import ClientError, Exchange
    from exchange.client.errors import ClientInputError

    chain = anvil_chain
    ddir = tmp_path / "deployments"
    manifest, _ = deploy_all(chain, ddir, fresh=True)
    keystore = tmp_path / "buyer.json"
    chain.send_value(create_keystore(keystore, BUYER_PASSWORD), 10**19)
    config = tmp_path / "client.toml"
    config.write_text(f'rpc_url = "{chain.w3.provider.endpoint_uri}"\ndatabase_url = "sqlite:///{tmp_path / "c.db"}"\n'
                      f'deployments_dir = "{ddir}"\nstate_dir = "{tmp_path / "state"}"\n')
    cfg = AgentConfig(appliance="thermostat", seed=7, stream_ledgers=["ethereum"], stream_price_per_message=PRICE,
                      publish_every_seconds=0.3, withdraw_every_seconds=60)
    device_hex = init_agent(tmp_path / "thermo", PASSWORD, cfg, kdf_n=2**8)
    runner = AgentRunner(tmp_path / "thermo", PASSWORD, chain_url=chain.w3.provider.endpoint_uri, manifest=manifest,
                         sell=False, kdf_n=2**8)
    chain.w3.eth.send_transaction({"from": chain.deployer, "to": runner.agent.address, "value": 10**19})
    try:
        runner.start()
        runner.agent.enable()
        with Exchange.connect(keystore=keystore, password=BUYER_PASSWORD, config=config) as ex:
            from exchange.chain.registry import RegistryClient
            from exchange.ledger.ethereum import EthereumLedger
            from exchange.streams import RegistryRecords, StreamBuyer

            # Another account only looks, so the client buys once the device's offer is posted.
            probe = StreamBuyer(EthereumLedger.connect(chain, manifest["contracts"]["MessageBoard"]["address"],
                                                       chain.accounts[6]),
                                registry=RegistryRecords(RegistryClient.from_manifest(chain, manifest)))
            wait_for("the device's stream offer", lambda: probe.offers(device_hex), 60)

            messages = list(ex.stream(device_hex, 3, timeout=30))
            assert len(messages) == 3
            seqs = [m.seq for m in messages]
            assert seqs == list(range(seqs[0], seqs[0] + 3))
            agent = runner.agent
            for m in messages:
                assert m.device_id.lower().removeprefix("0x") == device_hex.lower().removeprefix("0x")
                assert set(m.data) == {"t", *agent.profile.names()}
                assert m.data["roomTemperature"] == agent.simulator.read("roomTemperature", m.data["t"])
            assert [s.span for s in agent.state.stream_sales()] == [3]

            with pytest.raises(ClientInputError, match="ledger='ethereum'"):
                next(ex.stream(device_hex, 1, ledger="tangle"))
            assert issubclass(ClientInputError, ClientError)
            assert len(agent.state.stream_sales()) == 1  # the refusal bought nothing
    finally:
        runner.stop()
