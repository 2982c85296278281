"""A standard WoT consumer reads a device through the relay from its TD alone (issue 20): Eclipse
Thingweb node-wot (device_agent/nodewot_consumer.js) fetches the TD at RELAY/devices/<id>, reads
every property, reads all at once and invokes the history action; the device refuses it without a key."""

from __future__ import annotations

import json
import subprocess

from exchange.crypto import AccessClaims, issue_token
from tests.agent.sources.conftest import ROOT

CONSUMER_JS = ROOT / "device_agent" / "nodewot_consumer.js"


def consume(td_url: str, key: str, *flags: str) -> list[dict]:
    done = subprocess.run(["node", str(CONSUMER_JS), td_url, key, *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert done.returncode == 0, (lines, done.stderr[-2000:])
    return lines


def test_node_wot_reads_a_device_through_the_relay(relayed_runner, start_relay):
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    now = agent.clock()
    key = issue_token(agent.identity.ed25519_private, AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=now - 3600, not_after=now + 86_400))
    td_url = f"{relay.url}/devices/{agent.identity.device_id_hex}/.well-known/wot"
    td, read, history, read_all = consume(td_url, key, "--read-all", "2")
    assert td["td"]["id"] == f"urn:thingbid:device:{agent.identity.device_id_hex}"
    assert read["errors"] == {} and set(read["read"]) == set(agent.profile.names())
    assert isinstance(read["read"]["temperature"], float)
    assert history["history"]["property"] in agent.profile.names() and isinstance(history["history"]["readings"], list)
    assert len(read_all["read_all_ms"]) == 2
    _, refused, *_ = consume(td_url, "-")
    assert refused["read"] == {} and set(refused["errors"]) == set(agent.profile.names())
