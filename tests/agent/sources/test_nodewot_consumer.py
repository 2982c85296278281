"""A standard WoT client uses a sold device from its TD alone (issue 15): Eclipse Thingweb node-wot
(device_agent/nodewot_consumer.js), with a key bought through the system's own flow, reads every
property, invokes the history action and gets an event; it is refused without a key and with a
wrong, another device's, an expired and a revoked key."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest

from device_agent.cli import main as device_agent
from exchange.crypto import AccessClaims, generate_ed25519, issue_token
from tests.agent.sources.conftest import ROOT, NodeWotThing
from tests.agent.sources.test_sold_end_to_end import sold_device

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
CONSUMER_JS = ROOT / "device_agent" / "nodewot_consumer.js"
UPSTREAM_USER, UPSTREAM_PASSWORD = "owner", "upstream-s3cret"


class Consumer:
    """``node nodewot_consumer.js``: its JSON lines, as they come."""

    def __init__(self, td_url: str, key: str, *flags: str):
        self.proc = subprocess.Popen(["node", str(CONSUMER_JS), td_url, key, *flags], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(json.loads(ln)) for ln in self.proc.stdout],
                         daemon=True).start()

    def next(self, timeout: float = 60) -> dict:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"node-wot consumer said nothing in {timeout} s (exit {self.proc.poll()})") from None

    def finish(self) -> list[dict]:
        assert self.proc.wait(timeout=60) == 0
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return out


@pytest.fixture(scope="module")
def sold(anvil_process, tmp_path_factory):
    """A node-wot Thing (the upstream, which can emit events) sold through the CLIs; the bought key."""
    from exchange.chain.connect import rpc_chain

    thing = NodeWotThing("basic", UPSTREAM_USER, UPSTREAM_PASSWORD)
    mp = pytest.MonkeyPatch()
    mp.setenv("THINGBID_SOURCE_USERNAME", UPSTREAM_USER)
    mp.setenv("THINGBID_SOURCE_PASSWORD", UPSTREAM_PASSWORD)
    chain = rpc_chain(anvil_process.url, kind="anvil")
    snap = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        with sold_device(tmp_path_factory.mktemp("nodewot"), chain,
                         ["--source", f"wot:{thing.td_url}", "--source-auth", "basic"]) as s:
            s.thing = thing
            s.td_url = s.runner.url + "/.well-known/wot"
            yield s
    finally:
        chain.w3.provider.make_request("evm_revert", [snap])
        mp.undo()
        thing.close()


def test_node_wot_with_a_bought_key_reads_every_property_the_history_and_an_event_until_revoked(sold):
    td = sold.runner.agent.td()
    consumer = Consumer(sold.td_url, sold.token, "--event", "overheated", "--wait", "30")
    first = consumer.next()
    assert first.get("td", {}).get("id") == td["id"], first
    reads = consumer.next()
    assert reads["errors"] == {}  # node-wot checked every answer against the property's data schema
    assert set(reads["read"]) == set(td["properties"])
    assert reads["read"]["temperature"] == sold.thing.values.get("temperature", 4.5)
    history = consumer.next()["history"]  # node-wot checked it against the action's output schema
    assert history["property"] in td["properties"] and history["from"] <= history["to"]
    assert isinstance(history["readings"], list)
    assert consumer.next()["subscribed"] == "overheated"
    # The upstream emits until the device has relayed one (the agent's own upstream subscription
    # may still be settling when node-wot subscribes to the device).
    deadline = time.monotonic() + 30
    while consumer.lines.empty() and time.monotonic() < deadline:
        sold.thing.emit("overheated", {"temperature": 9.5})
        time.sleep(1)
    assert consumer.next() == {"event": {"temperature": 9.5}}
    consumer.finish()

    assert device_agent([*sold.cli_base, "revoke", "--auction", str(sold.auction_id)]) == 0
    refused = Consumer(sold.td_url, sold.token)
    refused.next()
    reads = refused.next()
    assert reads["read"] == {} and set(reads["errors"]) == set(td["properties"])
    assert all("forbidden" in m.lower() for m in reads["errors"].values()), reads  # 403 revoked


def _another_devices_key(sold) -> str:
    sk, _pk = generate_ed25519()
    now = int(time.time())
    return issue_token(sk, AccessClaims("ab" * 32, sold.auction_id, "0xB", now - 60, now + 86_400))


def _expired_key(sold) -> str:
    ident = sold.runner.agent.identity  # signed by the device itself: authentic, but its period is over
    now = sold.runner.agent.clock()
    return issue_token(ident.ed25519_private, AccessClaims(ident.device_id_hex, sold.auction_id, "0xB",
                                                           now - 7200, now - 3600))


def _wrong_key(sold) -> str:
    head, body, sig = sold.token.split(".")
    return f"{head}.{body}.{'A' * len(sig)}"


@pytest.mark.parametrize(("make_key", "refusal"), [
    (lambda sold: "-", "Unauthorized"),
    (_wrong_key, "Unauthorized"),
    (_another_devices_key, "Unauthorized"),
    (_expired_key, "Forbidden"),
], ids=["no-key", "wrong-key", "another-devices-key", "expired-key"])
def test_node_wot_is_refused_every_read_history_and_event(sold, make_key, refusal):
    td = sold.runner.agent.td()
    consumer = Consumer(sold.td_url, make_key(sold), "--event", "overheated", "--wait", "10")
    assert consumer.next()["td"]["id"] == td["id"]  # the TD is public
    reads = consumer.next()
    assert reads["read"] == {} and set(reads["errors"]) == set(td["properties"])
    assert all(refusal.lower() in m.lower() for m in reads["errors"].values()), reads
    assert refusal.lower() in consumer.next()["history_error"].lower()
    assert "event_error" in consumer.next()
    consumer.finish()
