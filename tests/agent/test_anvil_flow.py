"""End to end on a real anvil: enable -> check-in -> auction -> a bidder wins -> key delivered ->
properties read over HTTP with it -> refused once the period is over (chain time moved forward)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from device_agent.config import AgentConfig
from device_agent.runner import AgentRunner, init_agent
from exchange.chain.registry import RegistryClient
from tests.agent.conftest import PASSWORD, Bidder, wait_for

pytestmark = pytest.mark.anvil
BIDDING = 60
PERIOD = 3 * 86_400


def http_get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())




def test_enable_auction_deliver_read_then_refused_after_the_period(anvil_chain, tmp_path):
    from exchange.chain.deploy import deploy_all

    chain = anvil_chain
    manifest, _ = deploy_all(chain, tmp_path / "deployments", fresh=True)
    data_dir = tmp_path / "fridge"
    cfg = AgentConfig(appliance="fridge", seed=3, bidding_seconds=BIDDING, access_period_seconds=PERIOD,
                      reserve_price_wei=10**15)
    device_hex = init_agent(data_dir, PASSWORD, cfg, kdf_n=2**8)
    runner = AgentRunner(data_dir, PASSWORD, chain_url=chain.w3.provider.endpoint_uri, manifest=manifest,
                         sell_interval=0.2)
    address = runner.agent.address
    chain.w3.eth.send_transaction({"from": chain.deployer, "to": address, "value": 10**19})
    registry = RegistryClient.from_manifest(chain, manifest)
    bidder = Bidder(chain, manifest, chain.accounts[5])
    bidder.deposit(10**18)
    try:
        runner.start()
        # Serving, but not opted in: after three rounds of the selling loop, nothing on chain, no auction.
        ticks, tick = {"n": 0}, runner.seller.tick

        def counting_tick():
            ticks["n"] += 1
            return tick()

        runner.seller.tick = counting_tick
        wait_for("three rounds of the selling loop", lambda: ticks["n"] >= 3, 30)
        del runner.seller.tick
        assert not registry.is_active(bytes.fromhex(device_hex))
        assert runner.agent.state.auctions() == []
        runner.agent.enable()
        assert registry.is_active(bytes.fromhex(device_hex))
        status, td = http_get(runner.url + "/.well-known/wot")
        assert status == 200 and td["properties"]["temperature"]["forms"][0]["href"].startswith(runner.url)

        auction = wait_for("an auction", lambda: runner.agent.state.auctions())[0]
        bidder.bid(auction.auction_id, 2 * 10**15)
        chain.time_travel(BIDDING + 1)
        wait_for("the key delivery", lambda: bidder.delivered_keys(auction.auction_id))
        token = bidder.open_key(auction.auction_id)

        href = td["properties"]["temperature"]["forms"][0]["href"]
        req = urllib.request.Request(href, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:  # a bare value, as the TD's schema says
            value, t = json.loads(r.read()), int(r.headers["X-Reading-Time"])
        assert value == runner.agent.simulator.read("temperature", t)
        status, body = http_get(href, "tb1.forged.token")
        assert status == 401

        chain.time_travel(PERIOD + 1)
        status, body = wait_for("the refusal", lambda: (r := http_get(href, token))[0] != 200 and r)
        assert (status, body["error"]) == (403, "expired")
    finally:
        runner.stop()
