"""Catalog: the filter form (state in the URL), result table with pages, SVG map, device page."""

from __future__ import annotations

import json
import math

from flask import Blueprint, current_app, render_template, request, url_for

from exchange.geo import KM_PER_DEG_LAT
from frontend import catalog_adapter as ca
from frontend.errors import FormError, NotFound
from frontend.forms import SORTS, parse_catalog_query
from frontend.svgmap import build_map
from frontend.text import shorten

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


def _catalog():
    return current_app.extensions["thingbid.services"].catalog()


@bp.route("/")
def search():
    return render_search(request.args)


def pan_links(circle: tuple[float, float, float], link) -> list[tuple[str, str, str]]:
    """(direction, arrow, href) moving a radius search's centre by its radius to the north, south,
    east and west (latitude clamped at the poles, longitude wrapped at the antimeridian)."""
    lat, lon, radius = circle
    dlat = radius / KM_PER_DEG_LAT
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))

    def wrap(x: float) -> float:
        return round((x + 180) % 360 - 180, 4)

    return [("north", "↑", link(round(min(90.0, lat + dlat), 4), lon, radius)),
            ("south", "↓", link(round(max(-90.0, lat - dlat), 4), lon, radius)),
            ("west", "←", link(lat, wrap(lon - min(dlon, 180.0)), radius)),
            ("east", "→", link(lat, wrap(lon + min(dlon, 180.0)), radius))]


def render_search(args, extra_errors=(), kept=None, status: int | None = None):
    """The catalog page for the filter in ``args``; a failed bid form shows again through ``kept``."""
    from exchange.catalog.schemas import CatalogQueryError

    cq = parse_catalog_query(args)
    catalog = _catalog()
    rows, total, total_exact, points = [], 0, True, []
    # A bad field must never widen the search: with any error, show the message and no results
    # (and so no "bid on all" box), instead of the catalog without the broken filter.
    if not cq.errors:
        try:
            rows, total, total_exact = ca.search(catalog, cq)
            # One bounded query gives the map's points and a count to MAP_LIMIT: one figure for the
            # count line, the map and the pager ("30", or "more than 1,000"), never a full scan (issue 21).
            points, matched, matched_exact = ca.map_points(catalog, cq)
            if matched_exact or total <= matched:
                total, total_exact = matched, matched_exact
        except CatalogQueryError as exc:  # a case the form's own checks missed: still a clear message
            cq.errors.extend(FormError("filter", f"is not valid: {e}") for e in exc.errors)
            rows, total, total_exact, points = [], 0, True, []
    circle = (cq.lat, cq.lon, cq.radius_km) if cq.radius_km is not None and not cq.errors else None
    kept_args = {k: v for k, v in cq.as_args().items() if k not in ("lat", "lon", "radius_km", "page")}

    def zoom_to(lat: float, lon: float, radius_km: float) -> str:  # a cluster's link: the search around it
        return url_for("catalog.search", **kept_args, lat=f"{lat:g}", lon=f"{lon:g}", radius_km=f"{radius_km:g}")

    view = build_map([(d.lat, d.lon, shorten(d.title) or d.id, url_for("catalog.device", device_id=d.id))
                      for d in points],
                     circle=circle, cluster_href=zoom_to)
    centre_url = url_for("catalog.search", **kept_args)
    zoom = None
    if circle is not None:
        zoom = {"in": zoom_to(circle[0], circle[1], max(0.1, round(circle[2] / 2, 3))),
                "out": zoom_to(circle[0], circle[1], min(20000.0, round(circle[2] * 2, 3))),
                "all": centre_url, "pan": pan_links(circle, zoom_to)}
    pages = max(1, -(-total // cq.per_page))
    errors = list(dict.fromkeys([str(e) for e in cq.errors] + [str(e) for e in extra_errors]))  # each once
    status = status or (400 if errors else 200)
    extra = {"kept": kept} if kept is not None else {}
    return render_template("catalog/search.html", cq=cq, rows=rows, total=total, total_exact=total_exact, pages=pages,
                           total_text=ca.count_text(total, total_exact),
                           map=view, centre_url=centre_url, zoom=zoom, sorts=SORTS, types=[t for t in catalog.device_types() if t[0] != "Thing"],
                           vocab=catalog.vocabulary(),
                           errors=errors, args=cq.as_args(), typed=args, **extra), status


@bp.route("/device/<device_id>/td.json")
def td(device_id: str):
    """The device's Thing Description as the registry holds it (for node-wot and other WoT consumers)."""
    from flask import jsonify

    d = ca.device(_catalog(), device_id) if len(device_id) <= 80 else None
    if d is None or not isinstance(d.raw.td, dict):
        raise NotFound("no such device, or it has no readable TD")
    return jsonify(d.raw.td)


@bp.route("/device/<device_id>")
def device(device_id: str):
    return render_device(device_id)


def render_device(device_id: str, errors=(), kept=None, status: int = 200):
    """The device page; a refused "bid on this device" form shows again through ``kept``."""
    from exchange.market import min_bid
    from frontend.auction_reads import chain_now, device_auctions, device_bid_target
    from frontend.security import current_user

    if len(device_id) > 80:
        raise NotFound("no such device")
    d = ca.device(_catalog(), device_id)
    if d is None:
        raise NotFound("no such device")
    td = d.raw.td
    td_text = json.dumps(td, indent=2, ensure_ascii=False) if td is not None else ""
    services = current_app.extensions["thingbid.services"]
    history = device_auctions(services, device_id)
    user = current_user()
    target, why_not = device_bid_target(services, d, user.address if user else "")
    extra = {"kept": kept} if kept is not None else {}
    return render_template("catalog/device.html", d=d, td=td if isinstance(td, dict) else {}, td_text=td_text,
                           history=history, target=target, why_not=why_not, now=chain_now(services),
                           least=min_bid(target) if target else 0, errors=[str(e) for e in errors], **extra), status
