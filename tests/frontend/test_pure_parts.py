"""Pure parts of the frontend: form parsing (Hypothesis) and the SVG map."""

from __future__ import annotations

import math
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
@given(st.dictionaries(st.sampled_from(["device_id", "q", "type", "prop", "unit", "geohash", "lat", "lon", "radius_km",
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


@pytest.mark.parametrize("raw,parsed", [
    ("0x" + "AB" * 32, "0x" + "ab" * 32), ("ab" * 32, "0x" + "ab" * 32), (" 0x" + "0f" * 32 + " ", "0x" + "0f" * 32),
    ("0X" + "ab" * 32, "0x" + "ab" * 32),
    ("", ""),
])
def test_a_device_id_filter_is_normalised(raw, parsed):
    cq = parse_catalog_query(MultiDict({"device_id": raw}))
    assert cq.errors == [] and cq.device_id == parsed
    assert cq.as_args().get("device_id", "") == parsed


@pytest.mark.parametrize("raw", ["0x12", "0x" + "zz" * 32, "0x" + "ab" * 33, "0x" + "ab" * 31 + "a",
                                 "0x" + "ab" * 32 + "\n0x" + "cd" * 32, "' OR 1=1 --"])
def test_a_bad_device_id_filter_is_refused_naming_the_field(raw):
    cq = parse_catalog_query(MultiDict({"device_id": raw, "q": "fridge"}))
    assert [str(e) for e in cq.errors] == ["The device id must be 0x followed by 64 hex digits"]
    assert cq.device_id == "" and cq.q == "fridge"


CAPITALS = [(52.52, 13.40, "berlin", "/b"), (48.86, 2.35, "paris", "/p"), (40.42, -3.70, "madrid", "/m")]


def _polygon(area) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in area.points.split()]


def test_map_without_a_radius_search_draws_no_search_area():
    assert build_map(CAPITALS).area is None


@pytest.mark.parametrize("circle", [
    (52.52, 13.40, 1), (52.52, 13.40, 800), (10.0, 100.0, 50),  # far from every device
    (0.0, 179.5, 300), (80.0, 170.0, 1500), (-70.0, 0.0, 3000), (0.0, 0.0, 20000),  # antimeridian, poles, the globe
])
def test_the_search_centre_and_the_devices_are_inside_the_drawn_box(circle):
    m = build_map(CAPITALS, circle=circle)
    assert m.area is not None and circle[2] == float(m.area.label.split("radius ")[1].split(" km")[0])
    assert 0 < m.area.x < m.width and 0 < m.area.y < m.height
    assert all(0 <= k.x <= m.width and 0 <= k.y <= m.height for k in m.markers)
    assert sum(k.count for k in m.markers) == 3
    south, west, north, east = m.bounds
    assert south <= max(circle[0], -85) <= north and west <= circle[1] <= east


@pytest.mark.parametrize("circle", [(52.52, 13.40, 50), (52.52, 13.40, 1500), (10.0, 100.0, 300)])
def test_the_whole_search_circle_is_inside_the_drawn_box(circle):
    m = build_map(CAPITALS, circle=circle)
    xs, ys = zip(*_polygon(m.area), strict=True)
    assert 0 <= min(xs) and max(xs) <= m.width and 0 <= min(ys) and max(ys) <= m.height
    # ... and it is round: as wide as high on a conformal projection (to a few percent here).
    assert abs((max(xs) - min(xs)) - (max(ys) - min(ys))) <= 0.05 * (max(ys) - min(ys))


def test_the_drawn_circle_grows_with_the_radius():
    radii = [1, 10, 50, 200]  # the devices set the box, so the scale stays the same
    drawn = [build_map(CAPITALS, circle=(50.0, 5.0, r)).area.r for r in radii]
    assert drawn == sorted(drawn) and len(set(drawn)) == len(drawn)
    assert drawn[3] / drawn[2] == pytest.approx(4, rel=0.05)


def test_the_map_frame_takes_the_shape_of_the_devices():
    tall = build_map([(40.0 + i, 10.0, f"d{i}", None) for i in range(15)])
    wide = build_map([(50.0, -20.0 + 3 * i, f"d{i}", None) for i in range(15)])
    assert tall.height == 475 and tall.width < 475
    assert wide.width == 720 and wide.height < 380
    for m in (tall, wide):  # no empty band: the graticule reaches the frame's margins
        xs = [v for g in m.grid for v in (g.x1, g.x2)]
        ys = [v for g in m.grid for v in (g.y1, g.y2)]
        assert min(xs) <= 12 and max(xs) >= m.width - 12 and min(ys) <= 12 and max(ys) >= m.height - 12


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


def test_map_clusters_never_overlap_and_each_links_to_a_search_that_zooms_onto_it():
    """Issue 17: clusters overlapped and could not be clicked."""
    import random

    from exchange.geo import haversine_km

    rng = random.Random(5)
    pts = [(52.5 + rng.uniform(-3, 3), 13.4 + rng.uniform(-5, 5), f"d{i}", f"/d/{i}") for i in range(600)]
    pts += [(48.1 + rng.uniform(-0.01, 0.01), 11.6 + rng.uniform(-0.01, 0.01), f"m{i}", f"/m/{i}") for i in range(80)]
    asked = []

    def zoom(lat, lon, radius_km):
        asked.append((lat, lon, radius_km))
        return f"/catalog/?lat={lat:.4f}&lon={lon:.4f}&radius_km={radius_km:g}"

    m = build_map(pts, cluster_href=zoom)
    assert sum(k.count for k in m.markers) == len(pts)
    for i, a in enumerate(m.markers):
        for b in m.markers[i + 1:]:
            assert math.hypot(a.x - b.x, a.y - b.y) >= a.r + b.r - 0.2, (a, b)
    clusters = [k for k in m.markers if k.count > 1]
    assert clusters and all(k.href and k.href.startswith("/catalog/?lat=") for k in clusters)
    assert len(asked) == len(clusters)
    munich = next(a for a in asked if abs(a[0] - 48.1) < 0.05)
    assert munich[2] <= 5  # a tight group zooms in tight: every member lies inside the circle
    assert all(haversine_km(munich[0], munich[1], p[0], p[1]) <= munich[2] for p in pts[600:])


def test_the_map_tells_the_page_how_to_turn_a_click_into_a_latitude_and_longitude():
    m = build_map(CAPITALS)
    s, w, n, e = m.bounds
    lat, lon = m.unproject(m.width / 2, m.height / 2)
    assert s < lat < n and w < lon < e
    for la, lo, *_ in CAPITALS[:3]:
        x, y = m.project(la, lo)
        back = m.unproject(x, y)
        assert abs(back[0] - la) < 1e-6 and abs(back[1] - lo) < 1e-6
