"""Read side of the catalog: ``Catalog(database_url).search(filters)`` and ``.device(id)``."""

from __future__ import annotations

import json
import threading
import time

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from exchange.catalog.auctions import AuctionReads
from exchange.catalog.db import create_tables, make_engine
from exchange.catalog.models import Affordance, Device, DeviceTD, DeviceType, Reputation, Tag
from exchange.catalog.query import (
    DRIVE_MAX,
    _base,
    build_count,
    build_page_ids,
    build_rows,
    child_filters,
    choose_drive,
    estimate_query,
)
from exchange.catalog.schemas import AffordanceOut, CatalogFilter, DeviceDetail, DeviceOut, Page
from exchange.geo import haversine_km


def normalise_id(device_id: str | bytes) -> str:
    if isinstance(device_id, bytes | bytearray):
        return "0x" + bytes(device_id).hex()
    return "0x" + device_id.lower().removeprefix("0x")


def _out(d: Device, avg, count, distance=None, weight=None) -> dict:
    return dict(device_id=d.device_id, owner=d.owner, title=d.title, description=d.description,
                types=[t for t in d.types.split("|") if t], geohash=d.geohash, lat=d.lat, lon=d.lon,
                reserve_wei=int(d.reserve_wei), mechanism=d.mechanism, active=d.active, attested=d.attested,
                oem=d.oem, rating_avg=avg, rating_count=count or 0,
                rating_weight_wei=int(weight or 0), tangle_address=d.tangle_address,
                distance_km=None if distance is None else round(distance, 3))


LOOKAHEAD_PAGES = 5
VOCABULARY_TTL_S = 30.0  # how long the list of existing names and units is reused


class Catalog:
    def __init__(self, database_url: str, engine=None, create: bool = True):
        self.engine = engine or make_engine(database_url)
        self.auctions = AuctionReads(self.engine)  # the house's auctions and standings (indexed)
        if create:
            create_tables(self.engine)
        self._vocab: tuple[float, dict] | None = None
        self._vocab_lock = threading.Lock()
        self._vocab_refreshing = False

    def vocabulary(self) -> dict[str, list[tuple[str, int]]]:
        """What exists to filter on: {"properties": [(name, devices)], "units": [(unit, devices)],
        "names": every affordance name}, over active devices, sorted case-insensitively. Reused for
        VOCABULARY_TTL_S (a scan of the affordance index, seconds at 100k devices): only the first
        call waits for it; later an expired list is still returned while one background thread
        rebuilds it, so no page request pays for the scan (issue 21)."""
        with self._vocab_lock:
            if self._vocab is not None:
                if time.monotonic() - self._vocab[0] >= VOCABULARY_TTL_S and not self._vocab_refreshing:
                    self._vocab_refreshing = True
                    threading.Thread(target=self._refresh_vocabulary, name="catalog-vocabulary", daemon=True).start()
                return self._vocab[1]
        return self._build_vocabulary()

    def _refresh_vocabulary(self) -> None:
        try:
            self._build_vocabulary()
        except Exception:  # noqa: BLE001 - a failed rebuild keeps the previous list; the next expiry retries
            pass
        finally:
            with self._vocab_lock:
                self._vocab_refreshing = False

    def _build_vocabulary(self) -> dict[str, list[tuple[str, int]]]:
        with Session(self.engine) as s:
            def counted(column, *where):
                q = (select(column, func.count(distinct(Affordance.device_id))).join(
                    Device, Device.device_id == Affordance.device_id).where(Device.active.is_(True), column.is_not(None),
                                                                           *where).group_by(column))
                return sorted(((str(n), int(c)) for n, c in s.execute(q).all() if str(n).strip()),
                              key=lambda nc: (nc[0].lower(), nc[0]))
            vocab = {"properties": counted(Affordance.name, Affordance.kind == "property"),
                     "units": counted(Affordance.unit),
                     "names": sorted(str(n) for n in s.execute(select(Affordance.name).distinct()).scalars())}
        with self._vocab_lock:
            self._vocab = (time.monotonic(), vocab)
        return vocab

    def _resolved(self, filters: CatalogFilter | dict) -> CatalogFilter:
        """The filter with each property/unit term matching every existing name that holds it
        (case-insensitive), and always the term itself (a name newer than the cached list)."""
        f = filters if isinstance(filters, CatalogFilter) else CatalogFilter.parse(filters)
        if not f.properties and not f.units:
            return f
        vocab = self.vocabulary()
        f, matches = f.model_copy(), {}
        for kind, terms, names in (("property", f.properties, vocab["names"]),
                                   ("unit", f.units, [u for u, _ in vocab["units"]])):
            for term in terms:
                low = term.strip().lower()
                matches[f"{kind}:{term}"] = list(dict.fromkeys([term, *(n for n in names if low in n.lower())]))
        f._matches = matches  # a new dict: a copy shares its original's private attributes
        return f

    def search(self, filters: CatalogFilter | dict) -> Page:
        f = self._resolved(filters)
        with Session(self.engine) as s:
            # Bounded selectivity probes decide which filter drives the query (see query.choose_drive).
            drive = choose_drive({k: s.execute(estimate_query((k, t, c), DRIVE_MAX)).scalar_one()
                                  for k, t, c in child_filters(f)})
            # One scan gives the page and a look-ahead of a few pages (enough for a pager: "N+").
            cap = LOOKAHEAD_PAGES * f.per_page
            ranked = self._nearest_radius(s, f, drive)
            offset = (f.page - 1) * f.per_page
            if ranked is not f:  # nearest first inside a smaller circle; count the whole circle unsorted
                ids = list(s.execute(build_page_ids(ranked, drive)).scalars())
                total = s.execute(build_count(f, cap=offset + cap, drive=drive)).scalar_one()
                exact = total <= offset + cap
                total = min(total, offset + cap)
            else:
                ids = list(s.execute(build_page_ids(f, drive, limit=cap + 1)).scalars())
                if ids or f.page == 1:
                    total, exact = offset + min(len(ids), cap), len(ids) <= cap
                else:  # past the end: count to say how many there are
                    total = s.execute(build_count(f, cap=offset, drive=drive)).scalar_one()
                    exact = total <= offset
            rows = s.execute(build_rows(f, ids[:f.per_page])).all() if ids else []
        items = []
        for d, avg, count, weight in rows:
            dist = haversine_km(f.lat, f.lon, d.lat, d.lon) if f.lat is not None and d.lat is not None else None
            items.append(DeviceOut(**_out(d, avg, count, dist, weight)))
        return Page(items=items, total=total, total_exact=exact, page=f.page, per_page=f.per_page)

    @staticmethod
    def _nearest_radius(s: Session, f: CatalogFilter, drive: str | None) -> CatalogFilter:
        """For sort=distance, the smallest of r/16, r/4, r holding the whole page: the k nearest
        devices all lie within any circle that holds at least k matches, so sorting there is enough."""
        if f.sort != "distance":
            return f
        need = f.page * f.per_page
        for shrink in (16, 4):
            small = f.model_copy(update={"radius_km": f.radius_km / shrink})
            if s.execute(build_count(small, cap=need, drive=drive)).scalar_one() >= need:
                return small
        return f

    def map_points(self, filters: CatalogFilter | dict, limit: int) -> tuple[list[tuple], int, bool]:
        """Up to ``limit`` matching devices as narrow (device_id, title, lat, lon) rows, in one bounded
        query (never a full scan into Python), and the number of matches counted to ``limit``:
        (points, total, exact); not exact means "more than ``limit``" (issue 21)."""
        f = self._resolved(filters).model_copy(update={"page": 1})
        with Session(self.engine) as s:
            drive = choose_drive({k: s.execute(estimate_query((k, t, c), DRIVE_MAX)).scalar_one()
                                  for k, t, c in child_filters(f)})
            q = (_base(f, Device.device_id, Device.title, Device.lat, Device.lon,
                       join_reputation=f.min_reputation is not None, drive=drive).limit(limit + 1))
            rows = [tuple(r) for r in s.execute(q).all()]
        return rows[:limit], min(len(rows), limit), len(rows) <= limit

    def count(self, filters: CatalogFilter | dict) -> int:
        """The exact number of matches (a full scan for broad filters; search's total is a look-ahead)."""
        f = self._resolved(filters)
        with Session(self.engine) as s:
            return s.execute(build_count(f, cap=None)).scalar_one()

    def device_ids(self, filters: CatalogFilter | dict, limit: int = 10_000) -> list[str]:
        """Every matching device id (up to ``limit``) in the filter's sort order, e.g. for batch bidding."""
        f = self._resolved(filters)
        first = f.model_copy(update={"page": 1})
        with Session(self.engine) as s:
            drive = choose_drive({k: s.execute(estimate_query((k, t, c), DRIVE_MAX)).scalar_one()
                                  for k, t, c in child_filters(first)})
            q = build_page_ids(first, drive, limit=limit)
            return list(s.execute(q).scalars())

    def device(self, device_id: str | bytes) -> DeviceDetail | None:
        did = normalise_id(device_id)
        with Session(self.engine) as s:
            d = s.get(Device, did)
            if d is None:
                return None
            rep = s.get(Reputation, did)
            affs = s.execute(select(Affordance).where(Affordance.device_id == did)
                             .order_by(Affordance.kind, Affordance.name)).scalars().all()
            tags = s.execute(select(Tag.tag).where(Tag.device_id == did).order_by(Tag.tag)).scalars().all()
            doc = s.get(DeviceTD, did)
            try:
                td = json.loads(doc.td_json) if doc and d.td_valid else None
            except json.JSONDecodeError:
                td = None
            return DeviceDetail(**_out(d, rep.average if rep else None, rep.count if rep else 0,
                                             weight=rep.weight_wei if rep else 0), td=td,
                                td_hash=d.td_hash, x25519_key=d.x25519_key,
                                affordances=[AffordanceOut(kind=a.kind, name=a.name, title=a.title,
                                                           data_type=a.data_type, unit=a.unit) for a in affs],
                                tags=list(tags), checked_in_block=d.checked_in_block, updated_block=d.updated_block)

    def titles(self, device_ids: list[str]) -> dict[str, str]:
        """{device id: title} of these devices (0x + lower-case hex ids); unknown or untitled ones are left out."""
        out: dict[str, str] = {}
        with Session(self.engine) as s:
            for i in range(0, len(device_ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = [normalise_id(d) for d in device_ids[i:i + 500]]
                out.update((did, title) for did, title in
                           s.execute(select(Device.device_id, Device.title).where(Device.device_id.in_(chunk)))
                           if title)
        return out

    def affordances_of(self, device_ids: list[str]) -> dict[str, list[AffordanceOut]]:
        """Affordances of many devices in one query per 500 ids (the client's devices frame)."""
        out: dict[str, list[AffordanceOut]] = {normalise_id(d): [] for d in device_ids}
        ids = list(out)
        with Session(self.engine) as s:
            for i in range(0, len(ids), 500):
                for a in s.execute(select(Affordance).where(Affordance.device_id.in_(ids[i:i + 500]))
                                   .order_by(Affordance.device_id, Affordance.kind, Affordance.name)).scalars():
                    out[a.device_id].append(AffordanceOut(kind=a.kind, name=a.name, title=a.title,
                                                          data_type=a.data_type, unit=a.unit))
        return out

    def tds_of(self, device_ids: list[str]) -> dict[str, dict | None]:
        """The registered TD of each device (None: unknown, or bytes that were not a valid TD)."""
        ids = [normalise_id(d) for d in device_ids]
        out: dict[str, dict | None] = dict.fromkeys(ids)
        with Session(self.engine) as s:
            for i in range(0, len(ids), 500):
                rows = s.execute(select(DeviceTD.device_id, DeviceTD.td_json, Device.td_valid)
                                 .join(Device, Device.device_id == DeviceTD.device_id)
                                 .where(DeviceTD.device_id.in_(ids[i:i + 500]))).all()
                for did, text, valid in rows:
                    try:
                        out[did] = json.loads(text) if valid else None
                    except json.JSONDecodeError:
                        out[did] = None
        return out

    def device_types(self) -> list[tuple[str, int]]:
        """Distinct @types with counts (for filter drop-downs)."""
        from sqlalchemy import func

        with Session(self.engine) as s:
            return [tuple(r) for r in s.execute(select(DeviceType.type, func.count()).group_by(DeviceType.type)
                                                 .order_by(DeviceType.type)).all()]

    def close(self) -> None:
        self.engine.dispose()
