"""Pure query building: CatalogFilter -> SQLAlchemy Select (no I/O here).

Indexed paths: types/affordances/words through ``IN (subquery)`` (selective) or correlated
EXISTS probes (unselective) on their own indexed tables; ``choose_drive`` picks which,
geohash prefixes as a half-open string range (uses the index on every backend, unlike LIKE),
radius as a lat/lon bounding box (indexed) refined by the exact haversine distance.
"""

from __future__ import annotations

import math

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement, Select

from exchange.catalog.models import Affordance, Device, DeviceType, DeviceWord, Reputation
from exchange.catalog.schemas import CatalogFilter
from exchange.catalog.text import words_of
from exchange.geo import EARTH_RADIUS_KM, KM_PER_DEG_LAT, bbox, covering_cells, prefix_range

GWEI = 10**9
COUNT_CAP = 1_000  # default bound for build_count; Catalog.search counts a few pages ahead only
DRIVE_MAX = 3_000  # a child filter matching at most this many rows drives the query


def distance_expr(lat: float, lon: float) -> ColumnElement:
    """Haversine distance in km from (lat, lon) to each device, in SQL."""
    p1 = math.radians(lat)
    dlat = func.radians(Device.lat - lat)
    dlon = func.radians(Device.lon - lon)
    h = func.power(func.sin(dlat / 2), 2) + math.cos(p1) * func.cos(func.radians(Device.lat)) * func.power(
        func.sin(dlon / 2), 2)
    # Clamp: rounding can push h a hair over 1, and asin(>1) is an error on PostgreSQL.
    return 2 * EARTH_RADIUS_KM * func.asin(func.sqrt(case((h > 1.0, 1.0), else_=h)))


def rank_distance_expr(lat: float, lon: float) -> ColumnElement:
    """Squared equirectangular distance (degrees): orders nearby points like the true distance
    at a fraction of the cost of haversine (used only for ORDER BY; filtering stays exact)."""
    k = math.cos(math.radians(lat))
    return (Device.lat - lat) * (Device.lat - lat) + (Device.lon - lon) * (Device.lon - lon) * (k * k)


def flat_tolerance(lat: float, radius_km: float) -> float | None:
    """Relative error bound of ``rank_distance_expr`` against haversine inside the circle's box,
    or None when it is too large to be useful (big radius, near a pole)."""
    min_lat, _, max_lat, _ = bbox(lat, 0.0, radius_km)
    if radius_km > 500 or max(abs(min_lat), abs(max_lat)) > 80:
        return None
    c0 = math.cos(math.radians(lat))
    worst = max(abs(math.cos(math.radians(x)) / c0 - 1) for x in (min_lat, max_lat))
    tol = worst + (radius_km / EARTH_RADIUS_KM) ** 2 + 0.01
    return tol if tol < 0.2 else None


def child_filters(f: CatalogFilter) -> list[tuple[str, object, list[ColumnElement]]]:
    """Filters answered by a child table: (key, table entity, its conditions without the device link)."""
    out: list[tuple[str, object, list[ColumnElement]]] = []
    if f.device_type:
        out.append(("type", DeviceType, [DeviceType.type == f.device_type]))
    for kind, terms, column in (("property", f.properties, Affordance.name), ("unit", f.units, Affordance.unit)):
        for term in dict.fromkeys(terms):
            names = f.names_matching(kind, term)  # the existing names holding the term (Catalog fills them)
            out.append((f"{kind}:{term}", Affordance, [column == term] if names is None else [column.in_(names)]))
    if f.text:
        # Every word must start some word of the title, description or tags (indexed prefix range).
        for word in words_of(f.text):
            lo, hi = prefix_range(word)
            out.append((f"word:{word}", DeviceWord, [DeviceWord.word >= lo, DeviceWord.word < hi]))
    return out


def estimate_query(key_table_conds: tuple[str, object, list[ColumnElement]], cap: int) -> Select:
    """Bounded count of child rows for one child filter (how selective it is)."""
    _, table, conds = key_table_conds
    return select(func.count()).select_from(select(table.device_id).where(*conds).limit(cap + 1).subquery())


def conditions(f: CatalogFilter, drive: str | None = "*") -> list[ColumnElement]:
    """The WHERE terms for ``f`` (AND-ed).

    Child-table filters become ``device_id IN (subquery)`` when their key is ``drive`` (or for
    every one when ``drive == "*"``): the engine then starts from that (selective) list. The
    others become correlated EXISTS probes, so a scan in index order can stop at the page limit.
    """
    c: list[ColumnElement] = []
    if f.device_id:  # the primary key: at most one row, whatever else is asked
        c.append(Device.device_id == f.device_id)
    if f.active_only:
        c.append(Device.active.is_(True))
    if f.attested_only:
        c.append(Device.attested.is_(True))
    for key, table, conds in child_filters(f):
        if key == "type" and drive not in ("*", "type"):
            # In-row test on the "|Thing|Refrigerator|" column: cheaper than a probe per scanned row.
            c.append(Device.types.contains(f"|{f.device_type}|", autoescape=True))
        elif drive == "*" or key == drive:
            c.append(Device.device_id.in_(select(table.device_id).where(*conds)))
        else:
            c.append(select(table.device_id).where(table.device_id == Device.device_id, *conds).exists())
    if f.geohash_prefix:
        lo, hi = prefix_range(f.geohash_prefix)
        c.append(and_(Device.geohash >= lo, Device.geohash < hi))
    if f.lat is not None:
        cells = covering_cells(f.lat, f.lon, f.radius_km)
        if cells:  # the geohash index narrows to a few cells before any distance is computed
            c.append(or_(*[and_(Device.geohash >= lo, Device.geohash < hi) for lo, hi in map(prefix_range, cells)]))
        min_lat, min_lon, max_lat, max_lon = bbox(f.lat, f.lon, f.radius_km)
        c.append(Device.lat.between(min_lat, max_lat))
        if max_lon - min_lon < 360:
            if min_lon < -180:  # box crosses the antimeridian: two longitude ranges
                c.append(or_(Device.lon >= min_lon + 360, Device.lon <= max_lon))
            elif max_lon > 180:
                c.append(or_(Device.lon >= min_lon, Device.lon <= max_lon - 360))
            else:
                c.append(Device.lon.between(min_lon, max_lon))
        tol = flat_tolerance(f.lat, f.radius_km)
        exact = distance_expr(f.lat, f.lon) <= f.radius_km
        if tol is None:
            c.append(exact)
        else:
            # Cheap flat-earth test decides all but a thin ring; haversine only runs inside the ring.
            r_deg = f.radius_km / KM_PER_DEG_LAT
            approx = rank_distance_expr(f.lat, f.lon)
            c.append(approx <= (r_deg * (1 + tol)) ** 2)
            c.append(or_(approx <= (r_deg * (1 - tol)) ** 2, exact))
    if f.reserve_min is not None:
        c.append(Device.reserve_gwei >= -(-f.reserve_min // GWEI))  # compared at gwei precision
    if f.reserve_max is not None:
        c.append(Device.reserve_gwei <= f.reserve_max // GWEI)
    if f.min_reputation is not None:
        c.append(Reputation.average >= f.min_reputation)
    return c


def _needs_reputation(f: CatalogFilter) -> bool:
    return f.min_reputation is not None or f.sort == "reputation"


def _base(f: CatalogFilter, *cols, join_reputation: bool = True, drive: str | None = "*") -> Select:
    q = select(*cols).select_from(Device)
    if join_reputation:
        q = q.outerjoin(Reputation, Reputation.device_id == Device.device_id)
    conds = conditions(f, drive)
    return q.where(and_(*conds)) if conds else q


def order_by(f: CatalogFilter) -> list:
    return {
        "newest": [Device.checked_in_block.desc(), Device.device_id.desc()],
        "oldest": [Device.checked_in_block.asc(), Device.device_id.asc()],
        "reserve_asc": [Device.reserve_gwei.asc(), Device.device_id.asc()],
        "reserve_desc": [Device.reserve_gwei.desc(), Device.device_id.asc()],
        # With a minimum every row has a rating, so the reputation index can be walked in order.
        "reputation": [Reputation.average.desc() if f.min_reputation is not None
                       else func.coalesce(Reputation.average, -1.0).desc(), Device.device_id.asc()],
        "title": [Device.title.asc(), Device.device_id.asc()],
        "distance": [rank_distance_expr(f.lat, f.lon).asc(), Device.device_id.asc()] if f.lat is not None else [],
    }[f.sort]


def build_page_ids(filters: CatalogFilter, drive: str | None = "*", limit: int | None = None) -> Select:
    """Ids of the matching devices from the page's first row on, in sort order (``limit`` rows,
    default one page): a narrow query, sorting ids rather than whole rows."""
    order = order_by(filters)
    return (_base(filters, Device.device_id, join_reputation=_needs_reputation(filters), drive=drive)
            .order_by(*order).limit(limit or filters.per_page).offset((filters.page - 1) * filters.per_page))


def build_query(filters: CatalogFilter, drive: str | None = "*") -> Select:
    """Devices (with reputation average, count and fee weight) for one page.

    The page's ids come from ``build_page_ids``, then the rows are fetched. ``drive`` picks which
    child-table filter is an IN list (see ``conditions``)."""
    page_ids = build_page_ids(filters, drive).subquery("page_ids")
    return (select(Device, Reputation.average, Reputation.count, Reputation.weight_wei)
            .join(page_ids, page_ids.c.device_id == Device.device_id)
            .outerjoin(Reputation, Reputation.device_id == Device.device_id)
            .order_by(*order_by(filters)))


def build_rows(filters: CatalogFilter, device_ids: list[str]) -> Select:
    """Full rows (with reputation) for ids already chosen by ``build_page_ids``, in sort order."""
    return (select(Device, Reputation.average, Reputation.count, Reputation.weight_wei)
            .outerjoin(Reputation, Reputation.device_id == Device.device_id)
            .where(Device.device_id.in_(device_ids)).order_by(*order_by(filters)))


def build_count(filters: CatalogFilter, cap: int | None = COUNT_CAP, drive: str | None = "*") -> Select:
    """How many devices match, counting at most ``cap`` + 1 rows (None: exact)."""
    inner = _base(filters, Device.device_id, join_reputation=_needs_reputation(filters), drive=drive)
    if cap is not None:
        inner = inner.limit(cap + 1)
    return select(func.count()).select_from(inner.subquery())


def choose_drive(estimates: dict[str, int]) -> str | None:
    """The child filter to start from: the most selective one if it is selective enough, else None
    (scan devices in the sort order and probe every child filter)."""
    if not estimates:
        return None
    key = min(estimates, key=estimates.get)
    return key if estimates[key] <= DRIVE_MAX else None
