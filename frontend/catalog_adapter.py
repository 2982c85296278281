"""Between the filter form (frontend.forms.CatalogQuery) and exchange.catalog.

Also collects every device matching a filter (all pages) for batch bidding and the map.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.chain.deploy import mechanism_names
from frontend.forms import CatalogQuery

MECHANISMS = {code: name.replace("-", " ") for code, name in enumerate(mechanism_names())}  # the deploy plan's
MAP_LIMIT = 1000  # devices drawn on the map at most; also the bound of the page's count ("more than 1,000")
BID_LIMIT = 5000  # devices one batch-bid form may cover


def _get(row, *names, default=None):
    for n in names:
        if isinstance(row, dict) and n in row:
            return row[n]
        if hasattr(row, n):
            return getattr(row, n)
    return default


@dataclass
class DeviceView:
    """What pages show of a catalog row (all strings from a TD are hostile: escaped by Jinja)."""

    id: str
    title: str
    type: str
    owner: str
    lat: float | None
    lon: float | None
    geohash: str
    reserve: int
    attested: bool
    reputation: float | None
    rating_count: int
    active: bool
    mechanism: str
    description: str
    properties: list
    raw: object
    rating_weight: int = 0  # wei of protocol fee behind the ratings (each weighs the fee its purchase paid)

    @classmethod
    def of(cls, row) -> DeviceView:
        props = [a for a in (_get(row, "affordances", default=[]) or []) if getattr(a, "kind", "") == "property"]
        types = _get(row, "types", default=[]) or []
        return cls(
            id=str(_get(row, "device_id", "id", default="")),
            title=str(_get(row, "title", default="") or ""),
            type=", ".join(t for t in types if t != "Thing"),
            owner=str(_get(row, "owner", default="") or ""),
            lat=_get(row, "lat", "latitude"),
            lon=_get(row, "lon", "longitude"),
            geohash=str(_get(row, "geohash", default="") or ""),
            reserve=int(_get(row, "reserve_wei", default=0) or 0),
            attested=bool(_get(row, "attested", default=False)),
            reputation=_get(row, "rating_avg", default=None),
            rating_count=int(_get(row, "rating_count", default=0) or 0),
            active=bool(_get(row, "active", default=True)),
            mechanism=MECHANISMS.get(_get(row, "mechanism", default=0), f"mechanism #{_get(row, 'mechanism')}"),
            description=str(_get(row, "description", default="") or ""),
            properties=[(p.name, p.unit or "") for p in props],
            raw=row,
            rating_weight=int(_get(row, "rating_weight_wei", default=0) or 0),
        )


def to_filter(cq: CatalogQuery, page: int | None = None, per_page: int | None = None):
    """Build exchange.catalog CatalogFilter from the (already validated) form."""
    from exchange.catalog.schemas import CatalogFilter

    return CatalogFilter.parse(dict(
        device_id=cq.device_id or None,
        text=cq.q or None,
        device_type=cq.type or None,
        properties=[n.strip() for n in cq.prop.split(",") if n.strip()],
        units=[n.strip() for n in cq.unit.split(",") if n.strip()],
        geohash_prefix=cq.geohash or None,
        lat=cq.lat, lon=cq.lon, radius_km=cq.radius_km,
        reserve_min=cq.reserve_min,
        reserve_max=cq.reserve_max,
        attested_only=cq.attested,
        min_reputation=cq.min_reputation,
        active_only=not cq.include_inactive,
        sort=cq.sort,
        page=page or cq.page,
        per_page=per_page or cq.per_page,
    ))


def search(catalog, cq: CatalogQuery):
    """(rows as DeviceView, total, exact) for the page the form asks for.

    The catalog counts only a few pages ahead on large results (``exact`` False: show "N+")."""
    page = catalog.search(to_filter(cq))
    return ([DeviceView.of(r) for r in _get(page, "items", "rows")], int(_get(page, "total", "count")),
            bool(getattr(page, "total_exact", True)))


def map_points(catalog, cq: CatalogQuery, limit: int = MAP_LIMIT) -> tuple[list[DeviceView], int, bool]:
    """Up to ``limit`` matching devices for the map (narrow rows, one bounded query) and the count
    to that bound: (points, total, exact); not exact: "more than ``limit``"."""
    rows, total, exact = catalog.map_points(to_filter(cq, page=1), limit)
    return [DeviceView.of({"device_id": i, "title": t, "lat": la, "lon": lo}) for i, t, la, lo in rows], total, exact


def count_text(total: int, exact: bool) -> str:
    """The one wording of a (possibly bounded) count, shared by the count line, the map and the pager."""
    return f"{total:,}" if exact else f"more than {total:,}"


def all_matching(catalog, cq: CatalogQuery, limit: int) -> tuple[list[DeviceView], int]:
    """Every matching device up to ``limit`` (walks the pages), and how many matched in all."""
    out: list[DeviceView] = []
    page_no, per = 1, 200
    while len(out) < limit:
        page = catalog.search(to_filter(cq, page=page_no, per_page=per))
        rows = _get(page, "items", "rows")
        out.extend(DeviceView.of(r) for r in rows)
        if len(rows) < per:  # the page's total may be a lower bound: only a short page ends the walk
            return out[:limit], len(out)
        page_no += 1
    return out[:limit], catalog.count(to_filter(cq))


def device(catalog, device_id: str):
    row = catalog.device(device_id)
    return None if row is None else DeviceView.of(row)


def titles_of(catalog, device_ids) -> dict[str, str]:
    """{lower-case 0x id: title} for the ids the catalog knows with a non-empty title."""
    ids = list(dict.fromkeys("0x" + str(i).lower().removeprefix("0x") for i in device_ids))
    return catalog.titles(ids) if ids else {}
