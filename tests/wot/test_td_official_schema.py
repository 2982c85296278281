"""Every TD Thingbid publishes validates against the official W3C TD 1.1 JSON Schema (shipped in the repo)."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest
from jsonschema import Draft7Validator

from device_agent.config import AgentConfig
from device_agent.profiles import Profile, kinds, profile
from device_agent.td import build_td
from exchange.catalog.indexer import td_columns
from exchange.wot import TDValidationError, validate_td
from exchange.wot.samples import APPLIANCES, appliance_td
from exchange.wot.validate import schema_errors

AGENT = "https://agent.example:8443/things/ab"


def official() -> Draft7Validator:
    """A plain jsonschema validator over the shipped file, independent of our error formatting."""
    schema = json.loads(resources.files("exchange.wot").joinpath("td-json-schema-validation.json").read_text())
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_the_shipped_schema_is_the_w3c_td_1_1_schema():
    v = official()
    assert v.schema["title"] == "Thing Description" and v.schema["version"].startswith("1.1")
    assert v.schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert v.schema["properties"]["id"] == {"type": "string", "format": "uri"}
    Draft7Validator.check_schema(v.schema)


def test_the_format_checker_checks_uris_and_date_times():
    checker = Draft7Validator.FORMAT_CHECKER
    assert not checker.conforms("just words with spaces", "uri") and checker.conforms("urn:thingbid:device:ab", "uri")
    assert not checker.conforms("yesterday", "date-time") and checker.conforms("2024-01-31T12:00:00Z", "date-time")


@pytest.mark.parametrize("kind", kinds())
def test_every_device_profile_td_validates_against_the_official_schema(kind):
    td = build_td(AgentConfig(appliance=kind, tags=["kitchen"]).validate(), "ab" * 32, AGENT, profile(kind))
    assert sorted(official().iter_errors(td), key=str) == []
    assert schema_errors(td) == []
    validate_td(td)


@pytest.mark.parametrize("kind", sorted(APPLIANCES))
def test_every_sample_appliance_td_validates_against_the_official_schema(kind):
    assert list(official().iter_errors(appliance_td(kind))) == []


def test_a_device_whose_source_offers_a_bad_schema_is_refused_in_one_line_naming_the_schema_path():
    base = profile(kinds()[0])
    bad = dataclasses.replace(base.properties[0], type="float")  # e.g. copied from an upstream Thing's TD
    prof = Profile(base.kind, base.title, base.device_type, (bad,) + base.properties[1:], base.events)
    with pytest.raises(TDValidationError) as info:
        build_td(AgentConfig(appliance=base.kind).validate(), "ab" * 32, AGENT, prof)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"properties.{bad.name}.type: 'float' is not allowed here" in msg
    assert "[TD 1.1 schema #/definitions/dataSchema-type/enum]" in msg


def test_the_catalog_does_not_index_a_td_whose_id_is_not_a_uri():
    td = appliance_td(device_id="just words with spaces")
    cols = td_columns(json.dumps(td).encode())[0]
    assert cols["td_valid"] is False and cols["title"] == ""
