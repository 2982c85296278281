"""Pure query building and filter validation (no database)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from exchange.catalog import CatalogFilter, CatalogQueryError, build_count, build_query
from exchange.catalog.schemas import SORTS
from exchange.geo import bbox, covering_cells, decode, encode, haversine_km, neighbours, prefix_range

SQLITE = sqlite.dialect()


def sql(f: CatalogFilter, dialect=SQLITE) -> str:
    return str(build_query(f).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_default_filter_lists_active_devices_newest_first():
    s = sql(CatalogFilter())
    assert "devices.active IS 1" in s and "ORDER BY devices.checked_in_block DESC" in s and "LIMIT 20 OFFSET 0" in s


def test_geohash_prefix_is_an_index_friendly_range():
    s = sql(CatalogFilter(geohash_prefix="U33"))
    assert "devices.geohash >= 'u33'" in s and "devices.geohash < 'u34'" in s and "LIKE" not in s


def test_radius_uses_bounding_box_then_haversine():
    s = sql(CatalogFilter(lat=52.5, lon=13.4, radius_km=10))
    assert "devices.lat BETWEEN" in s and "devices.lon BETWEEN" in s and "asin" in s
    far_north = sql(CatalogFilter(lat=85, lon=0, radius_km=300))
    assert "asin" in far_north


def test_radius_box_across_antimeridian_splits_longitudes():
    s = sql(CatalogFilter(lat=0, lon=179.9, radius_km=100))
    assert "devices.lon >= " in s and " OR devices.lon <= " in s


def test_device_id_filter_is_the_primary_key_lower_cased():
    s = sql(CatalogFilter(device_id="0x" + "AB" * 32, device_type="Refrigerator"))
    assert f"devices.device_id = '0x{'ab' * 32}'" in s and "devices.active IS 1" in s
    assert "devices.device_id =" not in sql(CatalogFilter())


def test_type_property_unit_filters_use_subqueries_on_indexed_tables():
    s = sql(CatalogFilter(device_type="Refrigerator", properties=["temperature", "humidity"], units=["watt"]))
    assert "device_types.type = 'Refrigerator'" in s
    assert "affordances.name = 'temperature'" in s and "affordances.name = 'humidity'" in s
    assert "affordances.unit = 'watt'" in s


def test_free_text_is_word_prefix_ranges_without_wildcards():
    s = sql(CatalogFilter(text="100%_Sure"))
    assert "device_words.word >= '100'" in s and "device_words.word < '101'" in s
    assert "device_words.word >= 'sure'" in s and "device_words.word < 'surf'" in s and "LIKE" not in s
    assert "'the'" not in sql(CatalogFilter(text="the garage"))  # stopwords are not indexed, so not required


def test_reserve_range_compares_at_gwei_precision():
    s = sql(CatalogFilter(reserve_min=1, reserve_max=2 * 10**9 + 5))
    assert "devices.reserve_gwei >= 1" in s and "devices.reserve_gwei <= 2" in s


def test_pagination_offsets():
    assert "LIMIT 50 OFFSET 100" in sql(CatalogFilter(page=3, per_page=50))


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_compiles_on_both_dialects(sort):
    near = {"lat": 48.85, "lon": 2.35, "radius_km": 10} if sort == "distance" else {}
    f = CatalogFilter(sort=sort, min_reputation=3, attested_only=True, **near)
    assert "ORDER BY" in sql(f) and "ORDER BY" in sql(f, postgresql.dialect())


def test_count_query_is_capped_and_unordered():
    s = str(build_count(CatalogFilter(device_type="X")).compile(dialect=SQLITE, compile_kwargs={"literal_binds": True}))
    assert "count(*)" in s and "ORDER BY" not in s and "LIMIT 1001" in s and "reputation" not in s
    exact = str(build_count(CatalogFilter(min_reputation=1), cap=None).compile(dialect=SQLITE))
    assert "LIMIT" not in exact and "reputation" in exact


def test_radius_prefilters_on_covering_geohash_cells():
    s = sql(CatalogFilter(lat=52.52, lon=13.40, radius_km=25))
    assert s.count("devices.geohash >= ") == 9


@pytest.mark.parametrize(("raw", "message"), [
    ({"per_page": 0}, "per_page: Input should be greater than or equal to 1"),
    ({"per_page": 1000}, "per_page: Input should be less than or equal to 200"),
    ({"page": 0}, "page: Input should be greater than or equal to 1"),
    ({"lat": 91, "lon": 0, "radius_km": 1}, "lat: Input should be less than or equal to 90"),
    ({"lat": 50}, "lat, lon and radius_km must be given together"),
    ({"radius_km": -1, "lat": 0, "lon": 0}, "radius_km: Input should be greater than 0"),
    ({"geohash_prefix": "u3a"}, "geohash_prefix: not geohash characters: 'a'"),
    ({"reserve_min": 5, "reserve_max": 1}, "reserve_min (5) is greater than reserve_max (1)"),
    ({"reserve_min": -1}, "reserve_min: Input should be greater than or equal to 0"),
    ({"sort": "cheapest"}, "sort: Input should be"),
    ({"sort": "distance"}, "sort=distance needs lat, lon and radius_km"),
    ({"properties": [""]}, "properties: names must be non-empty"),
    ({"min_reputation": "high"}, "min_reputation: Input should be a valid number"),
    ({"device_id": "0x12"}, "device_id: not a device id (0x followed by 64 hex digits)"),
    ({"device_id": "ab" * 32}, "device_id: not a device id"),
    ({"device_id": "0x" + "ab" * 32 + "'--"}, "device_id: not a device id"),
])
def test_bad_filters_say_what_is_wrong(raw, message):
    with pytest.raises(CatalogQueryError) as info:
        CatalogFilter.parse(raw)
    assert any(message in e for e in info.value.errors), info.value.errors


def test_query_string_values_are_coerced():
    f = CatalogFilter.parse({"page": "2", "attested_only": "true", "lat": "52.5", "lon": "13.4", "radius_km": "5"})
    assert (f.page, f.attested_only, f.lat) == (2, True, 52.5)


# ------------------------------------------------------------------ geohash

@pytest.mark.parametrize(("lat", "lon", "gh"), [(57.64911, 10.40744, "u4pruydqqvj"), (52.52, 13.405, "u33dc"),
                                                 (-33.8688, 151.2093, "r3gx2")])
def test_geohash_encode_known_points(lat, lon, gh):
    assert encode(lat, lon, len(gh)) == gh
    dlat, dlon = decode(gh)
    assert abs(dlat - lat) < 0.03 and abs(dlon - lon) < 0.03


def test_neighbours_surround_the_cell():
    # The worked example of the classic geohash neighbour tables.
    assert neighbours("gbsuv") == ["gbsvj", "gbsvn", "gbsuy", "gbsuw", "gbsut", "gbsus", "gbsuu", "gbsvh"]


def test_prefix_range_and_bbox():
    assert prefix_range("u33") == ("u33", "u34")
    min_lat, min_lon, max_lat, max_lon = bbox(52.5, 13.4, 10)
    assert haversine_km(52.5, 13.4, max_lat, 13.4) == pytest.approx(10, rel=1e-3)
    assert haversine_km(52.5, 13.4, 52.5, max_lon) >= 10


@pytest.mark.parametrize(("lat", "lon", "r"), [(52.52, 13.4, 25), (0.0, 179.99, 5), (-33.9, 151.2, 0.3), (60, 10, 200)])
def test_covering_cells_contain_every_point_of_the_circle(lat, lon, r):
    import math

    cells = covering_cells(lat, lon, r)
    assert cells
    for k in range(36):  # points on the circle's edge
        brg = math.radians(k * 10)
        ang = r / 6371.0088
        p1, l1 = math.radians(lat), math.radians(lon)
        p2 = math.asin(math.sin(p1) * math.cos(ang) + math.cos(p1) * math.sin(ang) * math.cos(brg))
        l2 = l1 + math.atan2(math.sin(brg) * math.sin(ang) * math.cos(p1), math.cos(ang) - math.sin(p1) * math.sin(p2))
        gh = encode(math.degrees(p2), (math.degrees(l2) + 180) % 360 - 180, len(cells[0]))
        assert gh in cells


def test_no_cover_for_a_circle_around_a_pole():
    assert covering_cells(89.9, 0, 50) == []
