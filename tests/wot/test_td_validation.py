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
     "@context[0]: the TD 1.1 context must be the first entry"),
    ("context_td10_after_td11", with_(MINIMAL, "@context", [TD11_CONTEXT, "https://www.w3.org/2019/wot/td/v1"]),
     "@context: the TD 1.0 context must come before the TD 1.1 context"),
    ("context_number", with_(MINIMAL, "@context", 11), "@context: must be a string or an array, got integer"),
    ("context_entry_number", with_(MINIMAL, "@context", [TD11_CONTEXT, 5]),
     "@context[1]: must be a URI string or a prefix object, got integer"),
    ("missing_title", with_(MINIMAL, "title", DELETE), "title: required by TD 1.1 but missing"),
    ("empty_title", with_(MINIMAL, "title", "  "), "title: must not be empty"),
    ("title_number", with_(MINIMAL, "title", 3), "title: must be a string, got integer"),
    ("missing_security", with_(MINIMAL, "security", DELETE), "security: required by TD 1.1 but missing"),
    ("missing_security_definitions", with_(MINIMAL, "securityDefinitions", DELETE),
     "securityDefinitions: required by TD 1.1 but missing"),
    ("empty_security_definitions", {**MINIMAL, "securityDefinitions": {}, "security": []},
     "securityDefinitions: must define at least one security scheme"),
    ("security_names_undefined", with_(MINIMAL, "security", "basic_sc"),
     "security: names 'basic_sc', which is not defined in securityDefinitions"),
    ("security_array_undefined", with_(MINIMAL, "security", ["nosec_sc", "nope"]),
     "security[1]: names 'nope', which is not defined in securityDefinitions"),
    ("security_number", with_(MINIMAL, "security", 1),
     "security: must be a string or an array of strings, got integer"),
    ("unknown_scheme", with_(MINIMAL, "securityDefinitions/nosec_sc/scheme", "magic"),
     "securityDefinitions.nosec_sc.scheme: unknown security scheme 'magic'"),
    ("scheme_missing", with_(MINIMAL, "securityDefinitions/nosec_sc", {"in": "header"}),
     "securityDefinitions.nosec_sc.scheme: required but missing"),
    ("bearer_bad_in", with_(FRIDGE, "securityDefinitions/bearer_sc/in", "smoke-signal"),
     "securityDefinitions.bearer_sc.in: must be one of auto, body, cookie, header, query, uri, got 'smoke-signal'"),
    ("oauth2_without_flow", {**MINIMAL, "securityDefinitions": {"o": {"scheme": "oauth2"}}, "security": "o"},
     "securityDefinitions.o.flow: required for the oauth2 scheme but missing"),
    ("combo_unknown_member", {**MINIMAL, "securityDefinitions": {"c": {"scheme": "combo", "allOf": ["x"]}},
                              "security": "c"},
     "securityDefinitions.c.allOf: names 'x', which is not in securityDefinitions"),
    ("combo_without_members", {**MINIMAL, "securityDefinitions": {"c": {"scheme": "combo"}}, "security": "c"},
     "securityDefinitions.c: a combo scheme needs exactly one of oneOf or allOf"),
    ("property_without_forms", with_(FRIDGE, "properties/temperature/forms", DELETE),
     "properties.temperature.forms: required on every interaction affordance but missing"),
    ("form_without_href", with_(FRIDGE, "properties/temperature/forms/0/href", DELETE),
     "properties.temperature.forms[0].href: required on every form but missing"),
    ("empty_href", with_(FRIDGE, "properties/doorOpen/forms/0/href", ""),
     "properties.doorOpen.forms[0].href: must not be empty"),
    ("forms_empty", with_(FRIDGE, "properties/humidity/forms", []),
     "properties.humidity.forms: must contain at least one form"),
    ("forms_not_array", with_(FRIDGE, "properties/humidity/forms", {"href": "/h"}),
     "properties.humidity.forms: must be a array, got object"),
    ("property_op_on_event", with_(FRIDGE, "events/alert/forms/0/op", "readproperty"),
     "events.alert.forms[0].op: 'readproperty' is not an operation allowed here"),
    ("unknown_op_in_array", with_(FRIDGE, "properties/temperature/forms/0/op", ["readproperty", "explode"]),
     "properties.temperature.forms[0].op[1]: 'explode' is not an operation allowed here"),
    ("op_number", with_(FRIDGE, "properties/temperature/forms/0/op", 7),
     "properties.temperature.forms[0].op: must be a string or an array of strings, got integer"),
    ("action_without_forms", {**MINIMAL, "actions": {"reset": {}}},
     "actions.reset.forms: required on every interaction affordance but missing"),
    ("event_missing_href", {**MINIMAL, "events": {"ring": {"forms": [{"op": "subscribeevent"}]}}},
     "events.ring.forms[0].href: required on every form but missing"),
    ("thing_form_without_op", {**MINIMAL, "forms": [{"href": "/all"}]},
     "forms[0].op: required on a Thing-level form but missing"),
    ("unknown_data_type", with_(FRIDGE, "properties/temperature/type", "float"),
     "properties.temperature.type: unknown data type 'float'"),
    ("unit_not_string", with_(FRIDGE, "properties/temperature/unit", 42), "properties.temperature.unit: must be a string, got integer"),
    ("minimum_above_maximum", with_(FRIDGE, "properties/powerDraw/minimum", 9000),
     "properties.powerDraw: minimum 9000 is greater than maximum 5000"),
    ("minimum_on_string", with_(FRIDGE, "properties/temperature/type", "string"),
     "properties.temperature.minimum: only applies to number or integer, not string"),
    ("read_and_write_only", with_(FRIDGE, "properties/doorOpen/writeOnly", True),
     "properties.doorOpen: readOnly and writeOnly cannot both be true"),
    ("readonly_not_boolean", with_(FRIDGE, "properties/doorOpen/readOnly", "yes"),
     "properties.doorOpen.readOnly: must be a boolean, got string"),
    ("empty_enum", with_(FRIDGE, "properties/doorOpen/enum", []), "properties.doorOpen.enum: must not be empty"),
    ("nested_schema_bad_type", {**MINIMAL, "actions": {"a": {"input": {"type": "object", "properties": {
        "x": {"type": "decimal"}}}, "forms": [{"href": "/a"}]}}},
     "actions.a.input.properties.x.type: unknown data type 'decimal'"),
    ("required_names_missing_property", {**MINIMAL, "actions": {"a": {"input": {"type": "object", "properties": {
        "x": {"type": "number"}}, "required": ["y"]}, "forms": [{"href": "/a"}]}}},
     "actions.a.input.required[0]: names 'y', which is not in properties"),
    ("negative_max_length", {**MINIMAL, "properties": {"s": {"type": "string", "maxLength": -1,
                                                              "forms": [{"href": "/s"}]}}},
     "properties.s.maxLength: must not be negative"),
    ("items_on_number", {**MINIMAL, "properties": {"n": {"type": "number", "items": {"type": "number"},
                                                          "forms": [{"href": "/n"}]}}},
     "properties.n.items: only applies to array, not number"),
    ("properties_not_object", with_(MINIMAL, "properties", ["temperature"]), "properties: must be a object, got array"),
    ("event_data_not_object", with_(FRIDGE, "events/alert/data", "string"),
     "events.alert.data: must be a object, got string"),
    ("bad_geohash", with_(FRIDGE, "geohash", "u33da"), "geohash: must be 1-12 base32 geohash characters"),
    ("bad_created", with_(MINIMAL, "created", "yesterday"), "created: must be an xsd:dateTime"),
    ("version_without_instance", with_(MINIMAL, "version", {}), "version.instance: required in a version object"),
    ("link_without_href", with_(MINIMAL, "links", [{"rel": "item"}]), "links[0].href: required in a link but missing"),
    ("type_number", with_(MINIMAL, "@type", 5), "@type: must be a string or an array of strings, got integer"),
    ("tags_bad_entry", with_(FRIDGE, "tags", ["ok", 3]), "tags[1]: must be a string, got integer"),
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
