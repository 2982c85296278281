"""The device agent's rate limit (exchange.ratelimit): per client address and per access key, in
bounded memory that a flood of fresh addresses cannot turn into a reset of a limited client."""

from __future__ import annotations

from device_agent.config import AgentConfig
from device_agent.profiles import profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import make_simulator
from device_agent.td import build_td
from exchange.crypto import generate_ed25519

DEVICE = "11" * 32
NOW = 1_763_700_000
ATTACKER = "203.0.113.9"


def _client(*, rate: float, burst: int, max_keys: int):
    _sk, pk = generate_ed25519()
    cfg = AgentConfig(appliance="fridge").validate()
    prof = profile("fridge")
    ctx = ServingContext(DEVICE, pk, make_simulator("fridge", 3), prof,
                         td=lambda: build_td(cfg, DEVICE, "http://agent.test", prof), clock=lambda: NOW,
                         revoked=frozenset, rate_per_second=rate, rate_burst=burst, rate_max_keys=max_keys)
    return create_app(ctx).test_client()


def _status(client, addr: str) -> int:
    return client.get("/properties/temperature", environ_base={"REMOTE_ADDR": addr}).status_code


def test_a_flood_of_fresh_client_addresses_does_not_free_a_limited_client():
    client = _client(rate=0.001, burst=2, max_keys=16)
    assert [_status(client, ATTACKER) for _ in range(3)] == [401, 401, 429]  # 401: no token, but counted
    for i in range(100):  # many more addresses than the limiter holds
        assert _status(client, f"10.0.{i // 256}.{i % 256}") == 401
    r = client.get("/properties/temperature", environ_base={"REMOTE_ADDR": ATTACKER})
    assert r.status_code == 429 and r.get_json()["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_an_ipv6_client_is_limited_per_64_whatever_address_it_takes_in_it():
    client = _client(rate=0.001, burst=2, max_keys=16)
    codes = [_status(client, f"2001:db8:1:2::{i:x}") for i in range(1, 4)]
    assert codes == [401, 401, 429]
    assert _status(client, "2001:db8:1:3::1") == 401  # the next /64 is another client
