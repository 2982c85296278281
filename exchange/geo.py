"""Geohash encode/decode/neighbours and the distance helpers the catalog filters use."""

from __future__ import annotations

import math
import re

from exchange.errors import ExchangeError

BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"  # the one copy: every geohash check derives from it
GEOHASH_RE = re.compile(f"^[{BASE32}]{{1,12}}$")
_INDEX = {c: i for i, c in enumerate(BASE32)}
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG_LAT = math.pi * EARTH_RADIUS_KM / 180


class GeohashError(ExchangeError, ValueError):
    """A geohash or coordinate is malformed."""


def encode(lat: float, lon: float, precision: int = 5) -> str:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise GeohashError(f"latitude must be in [-90, 90] and longitude in [-180, 180], got ({lat}, {lon})")
    if not 1 <= precision <= 12:
        raise GeohashError(f"precision must be 1..12, got {precision}")
    lat_r, lon_r = [-90.0, 90.0], [-180.0, 180.0]
    out, bits, ch, even = [], 0, 0, True
    while len(out) < precision:
        rng, val = (lon_r, lon) if even else (lat_r, lat)
        mid = (rng[0] + rng[1]) / 2
        ch <<= 1
        if val >= mid:
            ch |= 1
            rng[0] = mid
        else:
            rng[1] = mid
        even = not even
        bits += 1
        if bits == 5:
            out.append(BASE32[ch])
            bits, ch = 0, 0
    return "".join(out)


def bounds(geohash: str) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of the cell."""
    if not geohash or len(geohash) > 12 or any(c not in _INDEX for c in geohash):
        raise GeohashError(f"not a geohash (1-12 of {BASE32}): {geohash!r}")
    lat_r, lon_r = [-90.0, 90.0], [-180.0, 180.0]
    even = True
    for c in geohash:
        v = _INDEX[c]
        for shift in range(4, -1, -1):
            rng = lon_r if even else lat_r
            mid = (rng[0] + rng[1]) / 2
            if v >> shift & 1:
                rng[0] = mid
            else:
                rng[1] = mid
            even = not even
    return lat_r[0], lon_r[0], lat_r[1], lon_r[1]


def decode(geohash: str) -> tuple[float, float]:
    """Centre (lat, lon) of the cell."""
    a, b, c, d = bounds(geohash)
    return (a + c) / 2, (b + d) / 2


def neighbours(geohash: str) -> list[str]:
    """The 8 cells around ``geohash`` (same precision), N, NE, E, SE, S, SW, W, NW; poles clamp."""
    a, b, c, d = bounds(geohash)
    lat, lon = (a + c) / 2, (b + d) / 2
    dlat, dlon = c - a, d - b
    out = []
    for dy, dx in ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)):
        nlat = lat + dy * dlat
        nlon = (lon + dx * dlon + 180) % 360 - 180
        if -90 < nlat < 90:
            out.append(encode(nlat, nlon, len(geohash)))
    return out


def prefix_range(prefix: str) -> tuple[str, str]:
    """[lo, hi) such that s starts with prefix <=> lo <= s < hi (index-friendly LIKE 'p%')."""
    if not prefix:
        raise GeohashError("empty geohash prefix")
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def bbox(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """Smallest lat/lon box containing the circle (exact extents on a sphere; clamped at poles)."""
    ang = radius_km / EARTH_RADIUS_KM
    dlat = math.degrees(ang)
    coslat = math.cos(math.radians(lat))
    if lat + dlat >= 90 or lat - dlat <= -90 or math.sin(ang) >= coslat:
        dlon = 180.0  # the circle contains a pole: every longitude
    else:
        dlon = math.degrees(math.asin(math.sin(ang) / coslat))
    return max(-90.0, lat - dlat), lon - dlon, min(90.0, lat + dlat), lon + dlon


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def covering_cells(lat: float, lon: float, radius_km: float) -> list[str]:
    """Geohash cells (a cell and its neighbours) whose union contains the circle, at the finest
    precision where that works; [] when no such cover exists (huge radius, a pole inside)."""
    min_lat, min_lon, max_lat, max_lon = bbox(lat, lon, radius_km)
    dlat, dlon = lat - min_lat, lon - min_lon
    if max_lat >= 90 or min_lat <= -90 or dlon >= 180:
        return []
    best = 0
    for p in range(1, 13):
        lon_bits, lat_bits = (5 * p + 1) // 2, 5 * p // 2
        if 180 / 2**lat_bits >= dlat and 360 / 2**lon_bits >= dlon:
            best = p
        else:
            break
    if best == 0:
        return []
    centre = encode(lat, lon, best)
    return sorted({centre, *neighbours(centre)})
