"""Fixtures for the device agent: agents in temporary data dirs, deployed registries."""

from __future__ import annotations

import time

import pytest

PASSWORD = "correct horse battery staple"
CLI_PASSWORD = "cli password"  # what the `pwfile` fixture holds for `device-agent --password-file`


@pytest.fixture
def pwfile(tmp_path):
    """A password file for the CLI's --password-file."""
    p = tmp_path / "pw.txt"
    p.write_text(CLI_PASSWORD + "\n")
    return str(p)


def run_cli(capsys, *argv):
    """Run `device-agent ARGV...` in process: (exit code, stdout, stderr)."""
    from device_agent.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def make_agent(tmp_path):
    """Factory: a DeviceAgent with a fresh identity in tmp_path/<name> (fast KDF for tests)."""
    from eth_account import Account

    from device_agent.agent import DeviceAgent
    from device_agent.config import AgentConfig, save_config
    from device_agent.identity import create_identity

    made = []

    def make(name: str = "dev", appliance: str = "fridge", **config):
        data_dir = tmp_path / name
        key = Account.create().key
        ident = create_identity(data_dir, PASSWORD, eth_private_key=bytes(key), scrypt_n=2**8)
        from exchange.chain.anvil import free_port

        config.setdefault("http_port", free_port())  # a TD on port 0 may not go on chain
        cfg = AgentConfig(appliance=appliance, **config).validate()
        save_config(data_dir, cfg)
        agent = DeviceAgent(data_dir, PASSWORD, identity=ident)
        agent.eth_key = bytes(key)  # tests add it to eth-tester; never done outside tests
        made.append(agent)
        return agent

    yield make
    for a in made:
        a.close()


@pytest.fixture(scope="module")
def _deployed_once(tmp_path_factory):
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all

    chain = embedded_chain()
    manifest, _ = deploy_all(chain, tmp_path_factory.mktemp("deployments"), fresh=True)
    yield chain, manifest
    chain.close()


@pytest.fixture
def deployed(_deployed_once):
    """(chain, manifest): the whole DEPLOY_PLAN on eth-tester, deployed once per module and
    reverted to that state after each test."""
    import copy

    chain, manifest = _deployed_once
    snap = chain.tester.take_snapshot()
    yield chain, copy.deepcopy(manifest)
    chain.tester.revert_to_snapshot(snap)


def fund_embedded(chain, agent, wei: int = 10**20) -> None:
    """Make the agent's own account usable on eth-tester (unlocked there, with ether for gas)."""
    chain.tester.add_account("0x" + agent.eth_key.hex())
    chain.w3.eth.send_transaction({"from": chain.deployer, "to": agent.address, "value": wei})


class Bidder:
    """A data scientist on the chain: deposit, X25519 key, bids, and opening the delivered key."""

    def __init__(self, chain, manifest, account):
        from exchange.chain.auction import AuctionHouseClient
        from exchange.crypto import generate_x25519

        self.chain, self.account = chain, account
        self.house = AuctionHouseClient.from_manifest(chain, manifest)
        self.x_sk, self.x_pk = generate_x25519()
        self.house.register_buyer_key(self.x_pk, sender=account)

    def deposit(self, wei):
        self.house.deposit(wei, sender=self.account)

    def bid(self, auction_id, wei):
        self.house.bid(auction_id, wei, sender=self.account)

    def delivered_keys(self, auction_id):
        return [e for e in self.house.events(names={"KeyDelivered"}) if e.args["auctionId"] == auction_id]

    def open_key(self, auction_id) -> str:
        from exchange.crypto import open_sealed
        from exchange.crypto.delivery import key_context

        (ev,) = self.delivered_keys(auction_id)
        return open_sealed(self.x_sk, ev.args["sealedKey"], key_context(auction_id)).decode()


def wait_for(what, predicate, timeout=30.0):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_idle_rounds(publisher, rounds: int = 5, timeout: float = 30.0) -> None:
    """Wait until ``publisher``'s loop has asked for the owner's consent ``rounds`` more times: a
    disabled publisher has then had that many chances to advertise, publish or sell (a fixed sleep
    may give a loaded machine's thread none)."""
    seen = {"n": 0}
    consented = publisher._consented

    def counting() -> bool:
        seen["n"] += 1
        return consented()

    publisher._consented = counting
    try:
        wait_for(f"{rounds} rounds of the stream loop", lambda: seen["n"] >= rounds, timeout)
    finally:
        del publisher._consented
