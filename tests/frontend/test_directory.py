"""The catalog as a read-only W3C WoT Discovery Thing Description Directory (issue 15): the
directory's TD, /things with the spec's pagination, /things/{id}, JSONPath (RFC 9535) search
that answers exactly what the query says on the array of all TDs, structured filters, and
writes refused with 405 pointing to the on-chain registry."""

from __future__ import annotations

import re
import urllib.parse

import jsonpath_rfc9535 as jsonpath
import pytest

from exchange.wot.validate import schema_errors

LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"(?:;\s*etag="([^"]*)")?')


def links(resp) -> dict:
    return {rel: (url, etag) for url, rel, etag in LINK.findall(resp.headers.get("Link", ""))}


def everything(client, path="/things", **params) -> list:
    """Follow next links from ``path`` to the end; every page's items in order."""
    url = path + ("?" + urllib.parse.urlencode(params) if params else "")
    out, pages = [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.get_json()
        out += r.get_json()
        pages += 1
        url = links(r).get("next", (None,))[0]
        assert pages < 200
    return out


@pytest.fixture
def client(world_app):
    return world_app.test_client()


@pytest.fixture
def all_tds(client):
    r = client.get("/things?limit=1000")
    assert r.status_code == 200
    return r.get_json()


def test_the_directory_td_is_at_well_known_and_is_a_valid_td_11(client):
    r = client.get("/.well-known/wot")
    assert r.status_code == 200 and r.content_type == "application/td+json"
    td = r.get_json()
    assert td["@type"] == "ThingDirectory" and "https://www.w3.org/2022/wot/discovery" in td["@context"]
    assert schema_errors(td) == []
    assert set(td["properties"]) == {"things"} and set(td["actions"]) == {"retrieveThing", "searchJSONPath"}


def test_things_lists_every_catalog_td_as_json_ld_in_ascending_id_order(client, world_m, all_tds):
    r = client.get("/things?limit=1000")
    assert r.content_type == "application/ld+json"
    ids = [td["id"] for td in all_tds]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == len(world_m.devices)
    assert {td["id"] for td in all_tds} == {f"urn:thingbid:device:{d.device_id.hex()}" for d in world_m.devices}
    assert "next" not in links(r)
    url, etag = links(r)["canonical"]
    assert url == "/things" and etag


def test_pages_follow_next_links_with_limit_and_offset_and_cover_the_collection_once(client, all_tds):
    r = client.get("/things?limit=7")
    assert len(r.get_json()) == 7
    nxt, _ = links(r)["next"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
    assert q["limit"] == ["7"] and q["offset"] == ["7"]  # the spec's zero-based offset of the next page
    assert everything(client, limit=7) == all_tds
    # A client that keeps only offset and limit gets the same pages.
    assert client.get("/things?offset=7&limit=7").get_json() == all_tds[7:14]
    assert client.get(f"/things?offset={len(all_tds)}&limit=7").get_json() == []


def test_the_collection_format_wraps_the_page_with_its_next_link(client, all_tds):
    body = client.get("/things?limit=5&format=collection").get_json()
    assert body["@type"] == "ThingCollection" and body["members"] == all_tds[:5]
    assert "offset=5" in body["next"] and "format=collection" in body["next"]


def test_a_thing_is_retrieved_by_its_id(client, all_tds):
    td = all_tds[3]
    r = client.get(f"/things/{td['id']}")
    assert r.status_code == 200 and r.content_type == "application/td+json"
    assert r.get_json() == td


@pytest.mark.parametrize("thing_id", ["urn:thingbid:device:" + "00" * 32, "nope", "urn:thingbid:device:xyz"])
def test_an_unknown_thing_is_404_problem_json(client, thing_id):
    r = client.get(f"/things/{thing_id}")
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert r.get_json()["error"] == "not_found" and r.get_json()["status"] == 404


def test_structured_filters_narrow_the_listing(client, all_tds):
    fridges = everything(client, limit=4, device_type="Refrigerator")
    assert fridges == [td for td in all_tds if "Refrigerator" in td["@type"]] and fridges
    watt = everything(client, limit=50, properties="powerDraw,temperature")
    assert watt == [td for td in all_tds if {"powerDraw", "temperature"} <= set(td["properties"])] and watt


QUERIES = [
    "$[?@['@type'][?@ == 'Refrigerator']]",
    "$[?@.properties.temperature && @.properties[?@.unit == 'watt']]",
    "$[?match(@.geohash, 'u3.*')]",
    "$[?@.title == 'HeatPump in Berlin #2' || @.title == 'SmartMeter in Munich #4']",
    "$[?!(@.properties.temperature)].title",
    "$[*].id",
    "$..unit",
    "$[?@.properties.powerDraw.maximum > 100 && @['@type'] == 'Refrigerator'].properties.powerDraw",
]


@pytest.mark.parametrize("query", QUERIES)
def test_jsonpath_answers_what_the_query_says_on_the_array_of_all_tds(client, all_tds, query):
    expected = [n.value for n in jsonpath.find(query, all_tds)]
    r = client.get("/search/jsonpath?" + urllib.parse.urlencode({"query": query, "limit": 1000}))
    assert r.status_code == 200 and r.content_type == "application/json", r.get_json()
    assert r.get_json() == expected
    assert everything(client, "/search/jsonpath", query=query, limit=3) == expected  # paged the same


def test_jsonpath_with_an_exact_title_is_narrowed_by_the_catalog_index(client, all_tds):
    title = all_tds[5]["title"]
    r = client.get("/search/jsonpath?" + urllib.parse.urlencode({"query": f"$[?@.title == '{title}']"}))
    assert r.get_json() == [all_tds[5]] and r.headers["X-Indexed-Terms"] == "1"


def test_jsonpath_combines_with_structured_filters(client, all_tds):
    query = "$[?@.properties.powerDraw].title"
    r = client.get("/search/jsonpath?" + urllib.parse.urlencode({"query": query, "device_type": "HeatPump"}))
    assert r.get_json() == [td["title"] for td in all_tds if "HeatPump" in td["@type"]]


@pytest.mark.parametrize("path", [
    "/search/jsonpath", "/search/jsonpath?query=", "/search/jsonpath?query=$[?@.x ==",
    "/search/jsonpath?query=$[0]", "/search/jsonpath?query=$", "/search/jsonpath?query=$[*]&limit=0",
    "/things?limit=abc", "/things?limit=1001", "/things?offset=-1", "/things?format=xml",
    "/things?geohash_prefix=!!", "/things?attested_only=yes", "/things?after=0x12",
    "/things?lat=52", "/search/jsonpath?query=$[*]&reserve_min=-5",
], ids=["no-query", "empty-query", "syntax-error", "top-index", "root-only", "limit-zero", "limit-text",
        "limit-too-big", "negative-offset", "unknown-format", "bad-geohash", "bad-bool", "bad-cursor",
        "lat-alone", "negative-reserve"])
def test_bad_directory_requests_are_400_problem_json_with_a_reason(client, path):
    r = client.get(path)
    assert r.status_code == 400, r.data[:300]
    assert r.content_type == "application/problem+json"
    assert r.get_json()["error"] == "bad_request" and r.get_json()["detail"]


@pytest.mark.parametrize("method", ["put", "post", "patch", "delete"])
@pytest.mark.parametrize("path", ["/things", "/things/urn:thingbid:device:" + "11" * 32])
def test_writes_are_405_pointing_to_the_on_chain_registry(client, world_m, all_tds, method, path):
    r = getattr(client, method)(path, json={"title": "mine now", "id": "urn:thingbid:device:" + "11" * 32})
    assert r.status_code == 405 and r.content_type == "application/problem+json"
    body = r.get_json()
    assert body["error"] == "read_only" and "DeviceRegistry" in body["detail"]
    assert body["registry"] == world_m.manifest["contracts"]["DeviceRegistry"]["address"]
    assert r.headers["Allow"] == "GET, HEAD"
    assert client.get("/things?limit=1000").get_json() == all_tds  # nothing changed
