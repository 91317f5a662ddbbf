"""Geofence shapes from API input (validated GeoJSON polygons, circles) and metric measures on the sphere.

Coordinates are WGS84 degrees, [longitude, latitude] as in RFC 7946. Metres are measured on a sphere of
radius EARTH_RADIUS_M (the IUGG mean radius), which is within 0.6 % of the WGS84 ellipsoid everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.polygon import orient

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180  # of latitude, or of longitude on the equator

MAX_VERTICES = 2000
MAX_AREA_M2 = 100_000_000
MIN_RADIUS_M = 10.0
MAX_RADIUS_M = 10_000.0

Floats = float | npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.float64]


class InvalidGeometry(ValueError):
    """A shape the API refuses; the message says what is wrong and where, for the client to fix."""


@dataclass(frozen=True, slots=True)
class Circle:
    """A spherical cap: every point within ``radius_m`` metres (great-circle) of the centre."""

    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        _check_lon_lat(self.lon, self.lat, "")
        if not 0 < self.radius_m < math.inf:
            raise InvalidGeometry(f"radius {self.radius_m} m must be positive and finite")
        for name in ("lat", "lon", "radius_m"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def bounds(self) -> tuple[float, float, float, float]:
        """(lon_min, lat_min, lon_max, lat_max) in degrees; see ``cap_bounds``."""
        return cap_bounds(self.lat, self.lon, self.radius_m)

    def to_polygon(self, segments: int = 64) -> Polygon:
        """Inscribed polygon for storage and display, counter-clockwise, each vertex exactly at radius_m."""
        if segments < 3:
            raise ValueError(f"a polygon needs at least 3 segments, got {segments}")
        # Bearings run clockwise from north, so decreasing ones wind counter-clockwise as RFC 7946 wants.
        bearings = np.linspace(0.0, -2 * math.pi, segments, endpoint=False)
        lat, lon = _destination(self.lat, self.lon, bearings, self.radius_m)
        return Polygon(np.column_stack([lon, lat]))


def circle(lat: float, lon: float, radius_m: float) -> Circle:
    """A circular geofence from API input: numbers only, radius between 10 m and 10 km."""
    for name, value in (("latitude", lat), ("longitude", lon), ("radius", radius_m)):
        _check_number(value, name)
    if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
        raise InvalidGeometry(f"radius {radius_m} m is out of range [{MIN_RADIUS_M:g}, {MAX_RADIUS_M:g}]")
    return Circle(lat, lon, radius_m)


def parse_geojson_polygon(
    obj: Any, *, max_vertices: int = MAX_VERTICES, max_area_m2: float = MAX_AREA_M2
) -> Polygon | MultiPolygon:
    """A validated RFC 7946 Polygon or MultiPolygon, exterior rings counter-clockwise and holes clockwise.

    Altitudes are checked and dropped. Vertices are counted without each ring's closing position. The
    area is measured on the sphere (see ``area_m2``).
    """
    if not isinstance(obj, Mapping):
        raise InvalidGeometry(f"geometry must be a GeoJSON object, got {_describe(obj)}")
    kind = obj.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(f'type must be "Polygon" or "MultiPolygon", got {_describe(kind)}')
    if "coordinates" not in obj:
        raise InvalidGeometry("coordinates are missing")
    coordinates = obj["coordinates"]
    if kind == "Polygon":
        labels = [""]
        parts = [_rings(coordinates, "", "empty polygon")]
    else:
        if not isinstance(coordinates, list | tuple):
            raise InvalidGeometry(f"coordinates must be an array of polygons, got {_describe(coordinates)}")
        if not coordinates:
            raise InvalidGeometry("empty multipolygon")
        labels = [f" of polygon {i}" for i in range(len(coordinates))]
        parts = [
            _rings(polygon, label, f"polygon {i} is empty")
            for i, (label, polygon) in enumerate(zip(labels, coordinates))
        ]
    # Counted before positions are read, so an oversized upload is refused without more work.
    vertices = sum(len(ring) - 1 for rings in parts for ring in rings)
    if vertices > max_vertices:
        raise InvalidGeometry(f"{kind.lower()} has {vertices} vertices; the maximum is {max_vertices}")
    polygons = []
    for label, rings in zip(labels, parts):
        shell, *holes = (_ring(ring, f"ring {j}{label}") for j, ring in enumerate(rings))
        polygons.append(Polygon(shell, holes))
    shape: Polygon | MultiPolygon = polygons[0] if kind == "Polygon" else MultiPolygon(polygons)
    reason = shapely.is_valid_reason(shape)
    if reason != "Valid Geometry":
        raise InvalidGeometry(_explain(reason))
    area = area_m2(shape)
    # A valid but microscopic shape can still measure 0 m² in floating point.
    if not area > 0:
        raise InvalidGeometry(f"{kind.lower()} has zero area")
    if area > max_area_m2:
        raise InvalidGeometry(f"area {area / 1e6:.1f} km² exceeds the maximum of {max_area_m2 / 1e6:g} km²")
    oriented: Polygon | MultiPolygon = orient(shape, sign=1.0)
    return oriented


def area_m2(shape: Polygon | MultiPolygon) -> float:
    """Area on the sphere, from the spherical excess of each ring.

    Edges are taken as great-circle arcs, each closing with the equator a strip whose excess E has
    tan(E/2) = tan(Δλ/2)·(tan(φ₁/2) + tan(φ₂/2)) / (1 + tan(φ₁/2)·tan(φ₂/2)). Against RFC 7946's straight
    longitude/latitude edges that misses a sliver of about L³·tan(φ)/12R per edge of length L: under
    0.03 % of a 100 km² fence with 10 km edges, nothing at store scale.
    """
    polygons = shape.geoms if isinstance(shape, MultiPolygon) else [shape]
    excess = sum(
        abs(_ring_excess(polygon.exterior)) - sum(abs(_ring_excess(hole)) for hole in polygon.interiors)
        for polygon in polygons
    )
    return float(excess) * EARTH_RADIUS_M**2


def to_geojson(shape: Polygon | MultiPolygon | Point) -> dict[str, Any]:
    """RFC 7946 geometry object with plain lists, ready for JSON."""
    if isinstance(shape, Point):
        return {"type": "Point", "coordinates": [shape.x, shape.y]}
    if isinstance(shape, Polygon):
        return {"type": "Polygon", "coordinates": _polygon_coordinates(shape)}
    if isinstance(shape, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [_polygon_coordinates(p) for p in shape.geoms]}
    raise TypeError(f"cannot write {type(shape).__name__} as GeoJSON (a Circle has to_polygon())")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(h, 1.0)))


def distances_m(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike) -> Floats:
    """``distance_m`` over numpy arrays, broadcast together."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians(np.subtract(lon2, lon1))
    h = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlon / 2) ** 2
    result: Floats = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    return result


def distances_from_m(lat: float, lon: float, phi: Floats, lam: Floats, cos_phi: Floats) -> Floats:
    """``distance_m`` from one point to many, given in radians with the cosines of their latitudes
    (computed once for a fixed set of points: a search over them then skips those conversions)."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    h = np.sin((phi - phi1) / 2) ** 2 + math.cos(phi1) * cos_phi * np.sin((lam - lam1) / 2) ** 2
    result: Floats = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    return result


def bounding_circle(shape: Polygon | MultiPolygon | Circle) -> Circle:
    """A circle holding the whole shape, for the phone's region monitoring (a circle is its own)."""
    if isinstance(shape, Circle):
        return shape
    return bounding_circles([shape])[0]


def bounding_circles(shapes: Sequence[Polygon | MultiPolygon]) -> list[Circle]:
    """``bounding_circle`` for many polygons at once.

    The centre is the middle of the longitude/latitude bounding box, near-optimal for compact shapes;
    the radius is the great-circle distance to the farthest vertex, at least MIN_RADIUS_M. Edges stay
    inside too: an RFC 7946 edge, straight in longitude/latitude, bows out of the great circle through
    its ends by L²·tan(φ)/8R, less than that great circle sinks inside any circle narrower than R/tan(φ)
    (2,300 km at 70°).
    """
    if not shapes:
        return []
    geoms = np.asarray(shapes, dtype=object)
    west, south, east, north = shapely.bounds(geoms).T
    lon, lat = (west + east) / 2, (south + north) / 2
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    reach = distances_m(lat[owner], lon[owner], coords[:, 1], coords[:, 0])
    radius = np.maximum(np.maximum.reduceat(reach, np.searchsorted(owner, np.arange(len(geoms)))), MIN_RADIUS_M)
    return [Circle(a, o, r) for a, o, r in zip(lat.tolist(), lon.tolist(), radius.tolist())]


def crosses_antimeridian(shape: Polygon | MultiPolygon | Circle) -> bool:
    """Whether the shape crosses or touches the antimeridian (longitude ±180°), or holds a pole.

    Fences are kept, indexed and monitored in plain longitude/latitude, where such a shape is not what
    it means: a ring edge from 179.99° to -179.99° runs the long way round the planet, and a circle's
    part beyond ±180° would be cut off. RFC 7946 §3.1.9 has such shapes cut in two; we refuse them.
    """
    if isinstance(shape, Circle):
        return bool(circles_cross_antimeridian(np.array([shape.lat]), np.array([shape.lon]),
                                               np.array([shape.radius_m]))[0])
    return bool(polygons_cross_antimeridian([shape])[0])


def circles_cross_antimeridian(lat: npt.ArrayLike, lon: npt.ArrayLike,
                               radius_m: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``crosses_antimeridian`` for many circles: the cap's longitude span reaches ±180° (a cap holding
    a pole spans every longitude)."""
    delta = np.divide(radius_m, EARTH_RADIUS_M)
    phi = np.radians(np.abs(lat))
    reaches_pole = phi + delta >= math.pi / 2
    ratio = np.sin(delta) / np.cos(np.where(reaches_pole, 0.0, phi))
    half_width = np.degrees(np.arcsin(np.minimum(ratio, 1.0)))
    result: npt.NDArray[np.bool_] = reaches_pole | (np.abs(lon) + half_width >= 180.0)
    return result


def polygons_cross_antimeridian(shapes: Sequence[Polygon | MultiPolygon]) -> npt.NDArray[np.bool_]:
    """``crosses_antimeridian`` for many polygons: a vertex at ±180°, or an edge spanning more than
    180° of longitude (drawn across the antimeridian, or around a pole)."""
    result = np.zeros(len(shapes), dtype=bool)
    if not len(shapes):
        return result
    geoms = np.asarray(shapes, dtype=object)
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    owner = part_owner[ring_part[ring]]
    result[owner[np.abs(coords[:, 0]) >= 180.0]] = True
    same_ring = ring[:-1] == ring[1:]
    long_edge = same_ring & (np.abs(np.diff(coords[:, 0])) > 180.0)
    result[owner[:-1][long_edge]] = True
    return result


def circles_farthest_m(lat: npt.ArrayLike, lon: npt.ArrayLike, radius_m: npt.ArrayLike, from_lat: npt.ArrayLike,
                       from_lon: npt.ArrayLike) -> FloatArray:
    """For each circle, the great-circle distance from its own point to the circle's farthest point:
    to the centre, plus the radius."""
    result: FloatArray = np.asarray(distances_m(from_lat, from_lon, lat, lon) + np.asarray(radius_m))
    return result


def polygons_farthest_m(shapes: Sequence[Polygon | MultiPolygon], from_lat: npt.ArrayLike,
                        from_lon: npt.ArrayLike) -> FloatArray:
    """For each polygon, the great-circle distance from its own point to the polygon's farthest point.

    That is its farthest vertex: along a great circle the distance from a point has a single maximum,
    half the planet round from its minimum, so the farthest point of a short arc is one of its ends
    (holes lie inside: only outer rings count). An RFC 7946 edge, straight in longitude/latitude, bows
    from that arc by L²·tan(φ)/8R at most: under 0.4 m for a 4 km edge at 50°, 1.6 m at 80°.
    """
    if not len(shapes):
        return np.empty(0)
    geoms = np.asarray(shapes, dtype=object)
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    coords, part = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    owner = part_owner[part]
    reach = distances_m(np.asarray(from_lat)[owner], np.asarray(from_lon)[owner], coords[:, 1], coords[:, 0])
    result: FloatArray = np.maximum.reduceat(reach, np.searchsorted(owner, np.arange(len(geoms))))
    return result


def cap_bounds(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(lon_min, lat_min, lon_max, lat_max) of every point within ``radius_m`` of (lat, lon), exactly.

    ``expand_bounds`` for one point, without numpy's per-call cost: a single look-up's hot path.
    """
    delta = radius_m / EARTH_RADIUS_M
    phi = math.radians(abs(lat))
    half_width = 360.0 if phi + delta >= math.pi / 2 else math.degrees(math.asin(math.sin(delta) / math.cos(phi)))
    return (
        max(lon - half_width, -180.0),
        max(lat - math.degrees(delta), -90.0),
        min(lon + half_width, 180.0),
        min(lat + math.degrees(delta), 90.0),
    )


def expand_bounds(
    lon_min: npt.ArrayLike,
    lat_min: npt.ArrayLike,
    lon_max: npt.ArrayLike,
    lat_max: npt.ArrayLike,
    distance_m: npt.ArrayLike,
) -> tuple[Floats, Floats, Floats, Floats]:
    """A longitude/latitude box holding every point within ``distance_m`` of the given box; vectorised.

    Exact for a point (the bounds of a spherical cap). A box that reaches a pole spans all longitudes;
    longitudes are clamped to ±180, so the part of a shape beyond the antimeridian is not covered.
    """
    delta = np.divide(distance_m, EARTH_RADIUS_M)
    south = np.maximum(np.subtract(lat_min, np.degrees(delta)), -90.0)
    north = np.minimum(np.add(lat_max, np.degrees(delta)), 90.0)
    # A cap of angular radius δ centred at latitude φ spans asin(sin δ / cos φ) of longitude either side;
    # that grows with |φ|, so the box's most poleward latitude bounds it for every point of the box.
    phi = np.radians(np.maximum(np.abs(lat_min), np.abs(lat_max)))
    reaches_pole = phi + delta >= math.pi / 2
    ratio = np.sin(delta) / np.cos(np.where(reaches_pole, 0.0, phi))
    half_width = np.where(reaches_pole, 360.0, np.degrees(np.arcsin(np.minimum(ratio, 1.0))))
    west = np.maximum(np.subtract(lon_min, half_width), -180.0)
    east = np.minimum(np.add(lon_max, half_width), 180.0)
    return west, south, east, north


def _destination(
    lat: float, lon: float, bearing: npt.NDArray[np.float64], distance: float
) -> tuple[Floats, Floats]:
    """Points ``distance`` metres from (lat, lon) along great circles leaving at ``bearing`` radians."""
    phi, delta = math.radians(lat), distance / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * np.cos(bearing)
    phi2 = np.arcsin(sin_phi2)
    dlon = np.arctan2(
        np.sin(bearing) * math.sin(delta) * math.cos(phi), math.cos(delta) - math.sin(phi) * sin_phi2
    )
    return np.degrees(phi2), lon + np.degrees(dlon)


def _ring_excess(ring: shapely.LinearRing) -> float:
    """Signed spherical excess (steradians) enclosed by a closed ring of great-circle arcs."""
    lon, lat = np.radians(shapely.get_coordinates(ring)).T
    t = np.tan(lat / 2)
    # Each edge contributes the excess of the strip between it and the equator.
    strips = 2 * np.arctan2(np.tan(np.diff(lon) / 2) * (t[:-1] + t[1:]), 1 + t[:-1] * t[1:])
    return float(strips.sum())


def _polygon_coordinates(polygon: Polygon) -> list[Any]:
    return [shapely.get_coordinates(ring).tolist() for ring in (polygon.exterior, *polygon.interiors)]


def _rings(value: Any, label: str, empty: str) -> list[list[Any] | tuple[Any, ...]]:
    """The rings of one polygon's coordinates, shape-checked down to the count of positions."""
    if not isinstance(value, list | tuple):
        raise InvalidGeometry(f"coordinates{label} must be an array of linear rings, got {_describe(value)}")
    if not value:
        raise InvalidGeometry(empty)
    for j, ring in enumerate(value):
        if not isinstance(ring, list | tuple):
            raise InvalidGeometry(f"ring {j}{label} must be an array of positions, got {_describe(ring)}")
        if len(ring) < 4:
            raise InvalidGeometry(f"ring {j}{label} has {len(ring)} positions; a closed ring needs at least 4")
    return list(value)


def _ring(ring: Sequence[Any], where: str) -> list[tuple[float, float]]:
    positions = [_position(position, f"position {k} of {where}") for k, position in enumerate(ring)]
    if positions[0] != positions[-1]:
        raise InvalidGeometry(
            f"{where} is not closed: first position {list(ring[0])} differs from last {list(ring[-1])}"
        )
    return positions


_AXES = ("longitude", "latitude", "altitude")


def _position(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple):
        raise InvalidGeometry(f"{where} must be an array of 2 or 3 numbers, got {_describe(value)}")
    if len(value) not in (2, 3):
        raise InvalidGeometry(
            f"{where} has {len(value)} numbers; expected [longitude, latitude] or [longitude, latitude, altitude]"
        )
    for axis, number in zip(_AXES, value):
        _check_number(number, f"{axis} at {where}")
    lon, lat = value[0], value[1]
    _check_lon_lat(lon, lat, f" at {where}")
    return float(lon), float(lat)


def _check_number(value: Any, what: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidGeometry(f"{what} must be a number, got {_describe(value)}")
    # Python ints are always finite (and math.isfinite would overflow on huge ones).
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidGeometry(f"{what} must be a finite number, got {value}")


def _check_lon_lat(lon: float, lat: float, where: str) -> None:
    if not -180 <= lon <= 180:
        raise InvalidGeometry(f"longitude {lon}{where} is out of range [-180, 180]")
    if not -90 <= lat <= 90:
        # A latitude that would be a fine longitude next to a longitude that would be a fine latitude.
        hint = ": are longitude and latitude swapped?" if abs(lat) <= 180 and abs(lon) <= 90 else ""
        raise InvalidGeometry(f"latitude {lat}{where} is out of range [-90, 90]{hint}")


_JSON_TYPES = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    dict: "object",
    list: "array",
    tuple: "array",
}


def _describe(value: Any) -> str:
    """A JSON-minded description of a wrong value, short enough for an error message."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_JSON_TYPES.get(type(value), type(value).__name__)} {text}"


_REASON = re.compile(r"(?P<what>.+?)\s*\[(?P<x>\S+) (?P<y>\S+)\]")


def _explain(reason: str) -> str:
    """GEOS's "Self-intersection[2.3512 48.8566]" as "self-intersection at (2.3512, 48.8566)"."""
    match = _REASON.fullmatch(reason)
    if match is None:
        return reason.lower()
    return f"{match['what'].lower()} at ({_coordinate(match['x'])}, {_coordinate(match['y'])})"


def _coordinate(text: str) -> str:
    # 7 decimals of a degree is 1 cm; GEOS prints full doubles.
    return f"{float(text):.7f}".rstrip("0").rstrip(".")
