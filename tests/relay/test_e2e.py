"""End-to-end protection (pure parts and the device app): signed answers, sealed requests."""

from __future__ import annotations

import pytest

from device_agent.config import AgentConfig
from device_agent.profiles import profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import make_simulator
from device_agent.td import build_td
from exchange.crypto import AccessClaims, generate_ed25519, generate_x25519, issue_token
from exchange.relay.e2e import (
    NONCE_HEADER,
    SEALED_TYPE,
    SIGNATURE_HEADER,
    AnswerError,
    device_target,
    open_answer,
    open_request,
    seal_answer,
    seal_request,
    sign_answer,
    verify_answer,
)

DEVICE = "ab" * 32
NOW = 1_763_700_000


@pytest.fixture
def device():
    sk, pk = generate_ed25519()
    xsk, xpk = generate_x25519()
    cfg = AgentConfig(appliance="fridge").validate()
    prof = profile("fridge")
    ctx = ServingContext(DEVICE, pk, make_simulator("fridge", 3), prof, td=lambda: build_td(cfg, DEVICE, "http://d.test", prof),
                         clock=lambda: NOW, revoked=frozenset, rate_per_second=1000, rate_burst=1000,
                         ed25519_private=sk, x25519_private=xsk)
    token = issue_token(sk, AccessClaims(device_id=DEVICE, auction_id=1, buyer="0xB", not_before=NOW - 10,
                                         not_after=NOW + 10))
    return create_app(ctx).test_client(), pk, xpk, token


GOOD = dict(device_id_hex=DEVICE, method="GET", target="/properties/t", nonce="n1", status=200,
            content_type="application/json", body=b'{"v":1}')


@pytest.mark.parametrize("field, value", [("device_id_hex", "cd" * 32), ("method", "POST"), ("target", "/properties/u"),
                                          ("nonce", "n2"), ("status", 404), ("content_type", "text/plain"),
                                          ("body", b'{"v":2}')])
def test_a_signature_holds_only_for_its_own_request_and_answer(field, value):
    sk, pk = generate_ed25519()
    header = sign_answer(sk, GOOD["device_id_hex"], GOOD["method"], GOOD["target"], GOOD["nonce"], GOOD["status"],
                         GOOD["content_type"], GOOD["body"], NOW)
    assert verify_answer(pk, header, **GOOD)["t"] == NOW
    with pytest.raises(AnswerError, match="does not match"):
        verify_answer(pk, header, **{**GOOD, field: value})


@pytest.mark.parametrize("header", [None, "", "v1.x", "v2.a.b", "v1.e30.AAAA"])
def test_missing_or_malformed_signatures_are_refused(header):
    with pytest.raises(AnswerError):
        verify_answer(generate_ed25519()[1], header, **GOOD)


def test_another_keys_signature_is_refused():
    header = sign_answer(generate_ed25519()[0], DEVICE, "GET", "/properties/t", "n1", 200, "application/json",
                         b'{"v":1}', NOW)
    with pytest.raises(AnswerError, match="registered key"):
        verify_answer(generate_ed25519()[1], header, **GOOD)


@pytest.mark.parametrize("path, target", [
    (f"/devices/{DEVICE}/properties/t?from=1", "/properties/t?from=1"), (f"/r/devices/{DEVICE}", "/"),
    ("/properties/t", "/properties/t"), (f"/devices/{'cd' * 32}/properties", f"/devices/{'cd' * 32}/properties"),
])
def test_device_target_strips_only_this_devices_relay_prefix(path, target):
    assert device_target(path, DEVICE) == target


def test_sealed_requests_open_only_at_their_device_and_answers_only_with_the_reply_key():
    xsk, xpk = generate_x25519()
    box, reply = seal_request(xpk, DEVICE, "GET", "/properties/t", {"Authorization": "Bearer k"})
    assert open_request(xsk, DEVICE, box) == ("GET", "/properties/t", {"Authorization": "Bearer k"}, reply, b"")
    box_with_body, reply2 = seal_request(xpk, DEVICE, "POST", "/actions/history", {}, b'{"property":"t"}')
    assert open_request(xsk, DEVICE, box_with_body)[3:] == (reply2, b'{"property":"t"}')
    with pytest.raises(AnswerError):
        open_request(generate_x25519()[0], DEVICE, box)
    with pytest.raises(AnswerError):
        open_request(xsk, "cd" * 32, box)  # sealed for another device
    with pytest.raises(AnswerError):
        open_request(xsk, DEVICE, box[:-1] + bytes([box[-1] ^ 1]))
    sealed = seal_answer(reply, DEVICE, 200, [("Content-Type", "application/json")], b"{}")
    assert open_answer(reply, DEVICE, sealed) == (200, {"Content-Type": "application/json"}, b"{}")
    with pytest.raises(AnswerError):
        open_answer(bytes(32), DEVICE, sealed)


def test_the_device_signs_direct_answers_too(device):
    client, pk, _, token = device
    r = client.get("/properties/temperature", headers={"Authorization": f"Bearer {token}", NONCE_HEADER: "abc"})
    claims = verify_answer(pk, r.headers[SIGNATURE_HEADER], device_id_hex=DEVICE, method="GET",
                           target="/properties/temperature", nonce="abc", status=200,
                           content_type=r.headers["Content-Type"], body=r.get_data())
    assert claims["s"] == 200
    refused = client.get("/properties/temperature")  # refusals are the device's too
    assert verify_answer(pk, refused.headers[SIGNATURE_HEADER], device_id_hex=DEVICE, method="GET",
                         target="/properties/temperature", nonce="", status=401,
                         content_type=refused.headers["Content-Type"], body=refused.get_data())


def test_the_device_answers_a_sealed_request_with_the_inner_answer_sealed(device):
    client, pk, xpk, token = device
    box, reply = seal_request(xpk, DEVICE, "GET", "/properties/temperature",
                              {"Authorization": f"Bearer {token}", NONCE_HEADER: "n9"})
    r = client.post("/sealed", data=box, content_type=SEALED_TYPE)
    status, headers, body = open_answer(reply, DEVICE, r.get_data())
    direct = client.get("/properties/temperature", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and status == 200 and body == direct.get_data()
    verify_answer(pk, headers[SIGNATURE_HEADER], device_id_hex=DEVICE, method="GET", target="/properties/temperature",
                  nonce="n9", status=200, content_type=headers["Content-Type"], body=body)


@pytest.mark.parametrize("body", [b"", b"x" * 200, b"\x00" * 4000])
def test_a_sealed_request_that_does_not_open_is_400(device, body):
    client = device[0]
    r = client.post("/sealed", data=body, content_type=SEALED_TYPE)
    assert r.status_code == 400 and r.get_json()["error"] == "bad_sealed_request"


def test_a_sealed_request_cannot_nest_another(device):
    client, _, xpk, _ = device
    box, _ = seal_request(xpk, DEVICE, "POST", "/sealed", {})
    r = client.post("/sealed", data=box, content_type=SEALED_TYPE)
    assert r.status_code == 400 and "cannot hold another" in r.get_json()["detail"]
