"""The relay service: devices reached through their agents' outgoing connections; refusals; isolation."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from device_agent.relay_link import call_wsgi
from device_agent.runner import wot_app
from exchange.crypto import AccessClaims, generate_ed25519, issue_token
from exchange.relay.server import RelayLimits
from tests.relay.conftest import get, get_json, wait_for


def key_for(agent, hours: int = 24) -> str:
    now = agent.clock()
    return issue_token(agent.identity.ed25519_private, AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=now - 3600, not_after=now + hours * 3600))


def link_agent(connector, relay, agent, handle=None):
    app = wot_app(agent)
    handle = handle or (lambda m, t, h, c, b: call_wsgi(app, m, t, h, c, b))
    link = connector.add(relay.url, agent.device_id, agent.identity.ed25519_private, handle)
    wait_for("the agent's hello to be accepted", link.connected.is_set, 10)
    return link


def device_url(relay, agent, path: str = "") -> str:
    return f"{relay.url}/devices/{agent.identity.device_id_hex}{path}"


def test_a_checked_in_device_is_read_through_the_relay(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    link_agent(connector, relay, agent)
    status, headers, td = get_json(device_url(relay, agent, "/.well-known/wot"))
    assert status == 200 and headers["Content-Type"] == "application/td+json"
    assert td["id"] == f"urn:thingbid:device:{agent.identity.device_id_hex}"
    status, _, reading = get_json(device_url(relay, agent, "/properties/temperature"),
                                  headers={"Authorization": "Bearer " + key_for(agent)})
    assert status == 200 and isinstance(reading, float)  # the bare value, as the TD declares


def test_access_is_still_checked_at_the_device(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    link_agent(connector, relay, agent)
    status, _, body = get_json(device_url(relay, agent, "/properties/temperature"))
    assert (status, body["error"]) == (401, "missing_token")
    forged = issue_token(generate_ed25519()[0], AccessClaims(
        device_id=agent.identity.device_id_hex, auction_id=1, buyer="0x" + "11" * 20,
        not_before=0, not_after=agent.clock() + 3600))
    status, _, body = get_json(device_url(relay, agent, "/properties/temperature"),
                               headers={"Authorization": "Bearer " + forged})
    assert (status, body["error"]) == (401, "bad_signature")


def test_query_path_and_body_reach_the_device_unchanged(checked_in, start_relay, connector):
    import json

    agent = checked_in("fridge")
    relay = start_relay()
    link_agent(connector, relay, agent)
    now = agent.clock()
    auth = {"Authorization": "Bearer " + key_for(agent), "Content-Type": "application/json"}
    status, _, body = get_json(device_url(relay, agent, "/actions/history"), method="POST", headers=auth,
                               data=json.dumps({"property": "temperature", "from": now - 600, "to": now, "step": 60}).encode())
    assert status == 200 and (body["from"], body["to"]) == (now - 600, now) and isinstance(body["readings"], list)
    status, _, body = get_json(device_url(relay, agent, "/properties?names=temperature"), headers=auth)
    assert status == 200 and list(body) == ["temperature"]
    status, _, body = get_json(device_url(relay, agent, "/properties/no%20such"),
                               headers={"Authorization": "Bearer " + key_for(agent)})
    assert (status, body["error"]) == (404, "unknown_property")


def test_unknown_pseudonym_is_404(start_relay):
    relay = start_relay()
    status, _, body = get_json(f"{relay.url}/devices/{'ab' * 32}/properties")
    assert (status, body["error"]) == (404, "unknown_device")


def test_registered_device_that_is_not_connected_is_503_with_retry_after(checked_in, start_relay):
    agent = checked_in("fridge")
    relay = start_relay()
    status, headers, body = get_json(device_url(relay, agent, "/properties"))
    assert (status, body["error"]) == (503, "device_offline") and int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize("pseudonym", ["abc", "AB" * 32, "zz" * 32, "ab" * 33, "%00" + "ab" * 31])
def test_malformed_pseudonym_is_400_with_a_json_reason(start_relay, pseudonym):
    relay = start_relay()
    status, _, body = get_json(f"{relay.url}/devices/{pseudonym}/properties")
    assert (status, body["error"]) == (400, "bad_pseudonym")


def test_oversized_body_is_413_and_nothing_reaches_the_device(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    seen = []
    app = wot_app(agent)
    link_agent(connector, relay, agent, lambda m, t, h, c, b: seen.append(t) or call_wsgi(app, m, t, h, c, b))
    status, _, body = get_json(device_url(relay, agent, "/properties"), method="POST", data=b"x" * (65 * 1024))
    assert (status, body["error"]) == (413, "too_large") and seen == []


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /devices/x HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 20_000 + b"\r\n\r\n",
    b"GET /devices/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
], ids=["no-http", "header-too-long", "bad-chunk", "nul-in-target"])
def test_malformed_http_is_4xx_with_a_json_reason(start_relay, request_bytes):
    relay = start_relay()
    answer = raw_exchange(relay.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert 400 <= status < 500, answer[:200]
    assert b"application/json" in head and b'"error"' in body


def test_agent_without_the_registered_key_cannot_claim_the_pseudonym(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    impostor_key, _ = generate_ed25519()
    link = connector.add(relay.url, agent.device_id, impostor_key, lambda *a: (200, [], b"forged"))
    wait_for("the relay to refuse the hello", lambda: "4401" in link.last_refusal, 10)
    assert not link.connected.is_set()
    status, _, body = get_json(device_url(relay, agent, "/properties"))
    assert (status, body["error"]) == (503, "device_offline")


def test_agent_of_an_unregistered_device_is_refused(make_agent, start_relay, connector):
    agent = make_agent("never-checked-in")
    relay = start_relay()
    link = connector.add(relay.url, agent.device_id, agent.identity.ed25519_private, lambda *a: (200, [], b""))
    wait_for("the relay to refuse the hello", lambda: "4404" in link.last_refusal, 10)
    assert not link.connected.is_set()


def test_a_slow_agent_fails_only_its_own_requests(checked_in, start_relay, connector):
    good, slow = checked_in("good"), checked_in("slow")
    relay = start_relay(RelayLimits(request_timeout_s=1.0))
    release = threading.Event()
    link_agent(connector, relay, good)
    link_agent(connector, relay, slow, lambda *a: (release.wait(10), (200, [], b"late"))[1])
    answers = {}
    waiting = threading.Thread(target=lambda: answers.setdefault("slow", get_json(device_url(relay, slow, "/x"))))
    waiting.start()
    time.sleep(0.2)  # the slow device's request is in flight
    status, _, td = get_json(device_url(relay, good, "/.well-known/wot"))
    assert status == 200 and "slow" not in answers  # answered while the slow one still waits
    waiting.join(10)
    release.set()
    status, headers, body = answers["slow"]
    assert (status, body["error"]) == (503, "device_unavailable") and "Retry-After" in headers


def test_an_agent_sending_garbage_is_dropped_and_others_keep_working(checked_in, start_relay, connector):
    good, bad = checked_in("good"), checked_in("bad")
    relay = start_relay()
    link_agent(connector, relay, good)
    bad_link = link_agent(connector, relay, bad)

    async def garbage(ws, loop, data):  # answers every request with a frame that is not one
        await ws.send_bytes(b"\xff\xff\xff\xffnot a frame")

    bad_link._answer = garbage
    status, _, body = get_json(device_url(relay, bad, "/properties"))
    assert (status, body["error"]) == (503, "device_unavailable")
    wait_for("the relay to drop the bad connection", lambda: bad_link.connects >= 2, 10)
    status, _, _ = get_json(device_url(relay, good, "/.well-known/wot"))
    assert status == 200


def test_agents_reconnect_after_a_relay_restart(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    port = relay.port
    link = link_agent(connector, relay, agent)
    relay.stop()
    wait_for("the agent to notice", lambda: not link.connected.is_set(), 10)
    again = start_relay(port=port)
    wait_for("the agent to reconnect", lambda: link.connects >= 2 and link.connected.is_set(), 10)
    status, _, _ = get_json(device_url(again, agent, "/.well-known/wot"))
    assert status == 200


def test_a_newer_connection_of_the_same_device_replaces_the_older(checked_in, start_relay, connector):
    agent = checked_in("fridge")
    relay = start_relay()
    first = link_agent(connector, relay, agent, lambda *a: (200, [("Content-Type", "text/plain")], b"first"))
    second = connector.add(relay.url, agent.device_id, agent.identity.ed25519_private,
                           lambda *a: (200, [("Content-Type", "text/plain")], b"second"))
    wait_for("the second hello", second.connected.is_set, 10)
    status, _, body = get(device_url(relay, agent, "/anything"))
    assert (status, body) == (200, b"second")
    wait_for("the older link to learn it was replaced", lambda: first.replaced, 10)
    assert not first.connected.is_set() and first.connects == 1


def half_closed_exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, close our sending side (valid HTTP/1.1), read the answer until the relay closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.fixture
def echo_device(checked_in, start_relay, connector):
    """(relay, pseudonym, requests seen): a checked-in device whose agent echoes the body length."""
    agent = checked_in("echo")
    relay = start_relay()
    seen = []

    def echo(method, target, headers, client, body):
        seen.append((method, target, dict(headers), body))
        return 200, [("Content-Type", "application/json")], b'{"got": %d}' % len(body)

    link_agent(connector, relay, agent, echo)
    return relay, agent.identity.device_id_hex, seen


def test_a_client_that_half_closes_after_its_request_gets_its_answer(echo_device):
    relay, pseudonym, _ = echo_device
    answer = half_closed_exchange(relay.port, f"GET /devices/{pseudonym}/x HTTP/1.1\r\nHost: r\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"got": 0}')


@pytest.mark.parametrize("request_bytes, reason", [
    (b"POST /devices/{p}/x HTTP/1.1\r\nHost: r\r\nContent-Length: 10\r\n\r\nabc", b"bad_body"),
    (b"POST /devices/{p}/x HTTP/1.1\r\nHost: r\r\n", b"bad_request"),
    (b"POST /devices/{p}/x HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\n\x1f\r\n0\r\n\r\n",
     b"bad_transfer_encoding"),
], ids=["body-cut-short", "head-cut-short", "gzip-transfer-coding"])
def test_requests_cut_short_or_oddly_coded_are_400_and_never_reach_the_device(echo_device, request_bytes, reason):
    relay, pseudonym, seen = echo_device
    answer = half_closed_exchange(relay.port, request_bytes.replace(b"{p}", pseudonym.encode()))
    assert answer.startswith(b"HTTP/1.1 400") and reason in answer and seen == []


def test_a_compressed_body_is_forwarded_as_it_came(echo_device):
    relay, pseudonym, seen = echo_device
    answer = half_closed_exchange(relay.port, f"POST /devices/{pseudonym}/x HTTP/1.1\r\nHost: r\r\n"
                                              "Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc".encode())
    assert answer.startswith(b"HTTP/1.1 200") and seen[0][3] == b"abc" and seen[0][2]["Content-Encoding"] == "gzip"


def test_a_client_that_stalls_mid_body_is_cut_off_with_408(checked_in, start_relay, connector):
    agent = checked_in("stalled")
    relay = start_relay(RelayLimits(body_timeout_s=0.5))
    link_agent(connector, relay, agent)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
        s.sendall(f"POST /devices/{agent.identity.device_id_hex}/x HTTP/1.1\r\nHost: r\r\n"
                  "Content-Length: 10\r\n\r\nabc".encode())
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer


def test_a_checked_out_device_is_dropped_by_the_relay_before_its_agent_reconnects(checked_in, start_relay, connector):
    agent = checked_in("leaving")
    relay = start_relay(RelayLimits(registry_poll_s=0.2))
    link = link_agent(connector, relay, agent)
    assert get(device_url(relay, agent, "/.well-known/wot"))[0] == 200
    assert agent.disable()["action"] == "checked_out"
    wait_for("the relay to drop the checked-out device",
             lambda: get_json(device_url(relay, agent, "/.well-known/wot"))[0] == 404, 10)
    status, _, body = get_json(device_url(relay, agent, "/.well-known/wot"))
    assert (status, body["error"]) == (404, "unknown_device")
    wait_for("the agent to be refused as unregistered", lambda: "4404" in link.last_refusal, 10)
    assert not link.connected.is_set()


class _ChangingKeys:
    """A key source whose table the test edits; ``changes`` reports what changed, like the registry's events."""

    def __init__(self, table: dict[bytes, bytes]):
        self.table, self.changed = dict(table), set()

    def lookup(self, device_id: bytes):
        return self.table.get(device_id)

    def changes(self) -> set[bytes]:
        out, self.changed = self.changed, set()
        return out


def test_a_device_whose_registered_key_changed_is_dropped_and_the_old_key_refused(connector):
    from exchange.relay.server import Relay, RelayThread

    device = bytes(range(32))
    old_sk, old_pk = generate_ed25519()
    new_sk, new_pk = generate_ed25519()
    keys = _ChangingKeys({device: old_pk})
    with RelayThread(Relay(keys, "key-change", RelayLimits(registry_poll_s=0.1))) as relay:
        link = connector.add(relay.url, device, old_sk, lambda *a: (200, [("Content-Type", "text/plain")], b"old"))
        wait_for("the hello with the old key", link.connected.is_set, 10)
        assert get(f"{relay.url}/devices/{device.hex()}/x")[:3:2] == (200, b"old")
        keys.table[device] = new_pk
        keys.changed.add(device)
        wait_for("the relay to drop the old key's connection", lambda: not link.connected.is_set(), 10)
        wait_for("the old key's hello to be refused", lambda: "4401" in link.last_refusal, 10)
        status, _, body = get_json(f"{relay.url}/devices/{device.hex()}/x")
        assert (status, body["error"]) == (503, "device_offline")
        fresh = connector.add(relay.url, device, new_sk, lambda *a: (200, [("Content-Type", "text/plain")], b"new"))
        wait_for("the hello with the new key", fresh.connected.is_set, 10)
        assert get(f"{relay.url}/devices/{device.hex()}/x")[:3:2] == (200, b"new")


def test_an_agent_that_stops_reading_cannot_slow_the_others(checked_in, start_relay, connector):
    good, deaf = checked_in("good"), checked_in("deaf")
    relay = start_relay(RelayLimits(request_timeout_s=2.5, send_timeout_s=1.0))
    link_agent(connector, relay, good)
    deaf_link = connector.add(relay.url, deaf.device_id, deaf.identity.ed25519_private, lambda *a: (200, [], b""))

    async def never_read(ws, stop):  # hello done, then the socket is never read again (until the test ends)
        await stop.wait()

    deaf_link._serve = never_read
    wait_for("the deaf agent's hello", deaf_link.connected.is_set, 10)
    answers = []
    flood = [threading.Thread(target=lambda: answers.append(get_json(device_url(relay, deaf, "/actions/x"),
                                                                     method="POST", data=b"z" * 60_000)))
             for _ in range(80)]
    for t in flood:
        t.start()
    wait_for("the deaf device's requests to fill its cap", lambda: sum(a[0] == 503 for a in answers) >= 10, 10)
    for _ in range(5):
        status, _, td = get_json(device_url(relay, good, "/.well-known/wot"))
        assert status == 200 and td["id"].endswith(good.identity.device_id_hex)
    assert len(answers) < 80  # the good device answered while the deaf one's requests still waited
    for t in flood:
        t.join(15)
    assert len(answers) == 80 and {a[0] for a in answers} == {503}
    assert {a[2]["error"] for a in answers} <= {"device_busy", "device_unavailable"}
    assert all("Retry-After" in a[1] for a in answers)
