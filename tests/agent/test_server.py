"""The WoT HTTP server: TD discovery, token checks on every data request, period clamping, limits."""

from __future__ import annotations

import pytest

from device_agent.config import AgentConfig
from device_agent.profiles import profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import make_simulator
from device_agent.td import build_td
from exchange.crypto import AccessClaims, generate_ed25519, issue_token

DEVICE = "11" * 32
OTHER_DEVICE = "22" * 32
NOW = 1_763_700_000
NBF, NAF = NOW - 86_400, NOW + 86_400


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def served():
    sk, pk = generate_ed25519()
    revoked: set[str] = set()
    clock = Clock(NOW)
    cfg = AgentConfig(appliance="fridge").validate()
    prof = profile("fridge")
    ctx = ServingContext(DEVICE, pk, make_simulator("fridge", 3), prof,
                         td=lambda: build_td(cfg, DEVICE, "http://agent.test", prof), clock=clock,
                         revoked=lambda: frozenset(revoked), rate_per_second=1000, rate_burst=1000)
    app = create_app(ctx)
    return app.test_client(), sk, revoked, clock, ctx


def token(sk, device=DEVICE, nbf=NBF, naf=NAF, **kw):
    return issue_token(sk, AccessClaims(device_id=device, auction_id=7, buyer="0xBuyer", not_before=nbf,
                                        not_after=naf, **kw))


def get(client, path, tok=None, raw_header=None):
    headers = {}
    if raw_header is not None:
        headers["Authorization"] = raw_header
    elif tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    return client.get(path, headers=headers)


def test_td_is_served_at_well_known_without_a_key(served):
    client, *_ = served
    r = client.get("/.well-known/wot")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/td+json"
    assert r.get_json()["id"] == f"urn:thingbid:device:{DEVICE}"


def test_valid_key_reads_the_latest_reading(served):
    client, sk, _r, _c, ctx = served
    r = get(client, "/properties/temperature", token(sk))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == ctx.data.read("temperature", NOW)  # bare, as the TD's "type": "number" says
    assert int(r.headers["X-Reading-Time"]) == NOW


def test_valid_key_reads_all_properties(served):
    client, sk, *_ = served
    r = get(client, "/properties", token(sk))
    assert r.status_code == 200
    assert set(r.get_json()) == set(profile("fridge").names())


def _tampered(sk):
    t = token(sk)
    head, body, sig = t.split(".")
    other = token(sk, naf=NAF + 10**6).split(".")[1]  # a longer period with the old signature
    assert other != body
    return f"{head}.{other}.{sig}"


def _unsigned(sk):
    head, body, _sig = token(sk).split(".")
    return f"{head}.{body}."


def _zero_signature(sk):
    head, body, _sig = token(sk).split(".")
    return f"{head}.{body}.{'A' * 86}"


@pytest.mark.parametrize(("case", "make", "status", "reason"), [
    ("wrong device", lambda sk: token(sk, device=OTHER_DEVICE), 403, "wrong_device"),
    ("expired", lambda sk: token(sk, nbf=NOW - 100, naf=NOW), 403, "expired"),
    ("not yet valid", lambda sk: token(sk, nbf=NOW + 1, naf=NOW + 100), 403, "not_yet_valid"),
    ("tampered claims", _tampered, 401, "bad_signature"),
    ("unsigned", _unsigned, 401, "malformed"),
    ("zero signature", _zero_signature, 401, "bad_signature"),
    ("signed by another key", lambda sk: token(generate_ed25519()[0]), 401, "bad_signature"),
    ("garbage", lambda sk: "not-a-token", 401, "malformed"),
])
def test_refused_keys_get_a_json_reason(served, case, make, status, reason):
    client, sk, *_ = served
    r = get(client, "/properties/temperature", make(sk))
    assert r.status_code == status, (case, r.get_json())
    assert r.get_json()["error"] == reason
    assert set(r.get_json()) == {"error", "detail"}


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_missing_key_is_401_with_challenge(served, header):
    client, *_ = served
    r = get(client, "/properties/temperature", raw_header=header) if header is not None else \
        client.get("/properties/temperature")
    assert r.status_code == 401
    assert r.get_json()["error"] == "missing_token"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_refused(served):
    client, sk, revoked, *_ = served
    t = token(sk, token_id="ab" * 16)
    assert get(client, "/properties/temperature", t).status_code == 200
    revoked.add("ab" * 16)
    r = get(client, "/properties/temperature", t)
    assert (r.status_code, r.get_json()["error"]) == (403, "revoked")


def test_key_is_refused_once_its_period_ends(served):
    client, sk, _r, clock, _ctx = served
    t = token(sk)
    assert get(client, "/properties/power", t).status_code == 200
    clock.t = NAF - 1
    assert get(client, "/properties/power", t).status_code == 200
    clock.t = NAF
    r = get(client, "/properties/power", t)
    assert (r.status_code, r.get_json()["error"]) == (403, "expired")


def test_history_is_clamped_to_the_key_period(served):
    client, sk, _r, _c, ctx = served
    r = client.post("/actions/history", json={"property": "temperature", "from": NBF - 10 * 86_400,
                                              "to": NOW + 10 * 86_400, "step": 3600},
                    headers={"Authorization": f"Bearer {token(sk)}"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    ts = [p["t"] for p in body["readings"]]
    assert body["from"] == NBF and body["to"] == NOW
    assert min(ts) >= NBF and max(ts) <= NOW
    assert len(ts) == 24
    assert all(p["value"] == ctx.data.read("temperature", p["t"]) for p in body["readings"])


def test_events_within_the_period(served):
    client, sk, _r, _c, ctx = served
    r = get(client, f"/events/doorOpened?since={NBF}", token(sk))
    assert r.status_code == 200
    evs = r.get_json()["events"]
    assert evs and evs == ctx.data.events(NBF + 1, NOW, "doorOpened")


@pytest.mark.parametrize(("path", "status", "reason"), [
    ("/properties/nope", 404, "unknown_property"),
    ("/events/nope", 404, "unknown_event"),
    ("/properties/temperature?from=1", 400, "bad_request"),
    ("/properties?names=temperature,nope", 404, "unknown_property"),
    ("/properties?names=,", 400, "bad_request"),
    ("/events/doorOpened?since=abc", 400, "bad_request"),
    ("/events/doorOpened?since=-5", 400, "bad_request"),
    ("/events/doorOpened?since=99999999999999999999", 400, "bad_request"),
    ("/nowhere", 404, "not_found"),
])
def test_bad_requests_get_json_errors(served, path, status, reason):
    client, sk, *_ = served
    r = get(client, path, token(sk))
    assert r.status_code == status
    assert r.get_json()["error"] == reason


def test_writes_are_refused(served):
    client, sk, *_ = served
    r = client.put("/properties/temperature", json={"value": 1}, headers={"Authorization": f"Bearer {token(sk)}"})
    assert r.status_code == 405
    assert r.get_json()["error"] == "method_not_allowed"


def test_rate_limit_answers_429_with_retry_after():
    sk, pk = generate_ed25519()
    cfg = AgentConfig(appliance="tv").validate()
    prof = profile("tv")
    ctx = ServingContext(DEVICE, pk, make_simulator("tv"), prof, td=lambda: build_td(cfg, DEVICE, "http://a", prof),
                         clock=lambda: NOW, revoked=frozenset, rate_per_second=0.01, rate_burst=3)
    client = create_app(ctx).test_client()
    t = token(sk)
    codes = [get(client, "/properties/on", t).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    r = get(client, "/properties/on", t)
    assert r.get_json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def test_any_single_character_change_to_a_key_is_refused():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    sk, pk = generate_ed25519()
    cfg = AgentConfig(appliance="fridge").validate()
    prof = profile("fridge")
    ctx = ServingContext(DEVICE, pk, make_simulator("fridge"), prof, td=lambda: build_td(cfg, DEVICE, "http://a", prof),
                         clock=lambda: NOW, revoked=frozenset, rate_per_second=10**6, rate_burst=10**6)
    client = create_app(ctx).test_client()
    good = token(sk)
    assert get(client, "/properties/power", good).status_code == 200

    @settings(max_examples=150, deadline=None)
    @given(pos=st.integers(0, len(good) - 1), ch=st.sampled_from(B64))
    def check(pos, ch):
        bad = good[:pos] + ch + good[pos + 1:]
        if bad == good:
            return
        r = get(client, "/properties/power", bad)
        assert r.status_code in (401, 403), (pos, ch, r.get_json())

    check()


def test_a_browser_on_another_site_may_read_with_a_key_cors(served):
    """A buyer's browser reads the device with its key (issue 18): the preflight is answered and the answer
    is readable cross-origin. Bearer keys only, no cookies: any origin may ask, none gets more than its key."""
    client, sk, _r, _c, _ctx = served
    pre = client.open("/actions/history", method="OPTIONS", headers={
        "Origin": "https://bids.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert {"POST", "GET"} <= {m.strip() for m in pre.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert "Access-Control-Allow-Credentials" not in pre.headers
    r = client.post("/actions/history", json={"property": "temperature", "from": NBF, "to": NOW, "step": 3600},
                    headers={"Authorization": f"Bearer {token(sk)}", "Origin": "https://bids.example.com"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    refused = client.post("/actions/history", json={"property": "temperature"}, headers={"Origin": "https://x.test"})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"  # the reason is readable
