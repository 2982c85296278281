"""Catalog pages against a real chain + indexer + catalog: filters in the URL, map, hostile TDs."""

from __future__ import annotations

import re

import pytest


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


@pytest.mark.parametrize("query,field", [
    ("lat=abc&lon=1&radius_km=5", "lat"),
    ("lat=91&lon=1&radius_km=5", "lat"),
    ("lat=10", "radius_km"),
    ("reserve_min=-1", "reserve_min"),
    ("reserve_min=1e999", "reserve_min"),
    ("reserve_max=99999999999999", "reserve_max"),
    ("reserve_min=0.5&reserve_max=0.1", "reserve_max"),
    ("geohash=ailo", "geohash"),
    ("per_page=0", "per_page"),
    ("per_page=abc", "per_page"),
    ("page=-3", "page"),
    ("sort=drop_table", "sort"),
    ("min_reputation=nan", "min_reputation"),
])
def test_bad_filter_values_give_a_message(world_app, query, field):
    r = world_app.test_client().get("/catalog/?" + query)
    assert r.status_code == 400
    assert field in r.get_data(as_text=True)
    assert 'id="errors"' in r.get_data(as_text=True)


@pytest.mark.parametrize("query", ["lat=999&lon=13&radius_km=5", "reserve_min=-5", "per_page=abc", "type=Refrigerator&page=-3"])
def test_a_bad_filter_never_widens_the_search_to_the_whole_catalog(world_m, world_app, query):
    c = world_app.test_client()
    c.get("/catalog/")  # world_m is indexed: the unfiltered catalog has devices
    html = c.get("/catalog/?" + query).get_data(as_text=True)
    assert count_of(html) == 0  # not the 30 devices of the catalog without the broken field
    assert 'class="marker' not in html


def test_root_link_keeps_its_filters(world_app):
    r = world_app.test_client().get("/?type=Refrigerator&q=fridge")
    assert r.status_code == 302 and r.headers["Location"].endswith("/catalog/?type=Refrigerator&q=fridge")
