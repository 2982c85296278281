"""Geohash for the agent: the exchange's encoder (exchange.geo), errors as agent config errors.

Precision 5 is a cell of about 4.9 km x 4.9 km, enough for a catalog map and useless for
finding a home.
"""

from __future__ import annotations

from device_agent.errors import AgentConfigError
from exchange import geo


def encode(lat: float, lon: float, precision: int = 5) -> str:
    """The geohash of (lat, lon) with ``precision`` characters (1..12)."""
    try:
        return geo.encode(lat, lon, precision)
    except geo.GeohashError as exc:
        raise AgentConfigError(f"location: {exc}") from exc


def decode(gh: str) -> tuple[float, float, float, float]:
    """(lat, lon, lat_err, lon_err): the centre of the cell and its half sizes."""
    try:
        min_lat, min_lon, max_lat, max_lon = geo.bounds(gh)
    except geo.GeohashError as exc:
        raise AgentConfigError(str(exc)) from exc
    return (min_lat + max_lat) / 2, (min_lon + max_lon) / 2, (max_lat - min_lat) / 2, (max_lon - min_lon) / 2
