"""The device answers exactly what its TD says (issue 15): each readproperty payload is valid
against that property's data schema (TD 1.1 §5.3.2.4), readallproperties/readmultipleproperties
answer a map of name to value, history is an action of the TD, events answer the event's data."""

from __future__ import annotations

import time

import jsonschema
import pytest

from device_agent.config import AgentConfig
from device_agent.profiles import kinds, profile
from device_agent.server import ServingContext, create_app
from device_agent.simulators import make_simulator
from device_agent.td import build_td
from exchange.crypto import AccessClaims, generate_ed25519, issue_token

DEVICE = "11" * 32
NOW = 1_763_700_000
NBF, NAF = NOW - 86_400, NOW + 86_400


def serve(kind="fridge", wall=None):
    sk, pk = generate_ed25519()
    cfg = AgentConfig(appliance=kind).validate()
    prof = profile(kind)
    td = build_td(cfg, DEVICE, "http://agent.test", prof)
    ctx = ServingContext(DEVICE, pk, make_simulator(kind, 3), prof, td=lambda: td, clock=lambda: NOW,
                         revoked=frozenset, rate_per_second=1000, rate_burst=1000,
                         wall=wall or (lambda: float(NOW)))
    client = create_app(ctx).test_client()
    tok = issue_token(sk, AccessClaims(DEVICE, 7, "0xBuyer", NBF, NAF))
    return client, {"Authorization": f"Bearer {tok}"}, td, ctx


def path_of(href: str) -> str:
    return href.removeprefix("http://agent.test")


def thing_form(td, op):
    (form,) = [f for f in td["forms"] if op in ([f["op"]] if isinstance(f["op"], str) else f["op"])]
    return form


@pytest.mark.parametrize("kind", kinds())
def test_every_readproperty_answer_is_valid_against_the_property_schema(kind):
    client, auth, td, ctx = serve(kind)
    for name, aff in td["properties"].items():
        r = client.get(path_of(aff["forms"][0]["href"]), headers=auth)
        assert r.status_code == 200, (name, r.get_json())
        assert r.content_type == "application/json"
        value = r.get_json()
        jsonschema.validate(value, {k: v for k, v in aff.items() if k != "forms"})
        assert value == ctx.data.read(name, NOW)
        assert int(r.headers["X-Reading-Time"]) == NOW  # the reading's time stays available


def test_readallproperties_answers_a_map_of_name_to_value():
    client, auth, td, ctx = serve()
    form = thing_form(td, "readallproperties")
    r = client.get(path_of(form["href"]), headers=auth)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {n: ctx.data.read(n, NOW) for n in td["properties"]}


@pytest.mark.parametrize("how", ["query", "body"])
def test_readmultipleproperties_answers_the_names_asked_for(how):
    client, auth, td, ctx = serve()
    href = path_of(thing_form(td, "readmultipleproperties")["href"])
    if how == "query":
        r = client.get(href + "?names=temperature,power", headers=auth)
    else:
        r = client.post(href, json=["temperature", "power"], headers=auth)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"temperature": ctx.data.read("temperature", NOW), "power": ctx.data.read("power", NOW)}


@pytest.mark.parametrize("names", [["nope"], [], [1], "temperature", {"a": 1}])
def test_readmultipleproperties_refuses_bad_names_with_a_reason(names):
    client, auth, td, _ = serve()
    r = client.post(path_of(thing_form(td, "readmultipleproperties")["href"]), json=names, headers=auth)
    assert r.status_code in (400, 404), r.get_json()
    assert r.get_json()["error"] in ("bad_request", "unknown_property")


def test_history_is_an_action_of_the_td_whose_output_is_valid_against_its_schema():
    client, auth, td, ctx = serve()
    action = td["actions"]["history"]
    assert action["forms"][0]["op"] == "invokeaction" and action["safe"] and action["idempotent"]
    ask = {"property": "temperature", "from": NBF - 10 * 86_400, "to": NOW + 10 * 86_400, "step": 3600}
    jsonschema.validate(ask, action["input"])
    r = client.post(path_of(action["forms"][0]["href"]), json=ask, headers=auth)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    jsonschema.validate(out, action["output"])
    assert (out["property"], out["unit"], out["from"], out["to"]) == ("temperature", "degree Celsius", NBF, NOW)
    assert len(out["readings"]) == 24
    assert all(p["value"] == ctx.data.read("temperature", p["t"]) for p in out["readings"])


@pytest.mark.parametrize("ask", [
    {}, {"property": "nope"}, {"property": 5}, {"property": "power", "from": "1"},
    {"property": "power", "from": 1.5}, {"property": "power", "from": True}, {"property": "power", "from": -1},
    {"property": "power", "step": 0}, {"property": "power", "from": 2**40}, {"property": "power", "colour": 1},
    {"property": "power", "from": NOW + 10, "to": NOW + 20}, ["power"], "power",
], ids=["empty", "unknown", "not-a-string", "string-int", "float", "bool", "negative", "step-zero", "huge",
        "unknown-member", "empty-range", "array", "string"])
def test_history_action_refuses_bad_input_with_a_json_reason(ask):
    client, auth, td, _ = serve()
    r = client.post(path_of(td["actions"]["history"]["forms"][0]["href"]), json=ask, headers=auth)
    assert 400 <= r.status_code < 500, r.get_json()
    assert r.get_json()["error"] in ("bad_request", "unknown_property", "empty_range")


def test_history_query_on_the_property_is_refused_pointing_to_the_action():
    client, auth, td, _ = serve()
    r = client.get("/properties/temperature?from=1", headers=auth)
    assert r.status_code == 400 and "history" in r.get_json()["detail"]


def test_history_action_needs_a_key():
    client, _auth, td, _ = serve()
    r = client.post(path_of(td["actions"]["history"]["forms"][0]["href"]), json={"property": "power"})
    assert (r.status_code, r.get_json()["error"]) == (401, "missing_token")


class MovingWall:
    """Wall time that runs from ``start`` at the real pace (the simulator's events are a function of it)."""

    def __init__(self, start: float):
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> float:
        return self.start + time.monotonic() - self.t0


def test_event_form_declares_longpoll_and_the_subscription_answers_the_next_event_data():
    client, auth, td, ctx = serve()
    nxt = ctx.data.events(NOW, NOW + 86_400, "doorOpened")[0]
    client, auth, td, ctx = serve(wall=MovingWall(nxt["t"] - 0.5))  # subscribed just before a door opening
    ev = td["events"]["doorOpened"]
    assert ev["forms"][0]["subprotocol"] == "longpoll"
    assert client.head(path_of(ev["forms"][0]["href"]), headers=auth).status_code == 200  # node-wot's handshake
    r = client.get(path_of(ev["forms"][0]["href"]), headers=auth)
    assert r.status_code == 200, r.get_json()
    jsonschema.validate(r.get_json(), ev["data"])
    assert r.get_json() == nxt["data"]
    assert float(r.headers["X-Event-Time"]) == nxt["t"]


def test_a_subscription_without_an_event_in_its_wait_answers_204():
    client, auth, td, ctx = serve()
    nxt = ctx.data.events(NOW, NOW + 86_400, "doorOpened")[0]
    client, auth, td, ctx = serve(wall=MovingWall(nxt["t"] + 0.1))  # just after one: none comes in the wait
    ctx.subscribe_wait_s = 1.0
    r = client.get("/events/doorOpened", headers=auth)
    assert (r.status_code, r.data) == (204, b"")
