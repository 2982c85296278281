"""A server-drawn SVG map of devices: no tiles needed, no script, safe under a strict CSP.

Points are clustered on a screen grid (so thousands of devices stay a small SVG), the
view fits the points (and a radius search's circle, when given) with a margin, its frame
takes the shape of that box (no empty bands), and a graticule with degree labels gives the
reader bearings where a tile map would show coastlines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from exchange.geo import EARTH_RADIUS_KM

MAX_LAT = 85.0  # Web Mercator stops short of the poles
MARGIN = 10  # pixels around the box (labels sit inside it)
MIN_ASPECT, MAX_ASPECT = 0.6, 4.0  # width / height of the box; a thinner box is widened


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
class SearchArea:
    """The centre of a radius search and its circle as drawn (a polygon on the projection)."""

    x: float
    y: float
    r: float  # half the circle's drawn north-south extent, in pixels
    points: str  # "x,y x,y ..." for an SVG polygon
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
    area: SearchArea | None = None
    # The projection (pixels <-> degrees), so the page can turn a click into a search centre.
    west: float = 0.0
    y_north: float = 0.0  # Mercator y of the top edge
    scale: float = 1.0  # pixels per radian

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        return (MARGIN + math.radians(lon - self.west) * self.scale, MARGIN + (self.y_north - _merc_y(lat)) * self.scale)

    def unproject(self, x: float, y: float) -> tuple[float, float]:
        lon = self.west + math.degrees((x - MARGIN) / self.scale)
        return _merc_lat(self.y_north - (y - MARGIN) / self.scale), (lon + 180.0) % 360.0 - 180.0 if abs(lon) > 180 else lon


def _nice_step(span: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45, 60, 90):
        if span / step <= 8:
            return step
    return 90


def _merc_y(lat: float) -> float:
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _merc_lat(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def _destination(lat: float, lon: float, bearing_deg: float, ang: float) -> tuple[float, float]:
    """The point ``ang`` radians along a great circle from (lat, lon); longitude not wrapped."""
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    sin_p2 = math.sin(p1) * math.cos(ang) + math.cos(p1) * math.sin(ang) * math.cos(b)
    p2 = math.asin(max(-1.0, min(1.0, sin_p2)))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(ang) * math.cos(p1), math.cos(ang) - math.sin(p1) * sin_p2)
    return math.degrees(p2), math.degrees(l2)


def circle_outline(lat: float, lon: float, radius_km: float, n: int = 72) -> list[tuple[float, float]]:
    """(lat, lon) points of the circle of ``radius_km`` around (lat, lon), as a closed ring.

    Longitudes are kept continuous around the centre (they may pass ±180). A circle around a
    pole is a band on the map: its edge is sorted by longitude and closed along the pole.
    """
    ang = min(radius_km / EARTH_RADIUS_KM, math.pi)
    pts = [_destination(lat, lon, 360.0 * i / n, ang) for i in range(n)]
    north = math.degrees(ang) + lat >= 90
    south = lat - math.degrees(ang) <= -90
    if not (north or south):
        # Unwrap: each point's longitude within 180° of the previous one.
        out = [pts[0]]
        for la, lo in pts[1:]:
            prev = out[-1][1]
            lo += 360.0 * round((prev - lo) / 360.0)
            out.append((la, lo))
        return out
    if north and south:  # covers the whole sphere
        return [(-90.0, -180.0), (90.0, -180.0), (90.0, 180.0), (-90.0, 180.0)]
    edge = sorted(((la, (lo + 180.0) % 360.0 - 180.0) for la, lo in pts), key=lambda p: p[1])
    pole = 90.0 if north else -90.0
    return [(pole, -180.0), (edge[0][0], -180.0), *edge, (edge[-1][0], 180.0), (pole, 180.0)]


def _cluster_radius(k: int) -> float:
    return 4.0 if k == 1 else round(min(18.0, 4 + 2.2 * math.sqrt(k)), 1)


def _merge_overlapping(groups: list[list]) -> list[list]:
    """Merge groups of (x, y, point) whose drawn circles would overlap, until none do (a merged
    group sits at its members' mean and grows), so every cluster can be seen and clicked."""
    def centre(g):
        return sum(m[0] for m in g) / len(g), sum(m[1] for m in g) / len(g)

    groups = [g for g in groups if g]
    for _ in range(len(groups)):
        centres = [centre(g) for g in groups]
        radii = [_cluster_radius(len(g)) for g in groups]
        order = sorted(range(len(groups)), key=lambda i: centres[i])
        hit = None
        for a_pos, i in enumerate(order):  # sweep on x: only neighbours within the largest radii can touch
            for j in order[a_pos + 1:]:
                if centres[j][0] - centres[i][0] > 36.5:
                    break
                if math.hypot(centres[i][0] - centres[j][0], centres[i][1] - centres[j][1]) < radii[i] + radii[j]:
                    hit = (i, j)
                    break
            if hit:
                break
        if hit is None:
            return groups
        i, j = hit
        groups[i] = groups[i] + groups[j]
        del groups[j]
    return groups


def build_map(points: list[tuple[float, float, str, str | None]], width: int = 720, height: int = 475,
              cell: int = 14, circle: tuple[float, float, float] | None = None,
              cluster_href: Callable[[float, float, float], str] | None = None) -> MapView:
    """points: (lat, lon, label, href); circle: (lat, lon, radius_km) of a radius search, drawn
    with its centre. ``width`` x ``height`` is the largest frame: the map takes the shape of
    the box around the points and the circle, within that frame. Clusters never overlap; with
    ``cluster_href(lat, lon, radius_km)`` each links to the search around its members (a zoom)."""
    good = [p for p in points if p[0] is not None and p[1] is not None
            and -90 <= p[0] <= 90 and -180 <= p[1] <= 180]
    ring: list[tuple[float, float]] = []
    if circle is not None:
        ring = circle_outline(*circle)
    lats = [p[0] for p in good] + [p[0] for p in ring] + ([circle[0]] if circle else [])
    lons = [p[1] for p in good] + [p[1] for p in ring] + ([circle[1]] if circle else [])
    if lats:
        s, n, w, e = min(lats), max(lats), min(lons), max(lons)
    else:
        s, w, n, e = -60.0, -180.0, 75.0, 180.0
    pad_lat = max((n - s) * 0.1, 0.05)
    pad_lon = max((e - w) * 0.1, 0.05)
    s, n = max(-MAX_LAT, s - pad_lat), min(MAX_LAT, n + pad_lat)
    w, e = max(-180.0, w - pad_lon), min(180.0, e + pad_lon)
    # Keep the box's shape reasonable: a thin strip of devices still gets a readable map.
    x_span = math.radians(e - w)
    y_s, y_n = _merc_y(s), _merc_y(n)
    if x_span < MIN_ASPECT * (y_n - y_s):
        grow = math.degrees(MIN_ASPECT * (y_n - y_s) - x_span) / 2
        w, e = max(-180.0, w - grow), min(180.0, e + grow)
    elif x_span > MAX_ASPECT * (y_n - y_s):
        grow = (x_span / MAX_ASPECT - (y_n - y_s)) / 2
        top = _merc_y(MAX_LAT)
        y_s, y_n = max(-top, y_s - grow), min(top, y_n + grow)
        s, n = _merc_lat(y_s), _merc_lat(y_n)
    y_s, y_n = _merc_y(s), _merc_y(n)
    x_span = math.radians(e - w) or 1e-9
    y_span = (y_n - y_s) or 1e-9
    # One scale for both axes (the projection's aspect), the frame shaped like the box.
    scale = min((width - 2 * MARGIN) / x_span, (height - 2 * MARGIN) / y_span)
    frame_w = int(math.ceil(x_span * scale)) + 2 * MARGIN
    frame_h = int(math.ceil(y_span * scale)) + 2 * MARGIN

    def proj(lat: float, lon: float) -> tuple[float, float]:
        return (MARGIN + math.radians(lon - w) * scale, MARGIN + (y_n - _merc_y(lat)) * scale)

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
    from exchange.geo import haversine_km

    markers = []
    for members in _merge_overlapping(list(cells.values())):
        cx = sum(m[0] for m in members) / len(members)
        cy = sum(m[1] for m in members) / len(members)
        k = len(members)
        if k == 1:
            p = members[0][2]
            markers.append(Marker(round(cx, 1), round(cy, 1), 4.0, 1, p[2], p[3]))
            continue
        href = None
        if cluster_href is not None:
            clat = sum(m[2][0] for m in members) / k
            clon = sum(m[2][1] for m in members) / k
            reach = max(haversine_km(clat, clon, m[2][0], m[2][1]) for m in members)
            href = cluster_href(round(clat, 4), round(clon, 4), round(max(1.0, reach * 1.05 + 0.5), 1))
        markers.append(Marker(round(cx, 1), round(cy, 1), _cluster_radius(k), k,
                              f"{k} devices{': click to zoom in' if href else ''}", href))
    markers.sort(key=lambda m: -m.r)  # big clusters underneath

    area = None
    if circle is not None:
        clat, clon, radius_km = circle
        cx, cy = proj(clat, clon)
        xy = [proj(la, lo) for la, lo in ring]
        ys = [p[1] for p in xy]
        label = f"search centre {clat:.3f}, {clon:.3f}, radius {radius_km:g} km"
        # The label sits right of the centre, or left of it near the right edge.
        lx = cx + 8 if cx < frame_w * 0.6 else cx - 8 - 5.2 * len(label)
        area = SearchArea(round(cx, 1), round(cy, 1), round((max(ys) - min(ys)) / 2, 1),
                          " ".join(f"{x:.1f},{y:.1f}" for x, y in xy), label, round(max(2.0, lx), 1),
                          round(cy - 6 if cy > 16 else cy + 14, 1))
    return MapView(frame_w, frame_h, markers, grid, (round(s, 4), round(w, 4), round(n, 4), round(e, 4)),
                   len(points), len(good), area, west=w, y_north=y_n, scale=scale)
