"""TDs of every simulated appliance are valid TD 1.1; they are anonymised and unlinkable."""

from __future__ import annotations

import json

import pytest

from device_agent import geohash
from device_agent.anonymise import coarse_location, device_id, new_device_secret
from device_agent.config import AgentConfig
from device_agent.errors import AgentConfigError
from device_agent.simulators import SIMULATORS
from exchange.wot import TD10_CONTEXT, TD11_CONTEXT, ThingDescription, validate_td

LAT, LON = 48.858370, 2.294481  # the owner's precise location


@pytest.mark.parametrize("kind", list(SIMULATORS))
def test_every_appliance_td_passes_the_project_validation(make_agent, kind):
    agent = make_agent(kind, kind, lat=LAT, lon=LON)
    td = agent.td()
    validate_td(td)
    parsed = ThingDescription.from_dict(td)
    assert td["@context"][:2] == [TD10_CONTEXT, TD11_CONTEXT]  # TD 1.0 first: node-wot 0.9 needs it
    assert td["securityDefinitions"][td["security"]]["scheme"] == "bearer"
    assert {a.name for a in parsed.affordances if a.kind == "property"} == set(agent.profile.names())
    assert all(f["href"].startswith(agent.base_url) for p in td["properties"].values() for f in p["forms"])
    assert td["events"]


def test_only_properties_for_sale_are_described(make_agent):
    agent = make_agent("a", "fridge", sell=["temperature", "energyToday"])
    assert set(agent.td()["properties"]) == {"temperature", "energyToday"}


def test_two_devices_of_one_owner_are_not_linkable(make_agent):
    # Same owner: same config, same home; separate agents (one per appliance).
    a = make_agent("one", "fridge", lat=LAT, lon=LON, tags=["kitchen"])
    b = make_agent("two", "fridge", lat=LAT, lon=LON, tags=["kitchen"])
    ta, tb = a.td(), b.td()
    assert a.device_id != b.device_id and a.address != b.address
    shared = {k for k in ta if ta[k] == tb[k]}
    # Only what describes the kind of device and its ~5 km cell may coincide.
    assert shared <= {"@context", "@type", "description", "securityDefinitions", "security", "geohash", "tags", "base",
                      "forms", "properties", "events"}
    text_a, text_b = json.dumps(ta), json.dumps(tb)
    for agent, other_text in ((a, text_b), (b, text_a)):
        assert agent.identity.device_id_hex not in other_text
        assert agent.identity.device_id_hex[:8] not in other_text
    for agent, text in ((a, text_a), (b, text_b)):
        for secret in (agent.address, agent.address.lower(), agent.address[2:].lower()):
            assert secret not in text  # no owner address in its own TD either


def test_device_id_is_a_keyed_hash_independent_of_anything_else():
    s1, s2 = new_device_secret(), new_device_secret()
    assert device_id(s1) == device_id(s1)
    assert device_id(s1) != device_id(s2)
    assert len(device_id(s1)) == 32
    with pytest.raises(AgentConfigError):
        device_id(b"short")


def test_location_is_coarsened_to_a_five_character_geohash(make_agent):
    agent = make_agent("loc", "thermostat", lat=LAT, lon=LON)
    td = agent.td()
    assert td["geohash"] == "u09tu" == coarse_location(LAT, LON)
    text = json.dumps(td)
    for precise in (str(LAT), str(LON), "48.85", "2.29", geohash.encode(LAT, LON, 7)):
        assert precise not in text
    lat, lon, dlat, dlon = geohash.decode(td["geohash"])
    assert abs(lat - LAT) <= dlat and abs(lon - LON) <= dlon
    assert dlat * 2 * 111 > 4  # the cell is kilometres across, not a house


def test_geohash_precision_is_configurable_but_never_building_level(make_agent):
    assert len(make_agent("p3", "tv", lat=LAT, lon=LON, geohash_precision=3).td()["geohash"]) == 3
    with pytest.raises(AgentConfigError, match="1..7"):
        AgentConfig(geohash_precision=9).validate()


@pytest.mark.parametrize(("lat", "lon", "precision", "expected"), [
    (57.64911, 10.40744, 11, "u4pruydqqvj"),  # the reference example of geohash.org
    (-25.382708, -49.265506, 8, "6gkzwgjz"),
    (0.0, 0.0, 5, "s0000"),
])
def test_geohash_known_vectors(lat, lon, precision, expected):
    assert geohash.encode(lat, lon, precision) == expected


@pytest.mark.parametrize(("tag", "message"), [
    ("me@example.org", "looks like contact data"), ("+49 170 1234567", "looks like contact data"),
    ("https://home.example", "looks like contact data"), ("", "must be 1..32 characters"),
])
def test_tags_that_look_like_contact_data_are_refused(tag, message):
    AgentConfig(tags=["kitchen"]).validate()  # an ordinary tag is fine
    with pytest.raises(AgentConfigError, match=message):
        AgentConfig(tags=[tag]).validate()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("appliance", "toaster", "unknown appliance"),
    ("sell", ["colour"], "no properties colour"),
    ("sell", [], "at least one property"),
    ("lat", 91.0, "outside"),
    ("mechanism", "dutch", "not one of"),
    ("reserve_price_wei", -1, "non-negative"),
    ("reserve_price_wei", 2**80, "80 bits"),
    ("access_period_seconds", 0, "positive"),
    ("public_url", "ftp://x", "http"),
    ("http_host", "0.0.0.0", "set public_url"),
])
def test_bad_config_values_are_refused_with_a_reason(field, value, message):
    with pytest.raises(AgentConfigError, match=message):
        AgentConfig(**{field: value}).validate()
