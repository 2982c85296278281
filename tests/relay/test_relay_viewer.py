"""The web app's data viewer reads a device through the relay: sealed to the device, verified against
its registry record; the relay carries nothing it can read."""

from __future__ import annotations

from exchange.crypto import AccessClaims, issue_token
from exchange.relay import server as relay_server
from frontend.device_data import DeviceKeys, DeviceNetworkPolicy, read_series
from tests.relay.test_relay_agent import registered


def test_the_data_viewer_reads_sealed_through_the_relay(relayed_runner, start_relay, deployed, monkeypatch):
    carried: list[bytes] = []
    real_frame = relay_server.request_frame
    monkeypatch.setattr(relay_server, "request_frame", lambda *a, **k: carried.append(real_frame(*a, **k)) or carried[-1])
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    signing_key, checkin = registered(deployed, agent)
    now = agent.clock()
    token = issue_token(agent.identity.ed25519_private, AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=now - 3600, not_after=now + 86_400))
    keys = DeviceKeys(agent.identity.device_id_hex, signing_key, bytes(checkin.args["x25519Key"]))
    out = read_series(agent.td(), token, now - 3600, now + 86_400, now=now,
                      policy=DeviceNetworkPolicy(["127.0.0.0/8"]), keys=keys)
    assert out["errors"] == [] and carried, out
    assert all(b"history" not in f and token.encode() not in f for f in carried)


def test_the_viewer_refuses_an_answer_the_device_did_not_sign(relayed_runner, start_relay, deployed):
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    _, checkin = registered(deployed, agent)
    now = agent.clock()
    token = issue_token(agent.identity.ed25519_private, AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=now - 3600, not_after=now + 86_400))
    wrong = DeviceKeys(agent.identity.device_id_hex, bytes(range(32)), bytes(checkin.args["x25519Key"]))
    out = read_series(agent.td(), token, now - 3600, now + 86_400, now=now,
                      policy=DeviceNetworkPolicy(["127.0.0.0/8"]), keys=wrong)
    assert out["series"] == [] and out["errors"] and all("not the device's" in e for e in out["errors"])
