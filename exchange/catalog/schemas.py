"""Input and output schemas of the catalog (not tables): filters, device rows, pages."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import PrivateAttr, ValidationError, field_validator, model_validator
from sqlmodel import Field, SQLModel

from exchange.errors import ExchangeError
from exchange.geo import BASE32

# The one list of catalog orders: the filter model, the web form and the query all use it.
SORTS = ("newest", "oldest", "reserve_asc", "reserve_desc", "reputation", "title", "distance")
GEOHASH_CHARS = set(BASE32)
MAX_PER_PAGE = 200
DEVICE_ID_RE = re.compile(r"0x[0-9a-fA-F]{64}")


class CatalogQueryError(ExchangeError, ValueError):
    """Catalog filters are invalid; ``errors`` lists "field: why"."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid catalog filter: " + "; ".join(self.errors))


class CatalogFilter(SQLModel):
    """What a data scientist can filter on. Every field is optional; lists mean "all of"."""

    device_id: str | None = Field(default=None, description="exactly this device (0x + 64 hex digits)")
    device_type: str | None = Field(default=None, max_length=100, description="a @type, e.g. Refrigerator")
    properties: list[str] = Field(default_factory=list, max_length=20, description="affordance names, all required")
    units: list[str] = Field(default_factory=list, max_length=20, description="units some affordance must use")
    text: str | None = Field(default=None, max_length=200, description="words in title/description/tags")
    geohash_prefix: str | None = Field(default=None, min_length=1, max_length=12)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_km: float | None = Field(default=None, gt=0, le=20000)
    reserve_min: int | None = Field(default=None, ge=0, description="wei")
    reserve_max: int | None = Field(default=None, ge=0, description="wei")
    attested_only: bool = False
    min_reputation: float | None = Field(default=None, ge=0, le=255)
    active_only: bool = True
    sort: Literal[SORTS] = "newest"
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)
    # What each property/unit term matches ("property:temp" -> the names holding "temp", any case),
    # filled by Catalog from the names that exist; never from input. Absent: the exact name.
    _matches: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def names_matching(self, kind: str, term: str) -> list[str] | None:
        return self._matches.get(f"{kind}:{term}")

    @field_validator("geohash_prefix")
    @classmethod
    def _geohash(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.lower()
        bad = sorted(set(v) - GEOHASH_CHARS)
        if bad:
            raise ValueError(f"not geohash characters: {''.join(bad)!r} (allowed: 0-9 and b-z except i, l, o)")
        return v

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not DEVICE_ID_RE.fullmatch(v):
            raise ValueError("not a device id (0x followed by 64 hex digits)")
        return v.lower()  # ids are stored lower-case

    @field_validator("properties", "units")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if any(not s.strip() or len(s) > 100 for s in v):
            raise ValueError("names must be non-empty and at most 100 characters")
        return v

    @model_validator(mode="after")
    def _together(self) -> CatalogFilter:
        point = [self.lat is not None, self.lon is not None, self.radius_km is not None]
        if any(point) and not all(point):
            raise ValueError("lat, lon and radius_km must be given together")
        if self.sort == "distance" and self.lat is None:
            raise ValueError("sort=distance needs lat, lon and radius_km")
        if self.reserve_min is not None and self.reserve_max is not None and self.reserve_min > self.reserve_max:
            raise ValueError(f"reserve_min ({self.reserve_min}) is greater than reserve_max ({self.reserve_max})")
        return self

    @classmethod
    def parse(cls, data: dict) -> CatalogFilter:
        """Validate raw input (e.g. query-string values) or raise CatalogQueryError("field: why", ...)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errs = []
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"]) or "filter"
                errs.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
            raise CatalogQueryError(errs) from None


class DeviceOut(SQLModel):
    device_id: str
    owner: str
    title: str
    description: str | None
    types: list[str]
    geohash: str | None
    lat: float | None
    lon: float | None
    reserve_wei: int
    mechanism: int
    active: bool
    attested: bool
    oem: str | None
    rating_avg: float | None  # weighted by the protocol fee each rated purchase paid
    rating_count: int
    rating_weight_wei: int = 0  # the fees behind the ratings: what faking them would cost
    tangle_address: str
    distance_km: float | None = None


class AffordanceOut(SQLModel):
    kind: str
    name: str
    title: str | None
    data_type: str | None
    unit: str | None


class DeviceDetail(DeviceOut):
    td: dict | None
    td_hash: str
    x25519_key: str
    affordances: list[AffordanceOut]
    tags: list[str]
    checked_in_block: int
    updated_block: int


class Page(SQLModel):
    items: list[DeviceOut]
    total: int  # exact when total_exact, else a lower bound (show "N+"): search counts 5 pages ahead
    total_exact: bool = True
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))
