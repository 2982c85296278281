"""The catalog as a read-only W3C WoT Discovery Thing Description Directory (HTTP side of
exchange/catalog/directory.py): ``/.well-known/wot`` (the directory's TD), ``GET /things`` (listing,
pagination with ``next`` and ``canonical`` Link headers, ``application/ld+json``),
``GET /things/{id}``, ``GET /search/jsonpath?query=``, plus the catalog's structured filters as
query parameters. Writes answer 405: devices register on chain. Errors are
``application/problem+json`` (RFC 9457) with the project's ``error`` reason as well."""

from __future__ import annotations

import urllib.parse

from flask import Blueprint, current_app, jsonify, request

from exchange.catalog import CatalogFilter
from exchange.catalog.directory import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    DirectoryError,
    ThingDirectory,
    device_id_of,
    directory_td,
)
from exchange.catalog.schemas import CatalogQueryError

bp = Blueprint("directory", __name__)

LIST_FIELDS = ("properties", "units")
BOOL_FIELDS = ("attested_only", "active_only")
FILTER_FIELDS = ("device_type", "properties", "units", "text", "geohash_prefix", "lat", "lon", "radius_km",
                 "reserve_min", "reserve_max", "attested_only", "min_reputation", "active_only")
WRITES = ["PUT", "POST", "PATCH", "DELETE"]


def _directory() -> ThingDirectory:
    return ThingDirectory(current_app.extensions["thingbid.services"].catalog())


def problem(status: int, reason: str, detail: str, headers: dict | None = None, **extra):
    titles = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    resp = jsonify({"title": titles.get(status, "Error"), "status": status, "detail": detail, "error": reason, **extra})
    resp.status_code = status
    resp.headers["Content-Type"] = "application/problem+json"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not lo <= int(raw) <= hi:
        raise DirectoryError(f"query parameter {name} must be an integer in [{lo}, {hi}], got {raw[:40]!r}")
    return int(raw)


def _filters() -> CatalogFilter:
    """The catalog's structured filters from the query string (lists comma separated or repeated)."""
    data: dict = {}
    for name in FILTER_FIELDS:
        values = request.args.getlist(name)
        if not values:
            continue
        if name in LIST_FIELDS:
            data[name] = [v for raw in values for v in raw.split(",") if v]
        elif name in BOOL_FIELDS:
            if values[-1] not in ("true", "false"):
                raise DirectoryError(f"query parameter {name} must be true or false, got {values[-1][:40]!r}")
            data[name] = values[-1] == "true"
        else:
            data[name] = values[-1]
    try:
        return CatalogFilter.parse(data)
    except CatalogQueryError as exc:
        raise DirectoryError("; ".join(exc.errors)) from None


def _after() -> str | None:
    raw = request.args.get("after")
    if raw is None:
        return None
    did = device_id_of(raw)
    if did is None:
        raise DirectoryError("query parameter after must be a device id (0x + 64 hex digits)")
    return did


def _link(path: str, **params) -> str:
    """A relative link (to the directory's base URL) keeping the request's filters."""
    keep = [(k, v) for k, v in request.args.items(multi=True) if k in FILTER_FIELDS]
    query = urllib.parse.urlencode([*keep, *((k, str(v)) for k, v in params.items() if v is not None)])
    return f"{path}?{query}" if query else path


@bp.errorhandler(DirectoryError)
def bad_request(exc):
    return problem(400, "bad_request", str(exc))


@bp.route("/.well-known/wot", methods=["GET", "HEAD"])
def directory_description():
    resp = jsonify(directory_td(request.host_url))
    resp.headers["Content-Type"] = "application/td+json"
    return resp


@bp.route("/things", methods=["GET", "HEAD"])
def list_things():
    fmt = request.args.get("format", "array")
    if fmt not in ("array", "collection"):
        raise DirectoryError(f"query parameter format must be array or collection, got {fmt[:40]!r}")
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**8)
    directory = _directory()
    tds, after = directory.list(_filters(), offset, limit, _after())
    etag = directory.etag()
    nxt = _link("/things", offset=offset + len(tds), limit=limit, after=after,
                format=fmt if fmt != "array" else None) if after else None
    links = [f'</things>; rel="canonical"; etag="{etag}"']
    if nxt:
        links.insert(0, f'<{nxt}>; rel="next"')
    body = tds if fmt == "array" else {
        "@context": "https://www.w3.org/2022/wot/discovery", "@type": "ThingCollection",
        "@id": _link("/things", offset=offset, limit=limit, format="collection"), "members": tds,
        **({"next": nxt} if nxt else {})}
    resp = jsonify(body)
    resp.headers["Content-Type"] = "application/ld+json"
    resp.headers["Link"] = ", ".join(links)
    return resp


@bp.route("/things/<path:thing_id>", methods=["GET", "HEAD"])
def retrieve_thing(thing_id):
    td = _directory().get(thing_id)
    if td is None:
        return problem(404, "not_found", f"no Thing {thing_id[:120]!r} in this directory (ids are "
                                         "urn:thingbid:device:<64 hex digits>)")
    resp = jsonify(td)
    resp.headers["Content-Type"] = "application/td+json"
    return resp


@bp.get("/search/jsonpath")
def search_jsonpath():
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    nodes, after, plan = _directory().search(request.args.get("query", ""), _filters(), limit, _after())
    resp = jsonify(nodes)
    if after:
        resp.headers["Link"] = f'<{_link("/search/jsonpath", query=request.args["query"], limit=limit, after=after)}>; rel="next"'
    resp.headers["X-Indexed-Terms"] = str(len(plan.indexed))  # how many filter terms the catalog's indexes narrowed
    return resp


@bp.route("/things", methods=WRITES)
@bp.route("/things/<path:thing_id>", methods=WRITES)
def write_refused(thing_id=None):
    registry = None
    manifest = getattr(current_app.extensions["thingbid.services"], "manifest", None)
    if isinstance(manifest, dict):
        registry = manifest.get("contracts", {}).get("DeviceRegistry", {}).get("address")
    return problem(405, "read_only", "this directory is read-only: a device registers, updates and checks out "
                   "on chain in the Thingbid DeviceRegistry (device-agent enable), and the catalog indexes it here",
                   {"Allow": "GET, HEAD"}, registry=registry)
