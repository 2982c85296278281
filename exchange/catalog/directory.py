"""A read-only W3C WoT Discovery Thing Description Directory over the catalog (the logic; the HTTP
side is frontend/blueprints/directory.py, the figures ``thingbid bench directory``).

- Every valid TD of the catalog is a Thing of the directory, under the id the on-chain registry
  gives it: ``urn:thingbid:device:<device id hex>`` (the device agent's own TD id; a TD claiming
  another id is served with this one, so no owner can shadow another device).
- Listing (``/things``) is in ascending code-point order of that id, which is the catalog's
  primary key order: a page is an index range scan, whatever the offset (a ``after`` cursor
  rides along with the spec's ``offset`` in every ``next`` link).
- JSONPath (RFC 9535) is evaluated on each TD as if on the array of all TDs (``$[?...]`` selects
  TDs, ``$[*].title`` projects them). Terms of a top-level filter the catalog indexes (title,
  id, @type, property names, units, geohash prefix) first narrow the candidates through the
  catalog's indexes; the JSONPath is then evaluated exactly on every candidate, so the index is
  only a pre-filter. Each answer evaluates at most ``SCAN_BUDGET`` TDs and says where to go on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import jsonpath_rfc9535 as jsonpath
from jsonpath_rfc9535.filter_expressions import LogicalExpression
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from exchange.catalog import CatalogFilter
from exchange.catalog.models import Device, DeviceTD, IndexerStatus, Reputation
from exchange.catalog.query import DRIVE_MAX, child_filters, choose_drive, conditions, estimate_query
from exchange.errors import ExchangeError
from exchange.wot import TD10_CONTEXT, TD11_CONTEXT

DEVICE_URN = "urn:thingbid:device:"
DISCOVERY_CONTEXT = "https://www.w3.org/2022/wot/discovery"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SCAN_BUDGET = 5000  # TDs evaluated per JSONPath answer at most; the next link goes on from there
MAX_QUERY_CHARS = 2000
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_STRING = r"'((?:[^'\\])*)'"  # a canonical JSONPath string literal without escapes
_HINTS = [  # canonical forms of filter terms the catalog can narrow by -> the filter field they set
    (re.compile(rf"@\['title'\] == {_STRING}"), "title"),
    (re.compile(rf"@\['id'\] == {_STRING}"), "id"),
    (re.compile(rf"@\['@type'\] == {_STRING}"), "device_type"),
    (re.compile(rf"@\['@type'\]\[\?@ == {_STRING}\]"), "device_type"),
    (re.compile(r"@\['properties'\]\['([^'\\]+)'\]"), "property"),
    (re.compile(rf"@\['properties'\]\[\?@\['unit'\] == {_STRING}\]"), "unit"),
    (re.compile(r"match\(@\['geohash'\], '([0-9b-hjkmnp-z]{1,12})\.\*'\)"), "geohash_prefix"),
    (re.compile(r"@\['geohash'\] == '([0-9b-hjkmnp-z]{1,12})'"), "geohash_prefix"),
]


class DirectoryError(ExchangeError, ValueError):
    """A directory request is malformed (answered 400 with the reason)."""


def device_urn(device_id: str) -> str:
    return DEVICE_URN + device_id.removeprefix("0x")


def device_id_of(thing_id: str) -> str | None:
    """The catalog's device id for a directory Thing id (or a bare 0x id), else None."""
    hexpart = thing_id.removeprefix(DEVICE_URN) if thing_id.startswith(DEVICE_URN) else thing_id.removeprefix("0x")
    hexpart = hexpart.lower()
    return "0x" + hexpart if _HEX64.match(hexpart) else None


def served_td(device_id: str, td_json: str) -> dict:
    td = json.loads(td_json)
    td["id"] = device_urn(device_id)
    return td


@dataclass
class Plan:
    """How a JSONPath is answered: the catalog filter that narrows the candidates, and the title
    the catalog's title index can match; ``indexed`` names the terms used."""

    filters: CatalogFilter
    title: str | None = None
    indexed: list[str] = field(default_factory=list)


def compile_query(query: str):
    if not query or len(query) > MAX_QUERY_CHARS:
        raise DirectoryError(f"query must be a JSONPath expression of 1..{MAX_QUERY_CHARS} characters")
    try:
        compiled = jsonpath.compile(query)
    except jsonpath.JSONPathError as exc:
        raise DirectoryError(f"query is not a valid JSONPath (RFC 9535): {exc}") from None
    first = compiled.segments[0] if compiled.segments else None
    if first is None:
        raise DirectoryError("query '$' would answer the whole collection: use GET /things")
    # Evaluated per TD on [td]: the same nodes as on the array of all TDs, except for index and
    # slice selectors at the top, which depend on the collection's positions.
    if {type(sel).__name__ for sel in first.selectors} & {"IndexSelector", "SliceSelector"}:
        raise DirectoryError("top-level index and slice selectors are not supported (positions in the "
                             "collection are the directory's): use $[*] or $[?...] with ?limit= and the next link")
    return compiled


def conjuncts(expr) -> list[str]:
    """Canonical strings of the terms AND-ed at the top of a filter expression (a term under an
    OR or a NOT narrows nothing, so it stays whole and matches no hint)."""
    if isinstance(expr, LogicalExpression) and expr.operator == "&&":
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [str(expr)]


def plan(compiled, base: CatalogFilter) -> Plan:
    """The index pre-filter for a compiled query: the AND-ed terms of a single top-level filter
    that the catalog indexes (see _HINTS); the JSONPath still decides every match."""
    p = Plan(base)
    first = compiled.segments[0]
    if type(first).__name__ != "JSONPathChildSegment" or len(first.selectors) != 1:
        return p
    sel = first.selectors[0]
    if type(sel).__name__ != "FilterSelector":
        return p
    terms = conjuncts(sel.expression.expression)
    update: dict = {}
    props, units = list(base.properties), list(base.units)
    for term in terms:
        for pattern, kind in _HINTS:
            m = pattern.fullmatch(term)
            if not m:
                continue
            value = m.group(1)
            if kind == "title" and p.title is None:
                p.title = value
            elif kind == "id" and device_id_of(value) and value.startswith(DEVICE_URN):
                update["device_id"] = device_id_of(value)
            elif kind == "device_type" and "device_type" not in update and len(value) <= 100:
                update["device_type"] = value
            elif kind == "property" and len(value) <= 100:
                props.append(value)
            elif kind == "unit" and len(value) <= 100:
                units.append(value)
            elif kind == "geohash_prefix" and "geohash_prefix" not in update:
                update["geohash_prefix"] = value
            else:
                continue
            p.indexed.append(term)
            break
    update["properties"], update["units"] = props[:20], units[:20]
    merged = base.model_dump()
    for k, v in update.items():
        if k in ("device_type", "geohash_prefix", "device_id") and merged.get(k) not in (None, v):
            continue  # the query param already narrows this field; both must hold, the JSONPath checks its own
        merged[k] = v
    p.filters = CatalogFilter.parse(merged)
    return p


class ThingDirectory:
    """Listing, retrieval and JSONPath search over a ``Catalog``'s TDs."""

    def __init__(self, catalog):
        self.catalog = catalog

    def etag(self) -> str:
        """Changes whenever the indexer applies events (the only writer of the collection)."""
        with Session(self.catalog.engine) as s:
            row = s.execute(select(func.coalesce(func.sum(IndexerStatus.events_applied), 0),
                                   func.coalesce(func.max(IndexerStatus.next_block), 0))).one()
        return f"{row[1]}-{row[0]}"

    @staticmethod
    def _drive(s: Session, f: CatalogFilter) -> str | None:
        """Which child-table filter drives the query (bounded selectivity probes, once per request)."""
        return choose_drive({k: s.execute(estimate_query((k, t, c), DRIVE_MAX)).scalar_one()
                             for k, t, c in child_filters(f)})

    def _page(self, s: Session, f: CatalogFilter, drive: str | None, after: str | None, offset: int, limit: int,
              title: str | None = None) -> list[tuple[str, str]]:
        """(device id, TD JSON) of matching devices in id order: the ids by a narrow query on the
        devices table (an offset skips index entries, not TDs), then their TDs."""
        q = select(Device.device_id)
        if f.min_reputation is not None:
            q = q.join(Reputation, Reputation.device_id == Device.device_id)
        conds = [Device.td_valid.is_(True), *conditions(f, drive)]
        if title is not None:
            conds.append(Device.title == title)
        if after is not None:
            conds.append(Device.device_id > after)
        q = q.where(and_(*conds)).order_by(Device.device_id.asc()).limit(limit)
        if offset:
            q = q.offset(offset)
        ids = list(s.execute(q).scalars())
        if not ids:
            return []
        docs = dict(s.execute(select(DeviceTD.device_id, DeviceTD.td_json).where(DeviceTD.device_id.in_(ids))).all())
        return [(d, docs[d]) for d in ids if d in docs]

    def list(self, f: CatalogFilter, offset: int = 0, limit: int = DEFAULT_LIMIT,
             after: str | None = None) -> tuple[list[dict], str | None]:
        """(TDs of the page, the device id to continue after, or None on the last page)."""
        with Session(self.catalog.engine) as s:
            rows = self._page(s, f, self._drive(s, f), after, 0 if after else offset, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [served_td(d, j) for d, j in rows], (rows[-1][0] if more and rows else None)

    def get(self, thing_id: str) -> dict | None:
        did = device_id_of(thing_id)
        if did is None:
            return None
        with Session(self.catalog.engine) as s:
            row = s.execute(select(DeviceTD.td_json).join(Device, Device.device_id == DeviceTD.device_id)
                            .where(Device.device_id == did, Device.td_valid.is_(True))).first()
        return served_td(did, row[0]) if row else None

    def search(self, query: str, f: CatalogFilter, limit: int = DEFAULT_LIMIT,
               after: str | None = None) -> tuple[list, str | None, Plan]:
        """(matching nodes' values, the device id to continue after or None, the plan used).

        At most ``limit`` nodes, except that one TD's nodes are never split across pages (a page
        holds all of them, even more than ``limit``, rather than lose some)."""
        compiled = compile_query(query)
        p = plan(compiled, f)
        found: list = []
        scanned = 0
        cursor = after
        with Session(self.catalog.engine) as s:
            drive = self._drive(s, p.filters)
            size = limit + 1  # candidates mostly match when an index narrowed them: grow only when they do not
            while scanned < SCAN_BUDGET:
                batch = self._page(s, p.filters, drive, cursor, 0, min(size, 500, SCAN_BUDGET - scanned), p.title)
                size *= 2
                if not batch:
                    return found, None, p
                for device_id, td_json in batch:
                    try:
                        nodes = [n.value for n in compiled.find([served_td(device_id, td_json)])]
                    except jsonpath.JSONPathError as exc:
                        raise DirectoryError(f"query cannot be evaluated: {exc}") from None
                    if found and len(found) + len(nodes) > limit:
                        return found, cursor, p  # a TD's nodes stay on one page: the next one starts with them
                    scanned += 1
                    cursor = device_id
                    found.extend(nodes)
                    if len(found) >= limit:
                        return found, device_id, p
        return found, cursor, p


def directory_td(base_url: str) -> dict:
    """The directory's own TD (served at /.well-known/wot), after the Discovery spec's Thing Model:
    the ``things`` property and the ``retrieveThing`` and ``searchJSONPath`` actions; no writes."""
    base = base_url.rstrip("/")
    filters = {"device_type": {"type": "string"}, "properties": {"type": "string", "description": "names, comma separated"},
               "units": {"type": "string"}, "text": {"type": "string"}, "geohash_prefix": {"type": "string"},
               "lat": {"type": "number"}, "lon": {"type": "number"}, "radius_km": {"type": "number"},
               "reserve_min": {"type": "integer"}, "reserve_max": {"type": "integer"},
               "attested_only": {"type": "boolean"}, "min_reputation": {"type": "number"},
               "active_only": {"type": "boolean"}}
    td_array = {"type": "array", "items": {"type": "object"}}
    error = {"description": "Invalid query arguments", "contentType": "application/problem+json",
             "htv:statusCodeValue": 400}
    return {
        "@context": [TD10_CONTEXT, TD11_CONTEXT, DISCOVERY_CONTEXT],
        "@type": "ThingDirectory",
        "id": "urn:thingbid:directory",
        "title": "Thingbid catalog",
        "description": "A read-only WoT Thing Description Directory of every device in the Thingbid catalog. "
                       "Devices register on chain (the Thingbid HouseRegistry); writes here answer 405.",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "base": base + "/",
        "properties": {
            "things": {
                "description": "Thing Descriptions in ascending order of id, in pages",
                "readOnly": True,
                "oneOf": [td_array, {"type": "object", "properties": {
                    "@context": {"const": DISCOVERY_CONTEXT}, "@type": {"const": "ThingCollection"},
                    "@id": {"type": "string"}, "members": td_array, "next": {"type": "string"}}}],
                "uriVariables": {"offset": {"type": "integer", "minimum": 0, "default": 0},
                                 "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                           "default": DEFAULT_LIMIT},
                                 "format": {"type": "string", "enum": ["array", "collection"], "default": "array"},
                                 **filters},
                "forms": [{"href": f"{base}/things{{?offset,limit,format}}", "op": "readproperty",
                           "htv:methodName": "GET",
                           "response": {"contentType": "application/ld+json", "htv:statusCodeValue": 200},
                           "additionalResponses": [error]}],
            },
        },
        "actions": {
            "retrieveThing": {
                "description": "Retrieve a Thing Description",
                "uriVariables": {"id": {"title": "Thing Description ID", "type": "string", "format": "iri-reference"}},
                "output": {"type": "object"},
                "safe": True, "idempotent": True,
                "forms": [{"href": f"{base}/things/{{id}}", "htv:methodName": "GET",
                           "response": {"contentType": "application/td+json", "htv:statusCodeValue": 200},
                           "additionalResponses": [{"description": "TD with the given id not found",
                                                    "contentType": "application/problem+json",
                                                    "htv:statusCodeValue": 404}]}],
            },
            "searchJSONPath": {
                "description": "JSONPath (RFC 9535) over the array of TDs; at most limit nodes per answer, "
                               "the Link header's next goes on",
                "uriVariables": {"query": {"type": "string"},
                                 "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, **filters},
                "output": {"type": "array"},
                "safe": True, "idempotent": True,
                "forms": [{"href": f"{base}/search/jsonpath{{?query,limit}}", "htv:methodName": "GET",
                           "response": {"contentType": "application/json", "htv:statusCodeValue": 200},
                           "additionalResponses": [{**error, "description": "JSONPath missing or invalid"}]}],
            },
        },
    }
