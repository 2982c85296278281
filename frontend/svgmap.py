"""A server-drawn SVG map of devices: no tiles needed, no script, safe under a strict CSP.

Points are clustered on a screen grid (so thousands of devices stay a small SVG), the
view fits the points with a margin, and a graticule with degree labels gives the reader
bearings where a tile map would show coastlines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    r: float
    count: int
    label: str
    href: str | None  # a single device links to its page


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    lx: float
    ly: float


@dataclass(frozen=True)
class MapView:
    width: int
    height: int
    markers: list[Marker]
    grid: list[Line]
    bounds: tuple[float, float, float, float]  # south, west, north, east
    total: int
    placed: int  # devices with a position


def _nice_step(span: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45, 60, 90):
        if span / step <= 8:
            return step
    return 90


def _merc_y(lat: float) -> float:
    lat = max(-85.0, min(85.0, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def build_map(points: list[tuple[float, float, str, str | None]], width: int = 720, height: int = 380,
              cell: int = 14) -> MapView:
    """points: (lat, lon, label, href). Returns what the template draws."""
    good = [p for p in points if p[0] is not None and p[1] is not None
            and -90 <= p[0] <= 90 and -180 <= p[1] <= 180]
    if good:
        s, n = min(p[0] for p in good), max(p[0] for p in good)
        w, e = min(p[1] for p in good), max(p[1] for p in good)
    else:
        s, w, n, e = -60.0, -180.0, 75.0, 180.0
    pad_lat = max((n - s) * 0.1, 0.05)
    pad_lon = max((e - w) * 0.1, 0.05)
    s, n = max(-85.0, s - pad_lat), min(85.0, n + pad_lat)
    w, e = max(-180.0, w - pad_lon), min(180.0, e + pad_lon)
    y_s, y_n = _merc_y(s), _merc_y(n)
    x_span = math.radians(e - w) or 1e-9
    y_span = (y_n - y_s) or 1e-9
    # Keep the projection's aspect: scale by the tighter axis and centre.
    scale = min(width / x_span, height / y_span)
    ox = (width - x_span * scale) / 2
    oy = (height - y_span * scale) / 2

    def proj(lat: float, lon: float) -> tuple[float, float]:
        return (ox + math.radians(lon - w) * scale, oy + (y_n - _merc_y(lat)) * scale)

    grid: list[Line] = []
    step = _nice_step(max(n - s, e - w))
    lat = math.ceil(s / step) * step
    while lat <= n + 1e-9:
        x1, y = proj(lat, w)
        x2, _ = proj(lat, e)
        grid.append(Line(round(x1, 1), round(y, 1), round(x2, 1), round(y, 1), f"{lat:g}°", round(x1 + 2, 1), round(y - 2, 1)))
        lat += step
    lon = math.ceil(w / step) * step
    while lon <= e + 1e-9:
        x, y1 = proj(n, lon)
        _, y2 = proj(s, lon)
        grid.append(Line(round(x, 1), round(y1, 1), round(x, 1), round(y2, 1), f"{lon:g}°", round(x + 2, 1), round(y2 - 3, 1)))
        lon += step

    cells: dict[tuple[int, int], list] = {}
    for p in good:
        x, y = proj(p[0], p[1])
        cells.setdefault((int(x // cell), int(y // cell)), []).append((x, y, p))
    markers = []
    for members in cells.values():
        cx = sum(m[0] for m in members) / len(members)
        cy = sum(m[1] for m in members) / len(members)
        k = len(members)
        if k == 1:
            p = members[0][2]
            markers.append(Marker(round(cx, 1), round(cy, 1), 4.0, 1, p[2], p[3]))
        else:
            markers.append(Marker(round(cx, 1), round(cy, 1), round(min(18.0, 4 + 2.2 * math.sqrt(k)), 1), k,
                                  f"{k} devices", None))
    markers.sort(key=lambda m: -m.r)  # big clusters underneath
    return MapView(width, height, markers, grid, (round(s, 4), round(w, 4), round(n, 4), round(e, 4)),
                   len(points), len(good))
