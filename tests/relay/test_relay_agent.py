"""The agent behind a relay: dials out, its TD on chain names only relays, and buyers read it end to
end protected (the relay can neither read sealed requests nor forge or replay answers)."""

from __future__ import annotations

import json

import pytest

from device_agent.config import AgentConfig
from device_agent.errors import AgentConfigError
from exchange.chain.registry import RegistryClient
from exchange.crypto import AccessClaims, issue_token
from exchange.relay import server as relay_server
from exchange.relay.client import read_device
from exchange.relay.e2e import AnswerError
from exchange.relay.protocol import decode_frame, encode_frame
from tests.agent.conftest import pwfile, run_cli  # noqa: F401
from tests.relay.conftest import get_json, wait_for


def key_for(agent) -> str:
    now = agent.clock()
    return issue_token(agent.identity.ed25519_private, AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=now - 3600, not_after=now + 86_400))


def registered(deployed, agent):
    chain, manifest = deployed
    reg = RegistryClient.from_manifest(chain, manifest)
    (checkin,) = [e for e in reg.events() if e.name == "DeviceCheckedIn" and e.args["deviceId"] == agent.device_id]
    return reg.signing_key_of(agent.device_id), checkin


def test_the_td_on_chain_names_every_relay_and_never_the_home(relayed_runner, start_relay, deployed):
    r1, r2 = start_relay(), start_relay()
    runner = relayed_runner([r1, r2])
    agent = runner.agent
    _, checkin = registered(deployed, agent)
    td_text = checkin.args["td"].decode()
    td = json.loads(td_text)
    hexid = agent.identity.device_id_hex
    assert td["base"] == f"{r1.url}/devices/{hexid}/"
    assert [f["href"] for f in td["properties"]["temperature"]["forms"]] == [
        f"{r.url}/devices/{hexid}/properties/temperature" for r in (r1, r2)]
    assert runner.url not in td_text and f":{runner.server.server_port}" not in td_text


def test_a_buyer_reads_through_either_relay_and_verifies_the_device_signature(relayed_runner, start_relay, deployed):
    r1, r2 = start_relay(), start_relay()
    agent = relayed_runner([r1, r2]).agent
    signing_key, checkin = registered(deployed, agent)
    for relay in (r1, r2):
        for sealed in (False, True):
            ans = read_device(f"{relay.url}/devices/{agent.identity.device_id_hex}/properties/temperature",
                              device_id_hex=agent.identity.device_id_hex, signing_key=signing_key,
                              token=key_for(agent), x25519_key=checkin.args["x25519Key"], sealed=sealed)
            assert ans.status == 200 and isinstance(ans.json(), float)
            assert ans.claims["p"] == "/properties/temperature"


def test_the_relay_sees_no_path_key_or_data_of_a_sealed_request(relayed_runner, start_relay, deployed, monkeypatch):
    seen: list[bytes] = []
    real_frame, real_deliver = relay_server.request_frame, relay_server.AgentLink.deliver
    monkeypatch.setattr(relay_server, "request_frame", lambda *a, **k: seen.append(real_frame(*a, **k)) or seen[-1])
    monkeypatch.setattr(relay_server.AgentLink, "deliver", lambda self, data: (seen.append(data), real_deliver(self, data))[1])
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    signing_key, checkin = registered(deployed, agent)
    token = key_for(agent)
    ans = read_device(f"{relay.url}/devices/{agent.identity.device_id_hex}/properties?names=temperature",
                      device_id_hex=agent.identity.device_id_hex, signing_key=signing_key, token=token,
                      x25519_key=checkin.args["x25519Key"])
    assert ans.status == 200
    carried = b"".join(seen)
    assert len(seen) == 2 and token.encode() not in carried and token.split(".")[2].encode() not in carried
    value = json.dumps(ans.json()["temperature"]).encode()
    assert b"temperature" not in carried and b"names=" not in carried and value not in carried
    request_body, answer_body = decode_frame(seen[0]).body, decode_frame(seen[1]).body
    assert len(request_body) % 512 == 60 and (len(answer_body) - 28) % 512 == 0  # sizes rounded up


def _tampering(monkeypatch, change):
    real_deliver = relay_server.AgentLink.deliver

    def deliver(self, data):
        frame = decode_frame(data)
        header, body = change(frame.header, frame.body)
        return real_deliver(self, encode_frame(header, body))

    monkeypatch.setattr(relay_server.AgentLink, "deliver", deliver)


def _flip_last(header, body):
    return header, body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]


replayed: dict = {}


def _replay(header, body):
    replayed.setdefault("first", (dict(header), body))
    old_header, old_body = replayed["first"]
    return {**old_header, "id": header["id"]}, old_body


@pytest.mark.parametrize("sealed", [False, True], ids=["signed", "sealed"])
@pytest.mark.parametrize("change", [_flip_last, _replay], ids=["altered-body", "replayed-answer"])
def test_a_relay_that_alters_or_replays_answers_is_caught(relayed_runner, start_relay, deployed, monkeypatch,
                                                          sealed, change):
    replayed.clear()
    _tampering(monkeypatch, change)
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    signing_key, checkin = registered(deployed, agent)
    url = f"{relay.url}/devices/{agent.identity.device_id_hex}/properties/temperature"
    kwargs = dict(device_id_hex=agent.identity.device_id_hex, signing_key=signing_key, token=key_for(agent),
                  x25519_key=checkin.args["x25519Key"], sealed=sealed)
    if change is _replay:
        read_device(url, **kwargs)  # the first answer is genuine; the relay keeps it
    expected = ("does not open with the reply key" if sealed else
                "field 'h'" if change is _flip_last else "field 'n'")
    with pytest.raises(AnswerError, match=expected):
        read_device(url, **kwargs)


def test_the_relay_answers_for_an_agent_that_stopped(relayed_runner, start_relay):
    relay = start_relay()
    runner = relayed_runner([relay])
    runner.relay_connector.stop()
    runner.relay_connector = None
    wait_for("the relay to notice", lambda: not relay.relay.links, 10)
    status, headers, body = get_json(f"{relay.url}/devices/{runner.agent.identity.device_id_hex}/properties")
    assert (status, body["error"]) == (503, "device_offline") and "Retry-After" in headers


@pytest.mark.parametrize("relays, message", [
    (["ftp://relay.example"], "must start with http:// or https://"),
    (["https://user:pw@relay.example"], "must not contain user info"),
    (["https://relay.example?x=1"], "must have no query"),
    (["https://relay.example:99999"], "bad port"),
    (["https://relay.example", "https://relay.example/"], "lists a relay twice"),
    ("https://relay.example", "must be a list"),
])
def test_bad_relay_urls_are_refused(relays, message):
    with pytest.raises(AgentConfigError, match=message):
        AgentConfig(relay_urls=relays).validate()


def test_init_with_relays_writes_them_and_needs_no_fixed_port(capsys, tmp_path, pwfile):  # noqa: F811
    d = str(tmp_path / "a")
    code, out, err = run_cli(capsys, "--data-dir", d, "--password-file", pwfile, "init", "--relay",
                             "https://relay-a.example", "--relay", "https://relay-b.example/")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["relays"] == ["https://relay-a.example", "https://relay-b.example"]
    saved = json.loads((tmp_path / "a" / "agent.json").read_text())
    assert saved["relay_urls"] == printed["relays"] and saved["http_port"] == 0


def test_init_with_a_bad_relay_is_one_line(capsys, tmp_path, pwfile):  # noqa: F811
    code, out, err = run_cli(capsys, "--data-dir", str(tmp_path / "a"), "--password-file", pwfile, "init",
                             "--relay", "ftp://relay.example")
    assert code == 1 and out == "" and err.count("\n") == 1 and "relay URL 'ftp://relay.example'" in err


@pytest.mark.parametrize("sealed", [False, True], ids=["signed", "sealed"])
def test_an_action_is_invoked_through_the_relay_and_verified(relayed_runner, start_relay, deployed, sealed):
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    signing_key, checkin = registered(deployed, agent)
    now = agent.clock()
    ans = read_device(f"{relay.url}/devices/{agent.identity.device_id_hex}/actions/history",
                      device_id_hex=agent.identity.device_id_hex, signing_key=signing_key, token=key_for(agent),
                      x25519_key=checkin.args["x25519Key"], sealed=sealed,
                      json_body={"property": "temperature", "from": now - 600, "to": now, "step": 60})
    assert ans.status == 200 and ans.json()["property"] == "temperature"


def test_a_relay_that_changes_a_plain_request_body_is_caught(relayed_runner, start_relay, deployed, monkeypatch):
    real_frame = relay_server.request_frame

    def swap_property(rid, method, target, headers, client, body=b""):
        return real_frame(rid, method, target, headers, client, body.replace(b"temperature", b"doorOpen"))

    monkeypatch.setattr(relay_server, "request_frame", swap_property)
    relay = start_relay()
    agent = relayed_runner([relay]).agent
    signing_key, _ = registered(deployed, agent)
    with pytest.raises(AnswerError, match="field 'rb'"):
        read_device(f"{relay.url}/devices/{agent.identity.device_id_hex}/actions/history",
                    device_id_hex=agent.identity.device_id_hex, signing_key=signing_key, token=key_for(agent),
                    sealed=False, json_body={"property": "temperature"})
