"""Catalog pages against a real chain + indexer + catalog: filters in the URL, map, hostile TDs."""

from __future__ import annotations

import re

import pytest

from tests.frontend.fe_helpers import error_messages, input_attrs


def count_of(html: str) -> int:
    return int(re.search(r'id="result-count"><strong>(\d+)</strong>', html).group(1))


def test_unfiltered_catalog_lists_every_device_with_a_map(world_m, world_app):
    html = world_app.test_client().get("/catalog/").get_data(as_text=True)
    assert count_of(html) == 30
    assert html.count('class="marker') >= 1 and "<svg" in html
    assert "30 of 30 matching devices placed on the map" in html


def test_type_filter_lives_in_the_url_and_narrows_the_results(world_m, world_app):
    c = world_app.test_client()
    fridges = sum(1 for d in world_m.devices if d.kind == "Refrigerator")
    html = c.get("/catalog/?type=Refrigerator").get_data(as_text=True)
    assert count_of(html) == fridges
    assert 'value="Refrigerator" selected' in html


def test_text_geohash_and_reserve_filters_combine(world_m, world_app):
    c = world_app.test_client()
    berlin = [d for d in world_m.devices if d.city == "Berlin"]
    html = c.get("/catalog/?q=berlin").get_data(as_text=True)
    assert count_of(html) == len(berlin) > 0  # the city is a tag of every device there
    cheap = sorted(d.reserve for d in world_m.devices)[9]
    html = c.get(f"/catalog/?reserve_max={cheap / 10**18:.18f}".rstrip("0")).get_data(as_text=True)
    assert count_of(html) == sum(1 for d in world_m.devices if d.reserve <= cheap)


def test_pagination_keeps_the_filter(world_m, world_app):
    html = world_app.test_client().get("/catalog/?per_page=7&type=Refrigerator").get_data(as_text=True)
    nxt = re.search(r'href="([^"]+)" rel="next"', html)
    fridges = sum(1 for d in world_m.devices if d.kind == "Refrigerator")
    if fridges > 7:
        assert "type=Refrigerator" in nxt.group(1) and "page=2" in nxt.group(1)
    html = world_app.test_client().get("/catalog/?per_page=7").get_data(as_text=True)
    assert "page 1 of 5" in html


def test_markup_in_td_titles_is_escaped_everywhere(world_m, world_app):
    c = world_app.test_client()
    html = c.get("/catalog/?per_page=200").get_data(as_text=True)
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    hostile = world_m.devices[0]
    page = c.get(f"/catalog/device/0x{hostile.device_id.hex()}").get_data(as_text=True)
    assert "<iframe" not in page and "<b onmouseover" not in page
    assert "&lt;b onmouseover=" in page


def test_device_page_shows_td_attestation_and_history(world_m, world_app):
    d = world_m.devices[5]
    page = world_app.test_client().get(f"/catalog/device/0x{d.device_id.hex()}").get_data(as_text=True)
    assert d.td["title"] in page and "not attested" in page and "Thing Description" in page
    assert "temperature" in page or "powerDraw" in page


def test_unknown_device_is_404(world_app):
    r = world_app.test_client().get("/catalog/device/0x" + "ab" * 32)
    assert r.status_code == 404


@pytest.mark.parametrize("query,message", [
    ("lat=abc&lon=1&radius_km=5", "Latitude must be a number, not 'abc'"),
    ("lat=91&lon=1&radius_km=5", "Latitude must be between -90 and 90"),
    ("lat=10", "Radius (km) needs latitude and longitude"),
    ("reserve_min=-1", "Reserve from must be an amount in ETH"),
    ("reserve_min=1e999", "Reserve from must be an amount in ETH"),
    ("reserve_max=99999999999999", "Reserve to is too large"),
    ("reserve_min=0.5&reserve_max=0.1", "Reserve to must not be below Reserve from"),
    ("geohash=ailo", "Geohash prefix must be 1-12 geohash characters"),
    ("per_page=0", "Results per page must be between 1 and 200"),
    ("per_page=abc", "Results per page must be a whole number"),
    ("page=-3", "Page must be between 1 and 100000"),
    ("sort=drop_table", "Sort must be one of the orders in the list"),
    ("sort=distance", "Sort by distance needs latitude, longitude and radius"),
    ("min_reputation=nan", "Minimum reputation must be"),
    ("q=" + "x" * 201, "Text must be at most 200 characters"),
    ("type=" + "T" * 101, "Type must be at most 100 characters"),
])
def test_bad_filter_values_give_a_message_naming_the_field_as_labelled(world_app, query, message):
    r = world_app.test_client().get("/catalog/?" + query)
    assert r.status_code == 400
    errors = error_messages(r.get_data(as_text=True))
    assert any(e.startswith(message) for e in errors), errors
    assert not any(raw in e for e in errors for raw in ("reserve_", "radius_km", "per_page", "min_reputation"))


@pytest.mark.parametrize("query", ["lat=999&lon=13&radius_km=5", "reserve_min=-5", "per_page=abc", "type=Refrigerator&page=-3"])
def test_a_bad_filter_never_widens_the_search_to_the_whole_catalog(world_m, world_app, query):
    c = world_app.test_client()
    c.get("/catalog/")  # world_m is indexed: the unfiltered catalog has devices
    html = c.get("/catalog/?" + query).get_data(as_text=True)
    # Not the 30 devices of the catalog without the broken field: no count, no row, no marker.
    assert "Not searched: fix the marked field first." in html and 'id="result-count"><strong>' not in html
    assert 'class="title"' not in html and "No device matches." in html
    assert 'class="marker' not in html


@pytest.mark.parametrize("typed,shown", [
    ({"lat": "52", "lon": "13", "radius_km": "800"}, {"lat": "52", "lon": "13", "radius_km": "800"}),
    ({"lat": "52.520", "lon": "-13.40", "radius_km": "0.5"}, {"lat": "52.52", "lon": "-13.4", "radius_km": "0.5"}),
    ({"lat": "52", "lon": "13", "radius_km": "800", "min_reputation": "4"},
     {"lat": "52", "lon": "13", "radius_km": "800", "min_reputation": "4"}),
])
def test_the_filter_echoes_numbers_as_parsed_without_a_spurious_decimal(world_m, world_app, typed, shown):
    from urllib.parse import urlencode

    from werkzeug.datastructures import MultiDict

    from frontend.forms import parse_catalog_query

    html = world_app.test_client().get("/catalog/?" + urlencode(typed)).get_data(as_text=True)
    assert {k: input_attrs(html, k, "filters")["value"] for k in shown} == shown
    # Page links and the bid form's hidden filter come from as_args: the same text.
    assert parse_catalog_query(MultiDict(typed)).as_args() == shown


def test_root_link_keeps_its_filters(world_app):
    r = world_app.test_client().get("/?type=Refrigerator&q=fridge")
    assert r.status_code == 302 and r.headers["Location"].endswith("/catalog/?type=Refrigerator&q=fridge")


def _svg_frame(html: str) -> tuple[float, float]:
    w, h = re.search(r'<svg [^>]*viewBox="0 0 (\d+) (\d+)"', html).groups()
    return float(w), float(h)


@pytest.mark.parametrize("query,found", [
    ("lat=52.52&lon=13.4&radius_km=800", True),  # Berlin and its neighbours
    ("lat=-45&lon=170&radius_km=50", False),  # no device there: the circle alone is still drawn
])
def test_a_radius_search_draws_its_centre_and_circle_on_the_map(world_m, world_app, query, found):
    c = world_app.test_client()
    html = c.get("/catalog/?" + query).get_data(as_text=True)
    assert (count_of(html) > 0) == found
    area = re.search(r'<g id="search-area">(.*?)</g>', html, re.S)
    assert area, "no search area drawn"
    lat, lon, radius = (v for _, v in (p.split("=") for p in query.split("&")))
    assert f"radius {radius} km" in area.group(1) and f"search centre {float(lat):.3f}, {float(lon):.3f}" in html
    cx, cy = map(float, re.search(r'<circle class="search-centre" cx="([-\d.]+)" cy="([-\d.]+)"', html).groups())
    width, height = _svg_frame(html)
    assert 0 < cx < width and 0 < cy < height
    points = [tuple(map(float, p.split(","))) for p in
              re.search(r'<polygon class="search-circle" points="([^"]+)"', html).group(1).split()]
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    assert "dashed outline its circle" in html
    plain = c.get("/catalog/").get_data(as_text=True)
    assert 'id="search-area"' not in plain and "<svg" in plain


def test_a_device_id_in_the_url_lists_only_that_device_and_says_so(world_m, world_app):
    d = world_m.devices[7]
    html = world_app.test_client().get(f"/catalog/?device_id=0x{d.device_id.hex().upper()}").get_data(as_text=True)
    assert count_of(html) == 1 and f'href="/catalog/device/0x{d.device_id.hex()}" class="title"' in html
    assert input_attrs(html, "device_id", "filters")["value"] == f"0x{d.device_id.hex()}"  # kept by the filter form
    assert 'id="only-device"' in html and 'href="/catalog/">all devices</a>' in html


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_property_and_unit_filters_match_part_of_a_name_in_any_case_and_suggest_what_exists(world_m, world_app):
    from exchange.wot.samples import APPLIANCES

    c = world_app.test_client()
    with_temp = sum(1 for d in world_m.devices if any("temp" in n.lower() for n, _, _ in APPLIANCES[d.kind]))
    assert 0 < with_temp < len(world_m.devices)
    assert count_of(c.get("/catalog/?prop=Temperature").get_data(as_text=True)) == with_temp  # flowTemperature too
    assert count_of(c.get("/catalog/?unit=celsius").get_data(as_text=True)) == with_temp  # "degree Celsius"
    html = c.get("/catalog/").get_data(as_text=True)
    props = re.search(r'<datalist id="prop-names">(.*?)</datalist>', html, re.S).group(1)
    units = re.search(r'<datalist id="unit-names">(.*?)</datalist>', html, re.S).group(1)
    assert 'value="flowTemperature"' in props and 'value="degree Celsius"' in units
    assert 'name="prop" list="prop-names"' in html and 'name="unit" list="unit-names"' in html
    listed = re.search(r'<details id="vocabulary">(.*?)</details>', html, re.S).group(1)
    assert "waterTemperature" in listed and "kilowatt hour" in listed and "prop=waterTemperature" in listed


def test_the_count_is_exact_and_agrees_with_the_map_and_the_pager(world_m, world_app):
    html = world_app.test_client().get("/catalog/?per_page=5").get_data(as_text=True)
    assert count_of(html) == 30 and 'id="result-count"><strong>30+' not in html  # the look-ahead said 25+
    assert "30 of 30 matching devices placed on the map" in html
    assert "page 1 of 6 · next »" in _text(html)  # not "page 1 of 6next »"
    html = world_app.test_client().get("/catalog/?per_page=5&page=3").get_data(as_text=True)
    assert "« previous · page 3 of 6 · next »" in _text(html)


def test_a_validation_error_says_nothing_was_searched_instead_of_zero_matching(world_app):
    html = world_app.test_client().get("/catalog/?reserve_min=-5").get_data(as_text=True)
    count = _text(re.search(r'<p class="count" id="result-count">(.*?)</p>', html, re.S).group(1)).strip()
    assert count == "Not searched: fix the marked field first." and "0 matching" not in _text(html)


def test_the_device_page_lists_what_it_offers_as_a_table_and_folds_the_raw_td(world_m, world_app):
    """Issue 17: the device page was mostly a raw JSON block."""
    d = next(x for x in world_m.devices[2:] if x.kind == "Refrigerator")
    html = world_app.test_client().get(f"/catalog/device/0x{d.device_id.hex()}").get_data(as_text=True)
    table = re.search(r'<table class="results" id="affordances">(.*?)</table>', html, re.S).group(1)
    rows = [_text(r).strip() for r in re.findall(r"<tr class=\"(?:property|action|event)\">(.*?)</tr>", table, re.S)]
    assert any(r.startswith("property temperature") and "number" in r and "degree Celsius" in r for r in rows), rows
    assert any(r.startswith("property doorOpen") and "boolean" in r for r in rows), rows
    assert len(rows) == sum(len(d.td.get(k, {})) for k in ("properties", "actions", "events"))
    assert re.search(r'<details id="td-raw"><summary>', html)  # folded: closed until asked


def test_where_shows_degrees_that_search_around_the_device_not_a_raw_geohash(world_m, world_app):
    html = world_app.test_client().get("/catalog/?per_page=200").get_data(as_text=True)
    cells = re.findall(r'<td class="where">(.*?)</td>', html, re.S)
    assert len(cells) == 30
    shown = [_text(c).strip() for c in cells]
    assert all(re.fullmatch(r"\d+\.\d\d°[NS] \d+\.\d\d°[EW]", c) for c in shown), shown[:3]
    assert all("radius_km=50" in c and "lat=" in c for c in cells)


def test_a_radius_search_pans_by_its_radius_to_the_north_south_east_and_west(world_m, world_app):
    html = world_app.test_client().get("/catalog/?lat=52.52&lon=13.4&radius_km=100").get_data(as_text=True)
    nav = re.search(r'<nav class="map-zoom" id="map-zoom">(.*?)</nav>', html, re.S)
    assert nav, "no map navigation"
    links = dict(re.findall(r'<a href="([^"]+)" id="pan-(\w+)"', nav.group(1)))
    moves = {d: h for h, d in links.items()}
    assert set(moves) == {"north", "south", "east", "west"}, links

    def centre(href):
        q = dict(p.split("=") for p in href.replace("&amp;", "&").split("?", 1)[1].split("&"))
        return float(q["lat"]), float(q["lon"]), q["radius_km"]

    from exchange.geo import KM_PER_DEG_LAT

    step_lat = 100 / KM_PER_DEG_LAT
    assert centre(moves["north"]) == (pytest.approx(52.52 + step_lat, abs=1e-3), pytest.approx(13.4), "100")
    assert centre(moves["south"]) == (pytest.approx(52.52 - step_lat, abs=1e-3), pytest.approx(13.4), "100")
    east = centre(moves["east"])
    assert east[0] == pytest.approx(52.52) and east[1] > 13.4 + step_lat  # a degree of longitude is shorter up north
    assert centre(moves["west"])[1] == pytest.approx(13.4 - (east[1] - 13.4), abs=1e-3)
