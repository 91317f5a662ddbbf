"""Geofence shapes from API input: every refusal says what and where; valid shapes come out oriented."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from wallet.geo.geometry import (
    EARTH_RADIUS_M,
    Circle,
    InvalidGeometry,
    area_m2,
    bounding_circle,
    circle,
    circles_cross_antimeridian,
    circles_farthest_m,
    crosses_antimeridian,
    distance_m,
    distances_from_m,
    distances_m,
    parse_geojson_polygon,
    polygons_cross_antimeridian,
    polygons_farthest_m,
    to_geojson,
)

LON, LAT = 2.35, 48.85
DEG = 0.001  # about 111 m north-south, 73 m east-west here


def square(lon: float = LON, lat: float = LAT, side: float = DEG, *, clockwise: bool = False) -> list[list[float]]:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
    return ring[::-1] if clockwise else ring


def polygon(*rings: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


def regular_ring(vertices: int, radius_deg: float = 0.01) -> list[list[float]]:
    angles = [2 * math.pi * k / vertices for k in range(vertices)]
    ring = [[LON + radius_deg * math.cos(a), LAT + radius_deg * math.sin(a)] for a in angles]
    return [*ring, ring[0]]


REFUSALS = [
    pytest.param(
        polygon([[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.86], [2.36, 48.85]]),
        "ring 0 is not closed: first position [2.35, 48.85] differs from last [2.36, 48.85]",
        id="unclosed-ring",
    ),
    pytest.param(
        {"type": "MultiPolygon", "coordinates": [[square()], [square(lon=2.36)[:-1] + [[2.0, 48.0]]]]},
        "ring 0 of polygon 1 is not closed: first position [2.36, 48.85] differs from last [2.0, 48.0]",
        id="unclosed-ring-of-multipolygon",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, 48.85], [2.35, 48.85]]),
        "ring 0 has 3 positions; a closed ring needs at least 4",
        id="too-few-positions",
    ),
    pytest.param(
        polygon(square(), [[2.3502, 48.8502], [2.3504, 48.8502], [2.3502, 48.8502]]),
        "ring 1 has 3 positions; a closed ring needs at least 4",
        id="too-few-positions-in-hole",
    ),
    pytest.param(
        # Tokyo typed as [lat, lon]
        polygon([[35.68, 139.69], [35.69, 139.69], [35.69, 139.70], [35.68, 139.70], [35.68, 139.69]]),
        "latitude 139.69 at position 0 of ring 0 is out of range [-90, 90]: are longitude and latitude swapped?",
        id="swapped-lat-lon",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, 48.85], [2.36, 148.85], [2.35, 48.85]]),
        "latitude 148.85 at position 2 of ring 0 is out of range [-90, 90]: are longitude and latitude swapped?",
        id="latitude-out-of-range",
    ),
    pytest.param(
        polygon([[200.0, 10.0], [201.0, 10.0], [201.0, 11.0], [200.0, 10.0]]),
        "longitude 200.0 at position 0 of ring 0 is out of range [-180, 180]",
        id="longitude-out-of-range",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.351, 48.851], [2.351, 48.85], [2.35, 48.851], [2.35, 48.85]]),
        "self-intersection at (2.3505, 48.8505)",
        id="bow-tie",
    ),
    pytest.param(
        polygon(square(side=0.01), square(lon=2.37, lat=48.87)),
        "hole lies outside shell at (2.37, 48.87)",
        id="hole-outside-shell",
    ),
    pytest.param(
        {"type": "MultiPolygon", "coordinates": [[square()], [square(lon=LON + DEG / 2, lat=LAT + DEG / 2)]]},
        "self-intersection at",
        id="overlapping-parts",
    ),
    pytest.param(
        polygon(regular_ring(2412)), "polygon has 2412 vertices; the maximum is 2000", id="too-many-vertices"
    ),
    pytest.param(
        {"type": "MultiPolygon", "coordinates": [[regular_ring(1500)], [regular_ring(600, 0.001)]]},
        "multipolygon has 2100 vertices; the maximum is 2000",
        id="too-many-vertices-in-all",
    ),
    pytest.param(polygon(), "empty polygon", id="empty-polygon"),
    pytest.param({"type": "MultiPolygon", "coordinates": []}, "empty multipolygon", id="empty-multipolygon"),
    pytest.param({"type": "MultiPolygon", "coordinates": [[square()], []]}, "polygon 1 is empty", id="empty-part"),
    pytest.param(polygon([]), "ring 0 has 0 positions; a closed ring needs at least 4", id="empty-ring"),
    pytest.param(
        polygon(square(side=0.2)),
        re.compile(r"area 3\d\d\.\d km² exceeds the maximum of 100 km²"),
        id="huge-area",
    ),
    pytest.param(
        {"type": "Point", "coordinates": [2.35, 48.85]},
        'type must be "Polygon" or "MultiPolygon", got string \'Point\'',
        id="point",
    ),
    pytest.param({"coordinates": [square()]}, 'type must be "Polygon" or "MultiPolygon", got null', id="no-type"),
    pytest.param([square()], "geometry must be a GeoJSON object, got array", id="not-an-object"),
    pytest.param({"type": "Polygon"}, "coordinates are missing", id="no-coordinates"),
    pytest.param(
        {"type": "Polygon", "coordinates": "2.35,48.85"},
        "coordinates must be an array of linear rings, got string '2.35,48.85'",
        id="string-coordinates",
    ),
    pytest.param(
        polygon([1, 2, 3, 4]),
        "position 0 of ring 0 must be an array of 2 or 3 numbers, got number 1",
        id="flat-ring",
    ),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[2.35, 48.85]] * 4, 7]},
        "ring 1 must be an array of positions, got number 7",
        id="ring-not-array",
    ),
    pytest.param(
        polygon([[2.35, 48.85], ["2.36", "48.85"], [2.36, 48.86], [2.35, 48.85]]),
        "longitude at position 1 of ring 0 must be a number, got string '2.36'",
        id="strings",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, float("nan")], [2.36, 48.86], [2.35, 48.85]]),
        "latitude at position 1 of ring 0 must be a finite number, got nan",
        id="nan",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [float("inf"), 48.85], [2.36, 48.86], [2.35, 48.85]]),
        "longitude at position 1 of ring 0 must be a finite number, got inf",
        id="infinity",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, 48.85, True], [2.36, 48.86], [2.35, 48.85]]),
        "altitude at position 1 of ring 0 must be a number, got boolean True",
        id="boolean",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, None], [2.36, 48.86], [2.35, 48.85]]),
        "latitude at position 1 of ring 0 must be a number, got null",
        id="null",
    ),
    pytest.param(
        polygon([[2.35, 48.85], [2.36, 48.85, 0, 0], [2.36, 48.86], [2.35, 48.85]]),
        "position 1 of ring 0 has 4 numbers; expected [longitude, latitude] or [longitude, latitude, altitude]",
        id="four-numbers",
    ),
    pytest.param(
        polygon([[0, 0], [1e-200, 0], [1e-200, 1e-200], [0, 1e-200], [0, 0]]),
        "polygon has zero area",
        id="zero-area",
    ),
]


@pytest.mark.parametrize(("obj", "message"), REFUSALS)
def test_refusals_say_what_is_wrong_and_where(obj, message):
    with pytest.raises(InvalidGeometry) as refused:
        parse_geojson_polygon(obj)
    if isinstance(message, re.Pattern):
        assert refused.match(message)
    else:
        assert str(refused.value).startswith(message)


def test_limits_can_be_set_per_call():
    with pytest.raises(InvalidGeometry, match="polygon has 4 vertices; the maximum is 3"):
        parse_geojson_polygon(polygon(square()), max_vertices=3)
    with pytest.raises(InvalidGeometry, match=r"area 0\.0 km² exceeds the maximum of 0\.001 km²"):
        parse_geojson_polygon(polygon(square(side=0.0005)), max_area_m2=1000)


def test_polygon_with_a_hole_is_accepted_and_oriented_per_rfc_7946():
    hole = square(LON + 0.002, LAT + 0.002, 0.002)
    shape = parse_geojson_polygon(polygon(square(side=0.01, clockwise=True), hole))
    assert isinstance(shape, shapely.Polygon)
    assert shape.exterior.is_ccw
    assert not shape.interiors[0].is_ccw
    assert shape.area == pytest.approx(0.01**2 - 0.002**2)


def test_multipolygon_with_a_hole_is_accepted_and_every_part_oriented():
    parts = [
        [square(side=0.01), square(LON + 0.002, LAT + 0.002, 0.002, clockwise=True)],
        [square(LON + 0.02, clockwise=True)],
    ]
    shape = parse_geojson_polygon({"type": "MultiPolygon", "coordinates": parts})
    assert isinstance(shape, shapely.MultiPolygon)
    assert [part.exterior.is_ccw for part in shape.geoms] == [True, True]
    assert not shape.geoms[0].interiors[0].is_ccw


def test_counter_clockwise_input_is_kept_as_it_is():
    ring = square()
    shape = parse_geojson_polygon(polygon(ring))
    assert shapely.get_coordinates(shape).tolist() == ring


def test_altitude_is_accepted_and_dropped():
    shape = parse_geojson_polygon(polygon([[*p, 35.0] for p in square()]))
    assert not shape.has_z
    assert shapely.get_coordinates(shape).tolist() == square()


def test_area_is_the_spherical_area():
    # A longitude/latitude rectangle covers R²·Δλ·(sin φ₂ − sin φ₁); its east-west edges are parallels, not
    # great circles, which at this size changes the area by under a millionth.
    side = 0.05
    shape = parse_geojson_polygon(polygon(square(side=side)))
    band = math.sin(math.radians(LAT + side)) - math.sin(math.radians(LAT))
    exact = EARTH_RADIUS_M**2 * math.radians(side) * band
    assert area_m2(shape) == pytest.approx(exact, rel=1e-6)
    octant = shapely.Polygon([(0, 0), (90, 0), (0, 90)])
    assert area_m2(octant) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M**2)


def test_area_subtracts_holes_and_adds_parts():
    outer, hole, other = square(side=0.01), square(LON + 0.002, LAT + 0.002, 0.002), square(LON + 0.02)
    with_hole = parse_geojson_polygon(polygon(outer, hole))
    both = parse_geojson_polygon({"type": "MultiPolygon", "coordinates": [[outer, hole], [other]]})
    whole, cut, extra = (area_m2(parse_geojson_polygon(polygon(r))) for r in (outer, hole, other))
    assert area_m2(with_hole) == pytest.approx(whole - cut)
    assert area_m2(both) == pytest.approx(whole - cut + extra)


@pytest.mark.parametrize("radius", [10, 10.0, 500, 10_000])
def test_circle_radius_within_bounds_is_accepted(radius):
    made = circle(LAT, LON, radius)
    assert made == Circle(LAT, LON, float(radius))
    assert isinstance(made.radius_m, float)


@pytest.mark.parametrize(
    ("lat", "lon", "radius", "message"),
    [
        (LAT, LON, 9.99, r"radius 9.99 m is out of range \[10, 10000\]"),
        (LAT, LON, 10_000.5, r"radius 10000.5 m is out of range \[10, 10000\]"),
        (LAT, LON, -50, "radius -50 m is out of range"),
        (LAT, LON, float("nan"), "radius must be a finite number, got nan"),
        (LAT, LON, "50", "radius must be a number, got string '50'"),
        (LAT, LON, True, "radius must be a number, got boolean True"),
        (91.0, LON, 50, r"latitude 91.0 is out of range \[-90, 90\]"),
        (139.69, 35.68, 50, "are longitude and latitude swapped?"),
        (LAT, -180.5, 50, r"longitude -180.5 is out of range \[-180, 180\]"),
        (None, LON, 50, "latitude must be a number, got null"),
    ],
)
def test_circle_refusals(lat, lon, radius, message):
    with pytest.raises(InvalidGeometry, match=message):
        circle(lat, lon, radius)


@pytest.mark.parametrize("lat", [0.0, 48.85, 60.0, -75.0])
@pytest.mark.parametrize("radius", [10.0, 50.0, 10_000.0])
def test_circle_polygon_vertices_are_at_the_radius(lat, radius):
    shape = Circle(lat, LON, radius).to_polygon(segments=64)
    coords = shapely.get_coordinates(shape)
    assert len(coords) == 65
    assert shape.exterior.is_ccw
    assert shape.is_valid
    reach = distances_m(lat, LON, coords[:, 1], coords[:, 0])
    assert np.max(np.abs(reach - radius)) < 1e-6


@pytest.mark.parametrize("lat", [0.0, 48.85, 70.0, -80.0])
def test_circle_bounds_hold_the_circle_tightly(lat):
    disc = Circle(lat, 10.0, 10_000.0)
    west, south, east, north = disc.bounds()
    coords = shapely.get_coordinates(disc.to_polygon(segments=3600))
    # Every point of the circle inside (up to rounding: 1e-9° is 0.1 mm), the extremes within a metre of the sides.
    assert west - 1e-9 <= coords[:, 0].min() and coords[:, 0].max() <= east + 1e-9
    assert south - 1e-9 <= coords[:, 1].min() and coords[:, 1].max() <= north + 1e-9
    metre = 1 / 111_195 / math.cos(math.radians(lat))
    assert coords[:, 0].max() == pytest.approx(east, abs=metre)
    assert coords[:, 0].min() == pytest.approx(west, abs=metre)
    assert north - lat == pytest.approx(math.degrees(10_000 / EARTH_RADIUS_M))


def test_circle_bounds_widen_to_all_longitudes_around_a_pole():
    assert Circle(89.95, 10.0, 10_000.0).bounds() == (-180.0, pytest.approx(89.86, abs=0.01), 180.0, 90.0)


def test_to_geojson_round_trips():
    hole = square(LON + 0.002, LAT + 0.002, 0.002, clockwise=True)
    obj = {"type": "MultiPolygon", "coordinates": [[square(side=0.01), hole]]}
    shape = parse_geojson_polygon(obj)
    written = to_geojson(shape)
    assert json.loads(json.dumps(written)) == written
    assert isinstance(written["coordinates"][0][0][0], list)
    assert written == obj
    assert parse_geojson_polygon(written).equals_exact(shape, tolerance=0)
    single = to_geojson(parse_geojson_polygon(polygon(square())))
    assert single == polygon(square())
    assert to_geojson(shapely.Point(LON, LAT)) == {"type": "Point", "coordinates": [LON, LAT]}
    with pytest.raises(TypeError, match="to_polygon"):
        to_geojson(Circle(LAT, LON, 50))


def test_distance_is_haversine_on_the_mean_sphere():
    degree = EARTH_RADIUS_M * math.pi / 180
    assert distance_m(0, 0, 1, 0) == pytest.approx(degree, rel=1e-12)
    assert distance_m(0, 0, 0, 1) == pytest.approx(degree, rel=1e-12)
    assert distance_m(60, 0, 60, 1) == pytest.approx(
        2 * EARTH_RADIUS_M * math.asin(math.cos(math.radians(60)) * math.sin(math.radians(0.5)))
    )
    assert distance_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)
    lats = np.array([48.85, 60.0, -33.9])
    lons = np.array([2.35, 10.0, 151.2])
    vectorised = distances_m(LAT, LON, lats, lons)
    one_by_one = [distance_m(LAT, LON, a, o) for a, o in zip(lats, lons)]
    assert vectorised.tolist() == pytest.approx(one_by_one, rel=1e-12)


@given(st.floats(-89.9, 89.9), st.floats(-180, 180),
       st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-180, 180)), min_size=1, max_size=20))
def test_distances_from_precomputed_radians_are_the_haversine(lat, lon, points):
    lats, lons = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    phi = np.radians(lats)
    got = distances_from_m(lat, lon, phi, np.radians(lons), np.cos(phi))
    assert got.tolist() == pytest.approx(distances_m(lat, lon, lats, lons).tolist(), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("lat", [48.8, 70.0])
def test_bounding_circle_reaches_every_point_of_the_shape(lat):
    # Concave, with 7 km edges: straight longitude/latitude edges bow out of great circles by metres at 70° N.
    ring = [[2.3, lat], [2.4, lat], [2.4, lat + 0.05], [2.35, lat + 0.02], [2.3, lat + 0.05], [2.3, lat]]
    shape = parse_geojson_polygon(polygon(ring))
    bound = bounding_circle(shape)
    coords = shapely.get_coordinates(shapely.segmentize(shape, 1e-5))
    reach = distances_m(bound.lat, bound.lon, coords[:, 1], coords[:, 0])
    assert reach.max() <= bound.radius_m
    assert reach.max() == pytest.approx(bound.radius_m, abs=1e-6)


def test_bounding_circle_is_at_least_ten_metres_and_a_circle_bounds_itself():
    tiny = parse_geojson_polygon(polygon(square(side=1e-6)))
    assert bounding_circle(tiny).radius_m == 10.0
    disc = Circle(LAT, LON, 42.0)
    assert bounding_circle(disc) is disc


@pytest.mark.parametrize(("shape", "crosses"), [
    (shapely.Polygon([(179.99, 0), (-179.99, 0), (-179.99, 0.01), (179.99, 0.01)]), True),  # the long way round
    (shapely.Polygon([(179.99, 0), (180, 0), (180, 0.01), (179.99, 0.01)]), True),  # touching it
    (shapely.MultiPolygon([shapely.Polygon([(179.99, 0), (180, 0), (180, 0.01)]),
                           shapely.Polygon([(-180, 0), (-179.99, 0), (-180, 0.01)])]), True),  # cut at it
    (shapely.Polygon([(-179.99, 0), (-179.98, 0), (-179.98, 0.01)]), False),
    (shapely.Polygon([(LON, LAT), (LON + DEG, LAT), (LON + DEG, LAT + DEG)]), False),
    (Circle(-16.8, 179.9995, 100), True),
    (Circle(-16.8, -179.9995, 100), True),
    (Circle(0, 179.999, 100), False),  # 100 m is 0.0009° of longitude on the equator
    (Circle(89.9995, 0, 100), True),  # holds the pole: every longitude
    (Circle(89.99, 0, 100), False),
    (Circle(LAT, LON, 10_000), False),
], ids=["polygon-across", "polygon-touching", "multipolygon-cut", "polygon-beside", "paris", "circle-east",
        "circle-west", "circle-beside", "circle-round-the-pole", "circle-near-the-pole", "circle-paris"])
def test_shapes_reaching_the_antimeridian_or_a_pole_are_told_apart(shape, crosses):
    assert crosses_antimeridian(shape) is crosses


def test_antimeridian_checks_over_many_shapes_agree_with_one_at_a_time():
    polygons = [shapely.Polygon([(lon, 0), (lon + 0.01, 0), (lon + 0.01, 0.01)]) for lon in (179.985, 179.99, 0)]
    assert polygons_cross_antimeridian(polygons).tolist() == [False, True, False]
    assert polygons_cross_antimeridian([]).tolist() == []
    lat, lon, radius = np.array([0.0, 0.0, 89.999]), np.array([179.9, 179.9999, 0.0]), np.array([50.0, 50.0, 50.0])
    assert circles_cross_antimeridian(lat, lon, radius).tolist() == [False, True, False]


@given(lat=st.floats(-80, 80), lon=st.floats(-179, 179), north=st.floats(-0.02, 0.02), east=st.floats(-0.02, 0.02))
def test_the_farthest_point_of_a_polygon_is_its_farthest_vertex(lat, lon, north, east):
    ring = [(lon + 0.005 * math.cos(a), lat + 0.005 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    hole = [(lon + 0.001 * math.cos(a), lat + 0.001 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 5)[:-1]]
    shape = shapely.Polygon(ring, [hole])
    from_lat, from_lon = lat + north, lon + east
    farthest = polygons_farthest_m([shape], [from_lat], [from_lon])
    assert farthest[0] == pytest.approx(max(distance_m(from_lat, from_lon, y, x) for x, y in ring), rel=1e-9)
    # No point of the shape's boundary, densely sampled, is farther (but for the edges' bow, millimetres here).
    dense = shapely.get_coordinates(shapely.segmentize(shape.exterior, 0.0001))
    assert distances_m(from_lat, from_lon, dense[:, 1], dense[:, 0]).max() <= farthest[0] + 0.01


def test_the_farthest_point_of_many_shapes_each_from_its_own_point():
    parts = shapely.MultiPolygon([shapely.Polygon(square()), shapely.Polygon(square(lon=LON + 0.01))])
    single = shapely.Polygon(square())
    farthest = polygons_farthest_m([parts, single], [LAT, LAT + 0.01], [LON, LON])
    assert farthest[0] == pytest.approx(distance_m(LAT, LON, LAT + DEG, LON + 0.01 + DEG))
    assert farthest[1] == pytest.approx(distance_m(LAT + 0.01, LON, LAT, LON + DEG))
    circles = circles_farthest_m([LAT, LAT], [LON, LON], [50.0, 200.0], [LAT, LAT + 0.01], [LON, LON])
    assert circles.tolist() == pytest.approx([50.0, distance_m(LAT + 0.01, LON, LAT, LON) + 200.0])
