"""A node-wot Thing and an MQTT sensor, each sold end to end the way an owner would (issue 16):
`device-agent init --source ...`, `thingbid fund`, `device-agent enable`, `device-agent doctor`,
then the agent runs on anvil: an auction, a winning bid, the key delivered, and a read with that
key that answers what the upstream published."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from device_agent.cli import main as device_agent
from exchange.cli import main as thingbid
from tests.agent.conftest import Bidder, wait_for

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
PW = "owner of a real appliance"
BIDDING = 60


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@dataclass
class Sold:
    """A device sold through the CLIs and running: its runner, the bought key, the CLI arguments."""

    runner: object
    token: str
    auction_id: int
    cli_base: list
    chain_args: list


@contextlib.contextmanager
def sold_device(tmp_path, anvil_chain, source_flags):
    """Init/fund/enable/doctor by the CLIs, then run the agent until a bidder wins a key (the
    system's own flow: auction, bid, sealed delivery on chain, opened by the winner)."""
    from device_agent.config import load_config, save_config
    from device_agent.runner import AgentRunner
    from exchange.chain.deploy import deploy_all

    manifest, _ = deploy_all(anvil_chain, tmp_path / "deployments", fresh=True)
    pwfile = tmp_path / "pw"
    pwfile.write_text(PW)
    d = tmp_path / "agent"
    base = ["--data-dir", str(d), "--password-file", str(pwfile)]
    chain_args = ["--rpc", anvil_chain.w3.provider.endpoint_uri, "--deployments-dir", str(tmp_path / "deployments")]

    def cli(main, args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(args)
        assert code == 0, (args, out.getvalue())
        return out.getvalue().splitlines()

    address = json.loads("".join(cli(device_agent, [*base, "init", *source_flags])))["address"]
    cfg = load_config(d)
    cfg.bidding_seconds = BIDDING
    save_config(d, cfg)
    cli(thingbid, ["fund", address, "--rpc", chain_args[1]])
    assert json.loads(cli(device_agent, [*base, "enable", *chain_args])[-1])["action"] == "checked_in"

    runner = AgentRunner(d, PW, chain_url=chain_args[1], manifest=manifest, sell_interval=0.2, streams=False)
    bidder = Bidder(anvil_chain, manifest, anvil_chain.accounts[5])
    bidder.deposit(10**18)
    try:
        runner.start()
        cli(device_agent, [*base, "doctor", "--json", *chain_args])
        auction = wait_for("an auction", lambda: runner.agent.state.auctions())[0]
        bidder.bid(auction.auction_id, 2 * 10**15)
        anvil_chain.time_travel(BIDDING + 1)
        wait_for("the key delivery", lambda: bidder.delivered_keys(auction.auction_id), 60)
        yield Sold(runner, bidder.open_key(auction.auction_id), auction.auction_id, base, chain_args)
    finally:
        runner.stop()


def sell_through_the_cli(tmp_path, anvil_chain, source_flags, publish, prop):
    """Sell the device, then read ``prop`` with the bought key until it answers what the upstream
    published; returns (value read with the key, value the upstream published)."""
    with sold_device(tmp_path, anvil_chain, source_flags) as sold:
        published = publish()
        href = sold.runner.agent.td()["properties"][prop]["forms"][0]["href"]

        def fresh():
            status, body = get(href, sold.token)
            assert status == 200, body
            return {"value": body} if body == published else None  # a bare value, as the TD's schema says

        return wait_for(f"{prop} as published", fresh, 30)["value"], published


def test_a_node_wot_thing_is_sold_end_to_end(tmp_path, anvil_chain, wot_thing, monkeypatch):
    thing = wot_thing("basic", "owner", "upstream-s3cret")
    monkeypatch.setenv("THINGBID_SOURCE_USERNAME", "owner")
    monkeypatch.setenv("THINGBID_SOURCE_PASSWORD", "upstream-s3cret")

    def publish():
        thing.set(temperature=6.75)
        return 6.75

    got, published = sell_through_the_cli(tmp_path, anvil_chain,
                                          ["--source", f"wot:{thing.td_url}", "--source-auth", "basic"],
                                          publish, "temperature")
    assert got == published == 6.75


def test_an_mqtt_sensor_is_sold_end_to_end(tmp_path, anvil_chain, mqtt_broker, mqtt_publisher, topic_prefix):
    host, port = mqtt_broker
    topic = f"{topic_prefix}/zigbee2mqtt/balcony"
    # A retained first message, as Zigbee2MQTT keeps, lets init learn the fields.
    mqtt_publisher.publish(topic, {"temperature": 11.0, "humidity": 70.0}, retain=True)

    def publish():
        mqtt_publisher.publish(topic, {"temperature": 12.25, "humidity": 68.0})
        return 12.25

    try:
        got, published = sell_through_the_cli(
            tmp_path, anvil_chain,
            ["--source", f"mqtt:mqtt://{host}:{port}#{topic}", "--unit", "temperature=degree Celsius",
             "--title", "Balcony sensor", "--discover-seconds", "10"], publish, "temperature")
    finally:
        mqtt_publisher.publish(topic, b"", retain=True)  # clear the retained message
    assert got == published == 12.25
