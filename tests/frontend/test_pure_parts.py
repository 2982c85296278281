"""Pure parts of the frontend: form parsing (Hypothesis) and the SVG map."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from frontend.errors import FormError
from frontend.forms import format_eth, format_number, parse_catalog_query, parse_eth
from frontend.stream_ops import _reading_text
from frontend.svgmap import build_map


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=10**27))
def test_eth_amounts_round_trip_through_the_form(wei):
    assert parse_eth("amount", format_eth(wei)) == wei


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_typed_amount_is_either_a_valid_wei_amount_or_a_form_error(text):
    try:
        wei = parse_eth("amount", text)
    except FormError as exc:
        assert exc.field == "amount"
        return
    assert 0 < wei <= 10**9 * 10**18
    assert Decimal(text.strip()) * 10**18 == wei


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["q", "type", "prop", "unit", "geohash", "lat", "lon", "radius_km",
                                        "reserve_min", "reserve_max", "min_reputation", "sort", "page",
                                        "per_page", "attested"]), st.text(max_size=30)))
def test_catalog_query_parsing_never_raises_and_keeps_only_valid_values(args):
    cq = parse_catalog_query(MultiDict(args))
    assert 1 <= cq.page and 1 <= cq.per_page <= 200
    assert (cq.lat is None) == (cq.lon is None) == (cq.radius_km is None)
    if cq.reserve_min is not None and cq.reserve_max is not None:
        assert cq.reserve_min <= cq.reserve_max
    assert parse_catalog_query(MultiDict(cq.as_args())).errors == []  # a shared URL reproduces the filter


def test_map_fits_points_and_clusters_without_losing_any():
    pts = [(52.5 + i * 0.001, 13.4, f"d{i}", f"/d/{i}") for i in range(50)] + [(48.85, 2.35, "paris", "/p")]
    m = build_map(pts)
    assert m.placed == 51 and sum(k.count for k in m.markers) == 51
    assert all(0 <= k.x <= m.width and 0 <= k.y <= m.height for k in m.markers)
    single = [k for k in m.markers if k.count == 1]
    assert single and single[0].href == "/p"
    assert m.grid  # degree lines give bearings without tiles


@pytest.mark.parametrize("bad", [(None, 1.0), (95.0, 0.0), (0.0, 200.0)])
def test_map_skips_unplaceable_points(bad):
    m = build_map([(bad[0], bad[1], "x", None), (10.0, 10.0, "ok", None)])
    assert m.placed == 1 and m.total == 2


class _Reading:
    def __init__(self, data: bytes):
        self.data = data

    def json(self):
        import json

        return json.loads(self.data)


@pytest.mark.parametrize("data,text", [
    (b'{"t": 1795311688, "doorOpen": false, "temperature": 4.5}', "time 01:41:28 UTC, doorOpen=no, temperature=4.5"),
    (b'{"t": 0, "on": true}', "time 00:00:00 UTC, on=yes"),
    (b'{"t": 1e30, "x": 1}', "t=1e+30, x=1"),  # not a time: the number as it is
    (b'{"t": "noon", "x": 1}', "t=noon, x=1"),
    (b'{"t": true}', "t=yes"),
    (b'{"<b>": "<script>alert(1)</script>"}', "<b>=<script>alert(1)</script>"),  # text, set as textContent
    (b"not json", "not json"),
    (b"[1, 2]", "[1, 2]"),
])
def test_stream_readings_read_as_text_with_utc_times_and_yes_no(data, text):
    assert _reading_text(_Reading(data)) == text


@pytest.mark.parametrize("value,text", [(800.0, "800"), (0.5, "0.5"), (52.52, "52.52"), (-13.4, "-13.4"),
                                        (1e-05, "1e-05"), (None, ""), (3, "3")])
def test_numbers_are_echoed_without_a_spurious_decimal(value, text):
    assert format_number(value) == text
