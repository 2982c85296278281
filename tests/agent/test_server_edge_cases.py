"""WoT server edge cases from the security review: every refusal is JSON with a reason, never a 500 page."""

from __future__ import annotations

import base64

import pytest

from device_agent.config import AgentConfig
from device_agent.profiles import profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import make_simulator
from device_agent.state import AgentState, AgentToken
from device_agent.td import build_td
from exchange.crypto import AccessClaims, generate_ed25519, issue_token

DEVICE = "11" * 32
NOW = 1_763_700_000
DAY = 86_400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_client(pk, *, revoked=frozenset, rate=1000.0, burst=1000, clock=lambda: NOW):
    cfg = AgentConfig(appliance="fridge").validate()
    prof = profile("fridge")
    ctx = ServingContext(DEVICE, pk, make_simulator("fridge", 3), prof,
                         td=lambda: build_td(cfg, DEVICE, "http://agent.test", prof), clock=clock,
                         revoked=revoked, rate_per_second=rate, rate_burst=burst)
    return create_app(ctx).test_client()


@pytest.fixture
def keys():
    return generate_ed25519()


def token(sk, nbf=NOW - DAY, naf=NOW + DAY, **kw):
    return issue_token(sk, AccessClaims(DEVICE, 7, "0xBuyer", nbf, naf, **kw))


def get(client, path, tok, **kw):
    return client.get(path, headers={"Authorization": f"Bearer {tok}"}, **kw)


@pytest.mark.parametrize("body", [b"[" * 2500, b'{"device_id":' + b"[" * 2000],
                         ids=["nested-arrays", "nested-in-object"])
def test_deeply_nested_forged_claims_are_401_malformed_not_500(keys, body):
    client = make_client(keys[1])
    r = get(client, "/properties/power", f"tb1.{_b64(body)}.{'A' * 86}")
    assert r.status_code == 401, r.data[:200]
    assert r.get_json()["error"] == "malformed"


@pytest.mark.parametrize("period_days", [93, 200, 400])
def test_events_of_a_key_longer_than_92_days_are_paged_not_500(keys, period_days):
    sk, pk = keys
    client = make_client(pk)
    nbf = NOW - (period_days - 1) * DAY
    r = get(client, "/events/doorOpened?since=0", token(sk, nbf=nbf, naf=NOW + DAY))
    assert r.status_code == 200, r.data[:200]
    body = r.get_json()
    assert body["events"] and all(nbf <= e["t"] <= body["until"] for e in body["events"])
    # Paging on from "until" reaches now.
    seen, since = 0, None
    for _ in range(period_days):
        r = get(client, f"/events/doorOpened?since={body['until'] if since is None else since}",
                token(sk, nbf=nbf, naf=NOW + DAY))
        assert r.status_code == 200
        since = r.get_json()["until"]
        seen += 1
        if since >= NOW:
            break
    assert since == NOW


@pytest.mark.parametrize("raw", ["%D9%A1%D9%A2%D9%A3", "1_000", "+5", "%201", "1%20", "%EF%BC%91",
                                 "5.0", "1e3", "0x10", "-0"],
                         ids=["arabic-indic-digits", "underscore", "plus-sign", "leading-space", "trailing-space",
                              "fullwidth-digit", "decimal", "exponent", "hex", "minus-zero"])
@pytest.mark.parametrize("param", ["since", "timeout"])
def test_query_integers_must_be_plain_ascii_digits(keys, param, raw):
    sk, pk = keys
    client = make_client(pk)
    r = get(client, f"/events/doorOpened?{param}={raw}", token(sk))
    assert r.status_code == 400, (param, raw, r.get_json())
    assert r.get_json()["error"] == "bad_request"


def test_unexpected_failures_are_json_500_without_internals(keys):
    sk, pk = keys

    def broken():
        raise RuntimeError("database is locked at /var/lib/thingbid/agent/agent.db")

    client = make_client(pk, revoked=broken)
    r = get(client, "/properties/power", token(sk))
    assert r.status_code == 500
    body = r.get_json()
    assert body is not None and body["error"] == "internal_error"
    text = r.get_data(as_text=True)
    assert "agent.db" not in text and "Traceback" not in text and "/var/lib" not in text


@pytest.mark.parametrize(("first", "second"), [
    ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"),
])
def test_ipv6_clients_share_one_bucket_per_64_prefix(keys, first, second):
    """One host owns a whole /64: rotating its addresses must not reset the per-client limit."""
    client = make_client(keys[1], rate=0.001, burst=2)
    codes = [client.get("/.well-known/wot", environ_base={"REMOTE_ADDR": addr}).status_code
             for addr in (first, second, first, second)]
    assert codes == [200, 200, 429, 429]


def test_ipv4_clients_are_still_limited_per_address(keys):
    client = make_client(keys[1], rate=0.001, burst=1)
    codes = [client.get("/.well-known/wot", environ_base={"REMOTE_ADDR": a}).status_code
             for a in ("192.0.2.1", "192.0.2.2", "192.0.2.1")]
    assert codes == [200, 200, 429]


def test_revocation_survives_an_agent_restart(tmp_path, keys):
    sk, pk = keys
    state = AgentState(tmp_path)
    state.add_token(AgentToken(token_id="ef" * 16, auction_id=3, buyer="0xBuyer", not_before=NOW - DAY,
                               not_after=NOW + DAY))
    state.mark_token("ef" * 16, revoked=True)
    state.close()
    reopened = AgentState(tmp_path)  # a restarted agent
    try:
        client = make_client(pk, revoked=reopened.revoked_ids)
        r = get(client, "/properties/power", token(sk, token_id="ef" * 16))
        assert (r.status_code, r.get_json()["error"]) == (403, "revoked")
        assert get(client, "/properties/power", token(sk, token_id="12" * 16)).status_code == 200
    finally:
        reopened.close()


def test_one_key_cannot_hold_many_long_polls_open(keys):
    """Each long poll holds a server thread for up to 25 s: a key may keep only a few open at once."""
    import collections
    import threading
    import time

    from device_agent.server import MAX_LONGPOLLS_PER_TOKEN

    sk, pk = keys
    clock_calls: collections.Counter = collections.Counter()  # thread name -> clock reads

    def clock():
        clock_calls[threading.current_thread().name] += 1
        return NOW

    client = make_client(pk, clock=clock)
    tok = token(sk)
    quiet = f"/events/doorOpened?since={NOW + 10}&timeout=6"  # nothing after "since": the poll waits (6 s: room for a loaded machine)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(get(client, quiet, tok).status_code),
                                name=f"poll-{i}") for i in range(MAX_LONGPOLLS_PER_TOKEN)]
    for t in threads:
        t.start()
    # A poll reads the clock once to check the key, then again in its waiting loop: wait until
    # every poll is inside it (holding its slot) rather than sleeping and hoping.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(clock_calls[t.name] >= 2 for t in threads):
        time.sleep(0.01)
    assert all(clock_calls[t.name] >= 2 for t in threads), dict(clock_calls)
    assert all(t.is_alive() for t in threads)
    r = get(client, quiet, tok)
    assert (r.status_code, r.get_json()["error"]) == (429, "too_many_waiting")
    assert int(r.headers["Retry-After"]) >= 1
    other = get(client, quiet.replace("timeout=6", "timeout=0"), token(sk, token_id="34" * 16))
    assert other.status_code == 200  # another key, and a poll that does not wait, are not affected
    for t in threads:
        t.join()
    assert codes == [200] * MAX_LONGPOLLS_PER_TOKEN
    assert get(client, quiet.replace("timeout=6", "timeout=1"), tok).status_code == 200  # slots are given back
