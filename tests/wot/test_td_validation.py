"""TD 1.1 validation over a table of valid and broken TDs, canonical form and hash."""

from __future__ import annotations

import copy
import json

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.errors import ExchangeError
from exchange.wot import (
    MAX_TD_BYTES,
    TD11_CONTEXT,
    TDValidationError,
    ThingDescription,
    canonical_td,
    td_hash,
    validate_td,
)
from exchange.wot.samples import APPLIANCES, appliance_td

MINIMAL = {"@context": TD11_CONTEXT, "title": "Lamp", "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
           "security": "nosec_sc"}


def with_(base: dict, path: str, value) -> dict:
    """A deep copy of ``base`` with the dotted ``path`` set (or deleted when value is DELETE)."""
    td = copy.deepcopy(base)
    keys = path.split("/")
    node = td
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return td


DELETE = object()
FRIDGE = appliance_td()

VALID = {
    "minimal": MINIMAL,
    "appliance": FRIDGE,
    "context_array_td11_first": with_(MINIMAL, "@context", [TD11_CONTEXT, {"saref": "https://saref.etsi.org/core/"}]),
    "context_td10_then_td11": with_(MINIMAL, "@context", ["https://www.w3.org/2019/wot/td/v1", TD11_CONTEXT]),
    "security_array": with_(MINIMAL, "security", ["nosec_sc"]),
    "combo_scheme": {**MINIMAL, "securityDefinitions": {"a": {"scheme": "basic"}, "b": {"scheme": "bearer"},
                                                          "c": {"scheme": "combo", "oneOf": ["a", "b"]}},
                     "security": "c"},
    "oauth2_scheme": {**MINIMAL, "securityDefinitions": {"o": {"scheme": "oauth2", "flow": "code"}}, "security": "o"},
    "action_with_schemas": {**MINIMAL, "actions": {"toggle": {"input": {"type": "boolean"},
                                                              "output": {"type": "object", "properties": {
                                                                  "on": {"type": "boolean"}}, "required": ["on"]},
                                                              "forms": [{"href": "/toggle", "op": "invokeaction"}]}}},
    "thing_level_form": {**MINIMAL, "forms": [{"href": "/all", "op": ["readallproperties"]}]},
    "every_appliance": appliance_td("HeatPump"),
    "array_items_list": {**MINIMAL, "properties": {"xs": {"type": "array", "items": [{"type": "number"}],
                                                          "forms": [{"href": "/xs"}]}}},
}

BROKEN = [
    # (case, td, expected message substring)
    ("not_an_object", [1, 2], "$: a Thing Description must be a JSON object, got array"),
    ("missing_context", with_(MINIMAL, "@context", DELETE), "@context: required by TD 1.1 but missing"),
    ("td10_context_only", with_(MINIMAL, "@context", "https://www.w3.org/2019/wot/td/v1"),
     "@context: must be the TD 1.1 context"),
    ("context_array_without_td11", with_(MINIMAL, "@context", ["https://example.org/ctx"]),
     "@context: must contain the TD 1.1 context"),
    ("context_td11_not_first", with_(MINIMAL, "@context", [{"x": "y"}, TD11_CONTEXT]),
     "@context[0]: {'x': 'y'} is not allowed here (one of https://www.w3.org/2022/wot/td/v1.1"),
    ("context_td10_after_td11", with_(MINIMAL, "@context", [TD11_CONTEXT, "https://www.w3.org/2019/wot/td/v1"]),
     "@context[1]: 'https://www.w3.org/2019/wot/td/v1' is not allowed here"),
    ("context_number", with_(MINIMAL, "@context", 11), "@context: must be an array or string, got integer"),
    ("context_entry_number", with_(MINIMAL, "@context", [TD11_CONTEXT, 5]),
     "@context[1]: must be a string or object, got integer"),
    ("missing_title", with_(MINIMAL, "title", DELETE), "title: required by TD 1.1 but missing"),
    ("empty_title", with_(MINIMAL, "title", "  "), "title: must not be empty"),
    ("title_number", with_(MINIMAL, "title", 3), "title: must be a string, got integer"),
    ("missing_security", with_(MINIMAL, "security", DELETE), "security: required by TD 1.1 but missing"),
    ("missing_security_definitions", with_(MINIMAL, "securityDefinitions", DELETE),
     "securityDefinitions: required by TD 1.1 but missing"),
    ("empty_security_definitions", {**MINIMAL, "securityDefinitions": {}, "security": []},
     "securityDefinitions: must not be empty"),
    ("security_names_undefined", with_(MINIMAL, "security", "basic_sc"),
     "security: names 'basic_sc', which is not defined in securityDefinitions"),
    ("security_array_undefined", with_(MINIMAL, "security", ["nosec_sc", "nope"]),
     "security[1]: names 'nope', which is not defined in securityDefinitions"),
    ("security_number", with_(MINIMAL, "security", 1),
     "security: must be a string or array, got integer"),
    ("unknown_scheme", with_(MINIMAL, "securityDefinitions/nosec_sc/scheme", "magic"),
     "securityDefinitions.nosec_sc.scheme: 'magic' is not allowed here (one of nosec, auto, combo, basic"),
    ("scheme_missing", with_(MINIMAL, "securityDefinitions/nosec_sc", {"in": "header"}),
     "securityDefinitions.nosec_sc.scheme: required by TD 1.1 but missing"),
    ("bearer_bad_in", with_(FRIDGE, "securityDefinitions/bearer_sc/in", "smoke-signal"),
     "securityDefinitions.bearer_sc.in: 'smoke-signal' is not allowed here (one of header, query, body, cookie, auto)"),
    ("oauth2_without_flow", {**MINIMAL, "securityDefinitions": {"o": {"scheme": "oauth2"}}, "security": "o"},
     "securityDefinitions.o.flow: required for the oauth2 scheme but missing"),
    ("combo_unknown_member", {**MINIMAL, "securityDefinitions": {"c": {"scheme": "combo", "allOf": ["x"]}},
                              "security": "c"},
     "securityDefinitions.c.allOf[0]: names 'x', which is not defined in securityDefinitions"),
    ("combo_without_members", {**MINIMAL, "securityDefinitions": {"c": {"scheme": "combo"}}, "security": "c"},
     "securityDefinitions.c.oneOf: required by TD 1.1 but missing"),
    ("property_without_forms", with_(FRIDGE, "properties/temperature/forms", DELETE),
     "properties.temperature.forms: required by TD 1.1 but missing"),
    ("form_without_href", with_(FRIDGE, "properties/temperature/forms/0/href", DELETE),
     "properties.temperature.forms[0].href: required by TD 1.1 but missing"),
    ("forms_empty", with_(FRIDGE, "properties/humidity/forms", []),
     "properties.humidity.forms: must not be empty"),
    ("forms_not_array", with_(FRIDGE, "properties/humidity/forms", {"href": "/h"}),
     "properties.humidity.forms: must be an array, got object"),
    ("property_op_on_event", with_(FRIDGE, "events/alert/forms/0/op", "readproperty"),
     "events.alert.forms[0].op: 'readproperty' is not allowed here (one of subscribeevent, unsubscribeevent)"),
    ("unknown_op_in_array", with_(FRIDGE, "properties/temperature/forms/0/op", ["readproperty", "explode"]),
     "properties.temperature.forms[0].op[1]: 'explode' is not allowed here (one of readproperty,"),
    ("op_number", with_(FRIDGE, "properties/temperature/forms/0/op", 7),
     "properties.temperature.forms[0].op: must be a string or array, got integer"),
    ("action_without_forms", {**MINIMAL, "actions": {"reset": {}}},
     "actions.reset.forms: required by TD 1.1 but missing"),
    ("event_missing_href", {**MINIMAL, "events": {"ring": {"forms": [{"op": "subscribeevent"}]}}},
     "events.ring.forms[0].href: required by TD 1.1 but missing"),
    ("thing_form_without_op", {**MINIMAL, "forms": [{"href": "/all"}]},
     "forms[0].op: required by TD 1.1 but missing"),
    ("unknown_data_type", with_(FRIDGE, "properties/temperature/type", "float"),
     "properties.temperature.type: 'float' is not allowed here (one of boolean, integer, number"),
    ("unit_not_string", with_(FRIDGE, "properties/temperature/unit", 42), "properties.temperature.unit: must be a string, got integer"),
    ("minimum_above_maximum", with_(FRIDGE, "properties/powerDraw/minimum", 9000),
     "properties.powerDraw: minimum 9000 is greater than maximum 5000"),
    ("read_and_write_only", with_(FRIDGE, "properties/doorOpen/writeOnly", True),
     "properties.doorOpen: readOnly and writeOnly cannot both be true"),
    ("readonly_not_boolean", with_(FRIDGE, "properties/doorOpen/readOnly", "yes"),
     "properties.doorOpen.readOnly: must be a boolean, got string"),
    ("empty_enum", with_(FRIDGE, "properties/doorOpen/enum", []), "properties.doorOpen.enum: must not be empty"),
    ("nested_schema_bad_type", {**MINIMAL, "actions": {"a": {"input": {"type": "object", "properties": {
        "x": {"type": "decimal"}}}, "forms": [{"href": "/a"}]}}},
     "actions.a.input.properties.x.type: 'decimal' is not allowed here"),
    ("required_names_missing_property", {**MINIMAL, "actions": {"a": {"input": {"type": "object", "properties": {
        "x": {"type": "number"}}, "required": ["y"]}, "forms": [{"href": "/a"}]}}},
     "actions.a.input.required[0]: names 'y', which is not in properties"),
    ("negative_max_length", {**MINIMAL, "properties": {"s": {"type": "string", "maxLength": -1,
                                                              "forms": [{"href": "/s"}]}}},
     "properties.s.maxLength: must be at least 0, got -1"),
    ("properties_not_object", with_(MINIMAL, "properties", ["temperature"]), "properties: must be an object, got array"),
    ("event_data_not_object", with_(FRIDGE, "events/alert/data", "string"),
     "events.alert.data: must be an object, got string"),
    ("bad_geohash", with_(FRIDGE, "geohash", "u33da"), "geohash: must be 1-12 base32 geohash characters"),
    # `$` matches before a trailing newline: the check must match the whole string.
    ("geohash_trailing_newline", with_(FRIDGE, "geohash", "u33db\n"), "geohash: must be 1-12 base32 geohash characters"),
    ("bad_created", with_(MINIMAL, "created", "yesterday"), "created: must be an RFC 3339 date-time (format date-time), got 'yesterday'"),
    ("version_without_instance", with_(MINIMAL, "version", {}), "version.instance: required by TD 1.1 but missing"),
    ("link_without_href", with_(MINIMAL, "links", [{"rel": "item"}]), "links[0].href: required by TD 1.1 but missing"),
    ("type_number", with_(MINIMAL, "@type", 5), "@type: must be a string or array, got integer"),
    ("tags_bad_entry", with_(FRIDGE, "tags", ["ok", 3]), "tags[1]: must be a string, got integer"),
    # Issue 15: the TD 1.1 JSON Schema says id is format uri; words with spaces were accepted.
    ("id_not_a_uri", with_(MINIMAL, "id", "just words with spaces"),
     "id: must be a URI (format uri), got 'just words with spaces' [TD 1.1 schema #/properties/id/format]"),
    ("id_without_scheme", with_(MINIMAL, "id", "device-0001"), "id: must be a URI (format uri), got 'device-0001'"),
    ("modified_not_rfc3339", with_(MINIMAL, "modified", "2024-13-01"),
     "modified: must be an RFC 3339 date-time (format date-time)"),
    ("href_number", with_(FRIDGE, "properties/temperature/forms/0/href", 5),
     "properties.temperature.forms[0].href: must be a string, got integer [TD 1.1 schema #/definitions/anyUri/type]"),
    ("form_security_undefined", with_(FRIDGE, "properties/temperature/forms/0/security", "nope"),
     "properties.temperature.forms[0].security: names 'nope', which is not defined in securityDefinitions"),
    ("content_type_number", with_(FRIDGE, "properties/temperature/forms/0/contentType", 1),
     "properties.temperature.forms[0].contentType: must be a string, got integer"),
    ("nan_value", with_(FRIDGE, "properties/powerDraw/maximum", float("nan")), "$: not representable as JSON"),
    ("too_large", with_(MINIMAL, "description", "x" * (MAX_TD_BYTES + 1)),
     f"over the {MAX_TD_BYTES}-byte limit"),
]


def test_the_table_has_at_least_30_cases():
    assert len(VALID) + len(BROKEN) >= 30 and len(BROKEN) >= 30


@pytest.mark.parametrize("td", VALID.values(), ids=VALID.keys())
def test_valid_td_passes(td):
    validate_td(td)
    assert ThingDescription.from_dict(td).title == td["title"]


@pytest.mark.parametrize(("td", "expected"), [(td, msg) for _, td, msg in BROKEN], ids=[c for c, _, _ in BROKEN])
def test_broken_td_names_field_and_reason(td, expected):
    with pytest.raises(TDValidationError) as info:
        validate_td(td)
    assert any(expected in e for e in info.value.errors), info.value.errors
    assert isinstance(info.value, ExchangeError) and isinstance(info.value, ValueError)
    assert expected.split(":")[0] in str(info.value)


def test_every_problem_is_reported_not_just_the_first():
    td = with_(with_(MINIMAL, "title", DELETE), "security", "nope")
    with pytest.raises(TDValidationError) as info:
        validate_td(td)
    assert len(info.value.errors) == 2


def test_canonical_form_sorts_keys_and_drops_whitespace():
    td = {"title": "é", "@context": TD11_CONTEXT, "security": "s", "securityDefinitions": {"s": {"scheme": "nosec"}}}
    assert canonical_td(td) == ('{"@context":"' + TD11_CONTEXT + '","security":"s","securityDefinitions":'
                                '{"s":{"scheme":"nosec"}},"title":"é"}').encode()


def test_td_hash_is_keccak_of_canonical_bytes():
    assert td_hash(FRIDGE) == keccak(canonical_td(FRIDGE)) and len(td_hash(FRIDGE)) == 32


def test_canonical_td_refuses_invalid_td():
    with pytest.raises(TDValidationError):
        canonical_td(with_(MINIMAL, "title", DELETE))


@pytest.mark.parametrize("kind", sorted(APPLIANCES))
def test_sample_appliance_tds_are_about_1_5_kb(kind):
    assert 1200 <= len(canonical_td(appliance_td(kind))) <= 1800


def test_model_extracts_catalog_fields():
    m = ThingDescription.from_dict(FRIDGE)
    assert m.types == ("Thing", "Refrigerator") and m.geohash == "u33db" and m.tags == ("kitchen",)
    assert ("temperature", "degree Celsius") in {(a.name, a.unit) for a in m.affordances}
    assert m.security_schemes == ("bearer",)
    assert ThingDescription.from_bytes(canonical_td(FRIDGE)) == m


def test_from_bytes_rejects_non_json():
    with pytest.raises(TDValidationError, match="not UTF-8 JSON"):
        ThingDescription.from_bytes(b"\xff{")


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=10) | st.integers(), max_size=4),
       st.randoms(use_true_random=False))
def test_canonical_bytes_ignore_key_order_and_are_a_fixed_point(extra, rnd):
    td = copy.deepcopy(FRIDGE)
    td["properties"]["temperature"].update({f"x-{k}": v for k, v in extra.items()})
    items = list(td.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    assert canonical_td(shuffled) == canonical_td(td)
    assert canonical_td(json.loads(canonical_td(td))) == canonical_td(td)
