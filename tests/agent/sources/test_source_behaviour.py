"""The behaviour every device source shares, run against each harness in conftest.HARNESSES
(simulator, a real node-wot Thing, real MQTT topics on Mosquitto)."""

from __future__ import annotations

import json

import pytest

from device_agent.config import AgentConfig
from device_agent.errors import UnknownPropertyError
from device_agent.profiles import restrict
from device_agent.td import build_td, td_bytes_and_hash
from tests.agent.conftest import wait_for

JSON_TYPES = {"number", "integer", "boolean", "string", "object", "array", "null"}
AGENT = "https://relay.example/d/abc"


@pytest.fixture
def source(harness, recorder):  # stopped before the recorder closes
    src = harness.make()
    yield src
    src.stop()


def test_the_offer_declares_typed_properties_with_titles(source):
    offer = source.offer()
    assert offer.properties
    for p in offer.properties:
        assert p.name.isidentifier() and p.title
        assert p.schema()["type"] in JSON_TYPES


def test_a_value_the_upstream_publishes_is_recorded(harness, source, recorder):
    source.start(recorder)
    for p in source.offer().properties:
        harness.publish(p.name)
        got = wait_for(f"{p.name} recorded", lambda n=p.name: (r := recorder.latest(n)) and harness.matches(r) and r)
        assert got.name == p.name


def test_a_fresh_read_is_what_the_upstream_published(harness, source, recorder):
    source.start(recorder)
    name = source.offer().properties[0].name
    harness.publish(name)
    reading = wait_for("a fresh read", lambda: _read_matching(harness, source, name))
    assert reading.name == name and reading.t > 0


def _read_matching(harness, source, name):
    from device_agent.sources import SourceError

    try:
        r = source.read(name)
    except SourceError:  # MQTT: the message may still be on its way
        return None
    return r if harness.matches(r) else None


def test_an_event_of_the_upstream_is_recorded(harness, source, recorder):
    source.start(recorder)

    def seen():
        name, data = harness.fire_event()
        return [e for e in recorder.events(0, 2**40, name)
                if {k: v for k, v in e.items() if k not in ("event", "t")} == data]

    assert wait_for("the event recorded", seen)


def test_an_unknown_property_is_refused(source):
    with pytest.raises(UnknownPropertyError):
        source.read("noSuchProperty")


def test_the_td_built_from_the_offer_is_valid_points_at_the_agent_and_names_no_upstream(harness, source):
    prof = restrict(source.offer())
    td = build_td(AgentConfig(), "ab" * 32, AGENT, prof)
    raw, _hash = td_bytes_and_hash(td)
    text = raw.decode()
    for secret in harness.secrets:
        assert secret not in text, f"{secret!r} of the upstream is in the TD"
    hrefs = [f["href"] for kind in ("properties", "events") for aff in td[kind].values() for f in aff["forms"]]
    assert hrefs and all(h.startswith(AGENT + "/") for h in hrefs)
    assert set(td["properties"]) == {p.name for p in prof.properties}
    for p in prof.properties:  # units and schemas carried through
        assert {k: v for k, v in td["properties"][p.name].items() if k not in ("title", "readOnly", "forms")} \
            == p.schema()
    json.dumps(td)


def test_the_owner_sells_a_subset(source):
    offer = source.offer()
    first = offer.properties[0].name
    prof = restrict(offer, [first], [])
    assert prof.names() == [first] and prof.events == ()
