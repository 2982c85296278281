"""Pure parsing of form and query values: every bad value becomes a FormError naming the field.

Nothing here touches the chain or the database, so a bad value is refused before anything
changes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation

from exchange.catalog.schemas import SORTS
from exchange.geo import GEOHASH_RE
from frontend.errors import FormError

WEI_PER_ETH = 10**18
MAX_ETH = Decimal(10**9)  # far above any real balance; stops absurd numbers early
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
DEVICE_ID_RE = re.compile(r"^(0x)?[0-9a-f]{64}$")


def _text(raw) -> str:
    return "" if raw is None else str(raw).strip()


def parse_int(name: str, raw, lo: int, hi: int, default: int | None = None) -> int:
    s = _text(raw)
    if not s:
        if default is not None:
            return default
        raise FormError(name, "is required")
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", s):
        raise FormError(name, f"must be a whole number, not {s[:40]!r}")
    v = int(s)
    if v < lo or v > hi:
        raise FormError(name, f"must be between {lo} and {hi}")
    return v


def parse_float(name: str, raw, lo: float, hi: float, default: float | None = None) -> float:
    s = _text(raw)
    if not s:
        if default is not None:
            return default
        raise FormError(name, "is required")
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)", s):
        raise FormError(name, f"must be a number, not {s[:40]!r}")
    try:
        v = float(s)
    except ValueError:
        raise FormError(name, f"must be a number, not {s[:40]!r}") from None
    if not math.isfinite(v) or v < lo or v > hi:
        raise FormError(name, f"must be between {lo:g} and {hi:g}")
    return v


def parse_eth(name: str, raw, allow_zero: bool = False, required: bool = True) -> int | None:
    """A decimal ETH amount typed by a person -> wei (int). Negative, huge, junk: FormError."""
    s = _text(raw)
    if not s:
        if required:
            raise FormError(name, "is required")
        return None
    if len(s) > 40 or not re.fullmatch(r"[0-9]*\.?[0-9]*", s) or s == ".":
        raise FormError(name, f"must be an amount in ETH like 0.01, not {s[:40]!r}")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise FormError(name, f"must be an amount in ETH like 0.01, not {s[:40]!r}") from None
    if d > MAX_ETH:
        raise FormError(name, f"is too large (at most {MAX_ETH} ETH)")
    wei = d * WEI_PER_ETH
    if wei != wei.to_integral_value():
        raise FormError(name, "has more than 18 decimals")
    wei = int(wei)
    if wei == 0 and not allow_zero:
        raise FormError(name, "must be more than 0")
    return wei


def format_eth(wei: int | None) -> str:
    if wei is None:
        return ""
    d = (Decimal(int(wei)) / WEI_PER_ETH).normalize()
    s = format(d, "f")
    return s


def format_number(v) -> str:
    """A parsed number as the user would type it: 800.0 -> "800", 52.52 -> "52.52", None -> ""."""
    if v is None or v == "":
        return ""
    if isinstance(v, float) and math.isfinite(v):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


MAX_KEPT = 200  # characters of a typed value shown again


@dataclass
class Kept:
    """A failed POST form shown again: which form, what the user typed in it, which field was bad.

    Only the named fields are kept (never a CSRF token or a secret), each cut to MAX_KEPT
    characters; the templates autoescape them like any other text.
    """

    form: str = ""
    values: dict[str, str] = field(default_factory=dict)
    bad: str = ""

    @classmethod
    def of(cls, form: str, source, names, bad: str = "") -> Kept:
        return cls(form, {n: str(source.get(n) or "")[:MAX_KEPT] for n in names}, bad)

    def value(self, form: str, name: str, default="") -> str:
        return self.values.get(name, default) if form == self.form else default

    def invalid(self, form: str, name: str) -> bool:
        return form == self.form and name == self.bad


def parse_username(raw) -> str:
    s = _text(raw).lower()
    if not USERNAME_RE.fullmatch(s):
        raise FormError("username", "must be 3-32 characters: letters, digits, '.', '_' or '-'")
    return s


def parse_password(raw, confirm=None) -> str:
    s = "" if raw is None else str(raw)
    if len(s) < 8:
        raise FormError("password", "must be at least 8 characters")
    if len(s) > 256:
        raise FormError("password", "must be at most 256 characters")
    if confirm is not None and s != str(confirm):
        raise FormError("confirm", "does not match the password")
    return s


def parse_private_key(raw) -> bytes:
    s = _text(raw)
    s = s[2:] if s.lower().startswith("0x") else s
    if not re.fullmatch(r"[0-9a-fA-F]{64}", s):
        raise FormError("private_key", "must be 64 hex digits")
    key = bytes.fromhex(s)
    if int.from_bytes(key, "big") == 0:
        raise FormError("private_key", "is not a valid key")
    return key


def parse_address(name: str, raw) -> str:
    s = _text(raw)
    if not ADDRESS_RE.fullmatch(s):
        raise FormError(name, "must be an address like 0x followed by 40 hex digits")
    return s


def parse_tangle_address(name: str, raw) -> str:
    s = _text(raw).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", s):
        raise FormError(name, "is not a tangle address (64 hex digits)")
    return s


def _flag(raw) -> bool:
    return _text(raw).lower() in ("1", "on", "true", "yes")


@dataclass
class CatalogQuery:
    """The catalog filter form; its state is the URL query string (shareable)."""

    device_id: str = ""  # exactly this device (0x + 64 hex digits), e.g. a bid from its page
    q: str = ""
    type: str = ""
    prop: str = ""
    unit: str = ""
    geohash: str = ""
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    reserve_min: int | None = None  # wei
    reserve_max: int | None = None  # wei
    attested: bool = False
    min_reputation: float | None = None
    include_inactive: bool = False
    sort: str = "newest"
    page: int = 1
    per_page: int = 50
    errors: list[FormError] = field(default_factory=list)

    def as_args(self, **override) -> dict:
        """Query-string arguments reproducing this filter (for links and pagination)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "errors"}
        d.update(override)
        out = {}
        for k, v in d.items():
            if v in (None, "", False) or (k == "sort" and v == "newest") or (k == "page" and v == 1) \
                    or (k == "per_page" and v == 50):
                continue
            if k in ("reserve_min", "reserve_max"):
                v = format_eth(v)
            elif isinstance(v, float):
                v = format_number(v)
            out[k] = "1" if v is True else v
        return out


def parse_catalog_query(args) -> CatalogQuery:
    """Parse every field independently so one bad value is reported without losing the others."""
    cq = CatalogQuery()

    def take(name, fn):
        try:
            setattr(cq, name, fn(args.get(name)))
        except FormError as exc:
            cq.errors.append(exc)

    def short_text(fieldname, maxlen):
        def f(raw):
            s = _text(raw)
            if len(s) > maxlen:
                raise FormError(fieldname, f"must be at most {maxlen} characters")
            return s
        return f

    def name_list(fieldname):
        # Comma-separated names, all required by the catalog ("all of").
        def f(raw):
            s = _text(raw)
            names = [n.strip() for n in s.split(",") if n.strip()]
            if len(names) > 20 or any(len(n) > 100 for n in names):
                raise FormError(fieldname, "must be at most 20 names of at most 100 characters each")
            return ", ".join(names)
        return f

    def device_id(raw):
        s = _text(raw).lower()
        if not s:
            return ""
        if not DEVICE_ID_RE.fullmatch(s):
            raise FormError("device_id", "must be 0x followed by 64 hex digits")
        return "0x" + s.removeprefix("0x")

    take("device_id", device_id)
    take("q", short_text("q", 200))
    take("type", short_text("type", 100))
    take("prop", name_list("prop"))
    take("unit", name_list("unit"))

    def geohash(raw):
        s = _text(raw).lower()
        if s and not GEOHASH_RE.fullmatch(s):
            raise FormError("geohash", "must be 1-12 geohash characters (0-9, b-z without a, i, l, o)")
        return s

    take("geohash", geohash)
    take("lat", lambda r: parse_float("lat", r, -90, 90) if _text(r) else None)
    take("lon", lambda r: parse_float("lon", r, -180, 180) if _text(r) else None)
    take("radius_km", lambda r: parse_float("radius_km", r, 0.001, 20000) if _text(r) else None)
    take("reserve_min", lambda r: parse_eth("reserve_min", r, allow_zero=True, required=False))
    take("reserve_max", lambda r: parse_eth("reserve_max", r, allow_zero=True, required=False))
    take("min_reputation", lambda r: parse_float("min_reputation", r, 0, 255) if _text(r) else None)
    cq.attested = _flag(args.get("attested"))
    cq.include_inactive = _flag(args.get("include_inactive"))

    def sort(raw):
        s = _text(raw) or "newest"
        if s not in SORTS:
            raise FormError("sort", "must be one of the orders in the list")
        return s

    take("sort", sort)
    take("page", lambda r: parse_int("page", r, 1, 100000, default=1))
    take("per_page", lambda r: parse_int("per_page", r, 1, 200, default=50))
    given = [x is not None for x in (cq.lat, cq.lon, cq.radius_km)]
    if any(given) and not all(given):
        cq.errors.append(FormError("radius_km", "needs latitude and longitude: the three go together"))
        cq.lat = cq.lon = cq.radius_km = None
    if cq.reserve_min is not None and cq.reserve_max is not None and cq.reserve_min > cq.reserve_max:
        cq.errors.append(FormError("reserve_max", "must not be below Reserve from"))
        cq.reserve_max = None
    if cq.sort == "distance" and cq.radius_km is None:
        cq.errors.append(FormError("sort", "by distance needs latitude, longitude and radius"))
        cq.sort = "newest"
    return cq
