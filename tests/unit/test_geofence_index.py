"""The geofence index: signed distances right to the centimetre, batches as single look-ups, nearest in metres."""

from __future__ import annotations

import gc
import math
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.geo.geometry import EARTH_RADIUS_M, METRES_PER_DEGREE, Circle, bounding_circle, distances_m
from wallet.geo.index import Fence, GeofenceIndex, Hit

TOLERANCE_M = 0.1


def fence_id(n: int) -> str:
    return str(uuid.UUID(int=n))


def moved(lat: float, lon: float, direction: str, metres: float) -> tuple[float, float]:
    """The point ``metres`` away along the meridian or the parallel: exact great-circle distances."""
    if direction in ("north", "south"):
        sign = 1 if direction == "north" else -1
        return lat + sign * math.degrees(metres / EARTH_RADIUS_M), lon
    # Two points on one parallel are d apart when sin(d/2R) = cos φ · sin(Δλ/2).
    sign = 1 if direction == "east" else -1
    dlon = 2 * math.asin(math.sin(metres / (2 * EARTH_RADIUS_M)) / math.cos(math.radians(lat)))
    return lat, lon + sign * math.degrees(dlon)


def star(lat: float, lon: float, angles: np.ndarray, reach_deg: np.ndarray) -> shapely.Polygon:
    """A simple polygon whatever the reaches, its vertices at increasing angles around the centre."""
    x = lon + reach_deg * np.cos(angles) / math.cos(math.radians(lat))
    return shapely.Polygon(np.column_stack([x, lat + reach_deg * np.sin(angles)]))


@pytest.mark.parametrize("lat", [0.0, 45.0, 60.0, -33.9])
@pytest.mark.parametrize("direction", ["north", "east", "south", "west"])
@pytest.mark.parametrize("offset", [-1.0, 1.0])
def test_one_metre_inside_or_outside_a_circle(lat, direction, offset):
    index = GeofenceIndex([Fence(fence_id(1), Circle(lat, 2.35, 50.0))])
    hits = index.locate(*moved(lat, 2.35, direction, 50.0 + offset))
    assert [hit.fence_id for hit in hits] == [fence_id(1)]
    assert hits[0].distance_m == pytest.approx(offset, abs=TOLERANCE_M)


SQUARE_LAT, SQUARE_LON = 48.85, 2.35
HALF_SIDE_M = 50.0


def square_fence() -> tuple[Fence, dict[str, tuple[float, float]]]:
    """A ~100 m square and the midpoints of its edges."""
    dlat = HALF_SIDE_M / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(SQUARE_LAT))
    west, east = SQUARE_LON - dlon, SQUARE_LON + dlon
    south, north = SQUARE_LAT - dlat, SQUARE_LAT + dlat
    shape = shapely.Polygon([(west, south), (east, south), (east, north), (west, north)])
    edges = {
        "north": (north, SQUARE_LON),
        "south": (south, SQUARE_LON),
        "east": (SQUARE_LAT, east),
        "west": (SQUARE_LAT, west),
    }
    return Fence(fence_id(2), shape), edges


@pytest.mark.parametrize("edge", ["north", "east", "south", "west"])
@pytest.mark.parametrize("offset", [-1.0, 1.0])
def test_one_metre_inside_or_outside_a_polygon_edge(edge, offset):
    fence, edges = square_fence()
    index = GeofenceIndex([fence])
    hits = index.locate(*moved(*edges[edge], edge, offset))
    assert [hit.fence_id for hit in hits] == [fence.id]
    assert hits[0].distance_m == pytest.approx(offset, abs=TOLERANCE_M)


def test_polygon_distance_matches_a_brute_force_haversine_within_a_centimetre():
    rng = np.random.default_rng(11)
    for _ in range(8):
        angles = np.sort(rng.uniform(0, 2 * math.pi, 7))
        reach = rng.uniform(20, 150, 7) / METRES_PER_DEGREE
        shape = star(SQUARE_LAT, SQUARE_LON, angles, reach)
        index = GeofenceIndex([Fence(fence_id(3), shape)], margin_m=300)
        boundary = shapely.get_coordinates(shapely.segmentize(shape.exterior, 1e-7))  # 1 cm steps
        for lat, lon in zip(
            SQUARE_LAT + rng.uniform(-2e-3, 2e-3, 15), SQUARE_LON + rng.uniform(-3e-3, 3e-3, 15)
        ):
            expected = distances_m(lat, lon, boundary[:, 1], boundary[:, 0]).min()
            if shape.contains(shapely.Point(lon, lat)):
                expected = -expected
            hits = index.locate(lat, lon)
            if expected <= 300:
                assert hits[0].distance_m == pytest.approx(expected, abs=0.01)
            else:
                assert hits == []


def test_a_hole_is_outside():
    outer = shapely.Polygon([(2.34, 48.84), (2.36, 48.84), (2.36, 48.86), (2.34, 48.86)])
    hole = [(2.349, 48.849), (2.349, 48.851), (2.351, 48.851), (2.351, 48.849)]
    fence = Fence(fence_id(4), shapely.MultiPolygon([shapely.Polygon(outer.exterior.coords, [hole])]))
    index = GeofenceIndex([fence])

    def east_west(lat: float, degrees: float) -> float:
        return degrees * METRES_PER_DEGREE * math.cos(math.radians(lat))

    (hit,) = index.locate(48.85, 2.35)  # the middle of the hole, 73 m from its east and west sides
    assert hit.distance_m == pytest.approx(east_west(48.85, 0.001), abs=TOLERANCE_M)
    (hit,) = index.locate(48.845, 2.345)  # 0.005° inside the west side, farther from the others
    assert hit.distance_m == pytest.approx(-east_west(48.845, 0.005), abs=TOLERANCE_M)


def test_reach_is_accuracy_plus_margin():
    lat, lon = moved(48.85, 2.35, "north", 200.0)  # 150 m outside a 50 m circle
    fences = [Fence(fence_id(1), Circle(48.85, 2.35, 50.0))]
    assert GeofenceIndex(fences).locate(lat, lon) == []
    assert GeofenceIndex(fences).locate(lat, lon, accuracy_m=49) == []
    assert [h.fence_id for h in GeofenceIndex(fences).locate(lat, lon, accuracy_m=51)] == [fence_id(1)]
    assert [h.fence_id for h in GeofenceIndex(fences, margin_m=151).locate(lat, lon)] == [fence_id(1)]
    inside = moved(48.85, 2.35, "north", 10.0)
    assert GeofenceIndex(fences, margin_m=0).locate(*inside)[0].distance_m == pytest.approx(-40.0, abs=TOLERANCE_M)


def test_hits_are_ordered_most_deeply_inside_first():
    fences = [
        Fence(fence_id(1), Circle(48.85, 2.35, 100.0)),
        Fence(fence_id(2), Circle(48.85, 2.35, 300.0)),
        Fence(fence_id(3), Circle(48.851, 2.35, 50.0)),
    ]
    hits = GeofenceIndex(fences).locate(48.85, 2.35)
    assert [h.fence_id for h in hits] == [fence_id(2), fence_id(1), fence_id(3)]
    assert [h.distance_m for h in hits] == pytest.approx([-300.0, -100.0, 0.001 * METRES_PER_DEGREE - 50.0])
    assert isinstance(hits[0], Hit)


def test_a_far_point_finds_nothing():
    index = GeofenceIndex([Fence(fence_id(1), Circle(48.85, 2.35, 50.0)), square_fence()[0]])
    assert index.locate(43.3, 5.37) == []
    assert index.locate(43.3, 5.37, accuracy_m=5000) == []
    assert index.locate_many([43.3, 0.0], [5.37, 0.0], [10.0, 0.0]) == [[], []]


def random_fences(rng: np.random.Generator, count: int, spread: float = 0.02) -> list[Fence]:
    fences = []
    for n in range(count):
        lat, lon = 48.85 + rng.uniform(-spread, spread), 2.35 + rng.uniform(-spread, spread)
        if n % 2:
            fences.append(Fence(fence_id(n), Circle(lat, lon, float(rng.uniform(10, 300)))))
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, 6))
            reach = rng.uniform(10, 120, 6) / METRES_PER_DEGREE
            fences.append(Fence(fence_id(n), star(lat, lon, angles, reach)))
    return fences


def test_locate_many_agrees_with_locate():
    rng = np.random.default_rng(5)
    fences = random_fences(rng, 300)
    index = GeofenceIndex(fences, version=7)
    count = 1500
    lats = 48.85 + rng.uniform(-0.025, 0.025, count)
    lons = 2.35 + rng.uniform(-0.025, 0.025, count)
    # Fixes of every quality, including the coarse ones that take the STRtree path, and exact zeros.
    accuracies = np.where(rng.random(count) < 0.8, rng.uniform(0, 100, count), rng.uniform(100, 2000, count))
    accuracies[:100] = 0.0
    batch = index.locate_many(lats, lons, accuracies)
    assert len(batch) == count
    assert sum(map(len, batch)) > count  # dense enough that many positions have several hits
    for hits, lat, lon, accuracy in zip(batch, lats, lons, accuracies):
        single = index.locate(lat, lon, accuracy)
        assert [h.fence_id for h in hits] == [h.fence_id for h in single]
        assert [h.distance_m for h in hits] == pytest.approx([h.distance_m for h in single], abs=1e-9)


def test_no_fence_within_reach_is_missed():
    rng = np.random.default_rng(6)
    fences = random_fences(rng, 120)
    count = 1000
    lats = 48.85 + rng.uniform(-0.025, 0.025, count)
    lons = 2.35 + rng.uniform(-0.025, 0.025, count)
    accuracies = np.where(rng.random(count) < 0.7, rng.uniform(0, 100, count), rng.uniform(100, 1000, count))
    # Each fence alone, with a margin that takes in the whole map: its distance to every position.
    every = np.array(
        [
            [hits[0].distance_m for hits in GeofenceIndex([f], margin_m=1e7).locate_many(lats, lons, accuracies)]
            for f in fences
        ]
    )
    batch = GeofenceIndex(fences).locate_many(lats, lons, accuracies)
    for p, hits in enumerate(batch):
        within = np.flatnonzero(every[:, p] <= accuracies[p] + 100.0)
        expected = sorted((every[f, p], fences[f].id) for f in within)
        assert [h.fence_id for h in hits] == [fence for _, fence in expected]


def test_locate_pairs_finds_what_locate_many_finds_as_arrays():
    rng = np.random.default_rng(6)
    index = GeofenceIndex(random_fences(rng, 300))
    count = 800
    lats = 48.85 + rng.uniform(-0.025, 0.025, count)
    lons = 2.35 + rng.uniform(-0.025, 0.025, count)
    accuracies = np.where(rng.random(count) < 0.8, rng.uniform(0, 100, count), rng.uniform(100, 2000, count))
    expected = sorted((k, hit.fence_id, hit.distance_m) for k, hits in
                      enumerate(index.locate_many(lats, lons, accuracies)) for hit in hits)
    pairs = index.locate_pairs(lats, lons, accuracies)
    got = sorted(zip(pairs.points.tolist(), pairs.fence_ids.tolist(), pairs.distances.tolist()))
    assert len(got) == len(expected) > count
    assert [(k, f) for k, f, _ in got] == [(k, f) for k, f, _ in expected]
    assert [d for _, _, d in got] == pytest.approx([d for _, _, d in expected], abs=1e-9)
    nothing = index.locate_pairs([10.0], [10.0], [5.0])
    assert len(nothing.points) == len(nothing.fence_ids) == len(nothing.distances) == 0
    assert len(GeofenceIndex([]).locate_pairs([48.85], [2.35], [5.0]).points) == 0


def test_locate_many_returns_separate_lists_and_leaves_the_collector_as_it_was():
    index = GeofenceIndex([Fence(fence_id(1), Circle(48.85, 2.35, 50.0))])
    batch = index.locate_many([0.0, 0.0, 48.85], [0.0, 0.0, 2.35], [0.0, 0.0, 0.0])
    batch[0].append("x")
    assert batch[1] == [] and len(batch[2]) == 1
    assert gc.isenabled()
    gc.disable()
    try:
        index.locate_many([48.85], [2.35], [0.0])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_threads_share_one_index():
    rng = np.random.default_rng(8)
    index = GeofenceIndex(random_fences(rng, 200))
    lats = 48.85 + rng.uniform(-0.025, 0.025, 5_000)
    lons = 2.35 + rng.uniform(-0.025, 0.025, 5_000)
    accuracies = rng.uniform(0, 200, 5_000)
    expected = index.locate_many(lats, lons, accuracies)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: index.locate_many(lats, lons, accuracies), range(4)))
    assert all(result == expected for result in results)
    assert gc.isenabled()


def test_locate_many_accepts_an_empty_batch_and_an_empty_index():
    index = GeofenceIndex([Fence(fence_id(1), Circle(48.85, 2.35, 50.0))])
    assert index.locate_many(np.array([]), np.array([]), np.array([])) == []
    empty = GeofenceIndex([])
    assert len(empty) == 0
    assert empty.locate(48.85, 2.35) == []
    assert empty.locate_many([48.85, 0.0], [2.35, 0.0], [0.0, 0.0]) == [[], []]
    assert empty.nearest(48.85, 2.35) == []


ANTIMERIDIAN_INDEX = GeofenceIndex(
    [
        Fence(fence_id(1), Circle(0.0, 179.999, 200.0)),
        Fence(fence_id(2), shapely.box(-180, -0.001, -179.999, 0.001)),
        Fence(fence_id(3), Circle(89.999, 0.0, 500.0)),
    ]
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    accuracy=st.floats(0, 50_000),
)
def test_any_valid_position_is_answered_even_at_the_poles_and_the_antimeridian(lat, lon, accuracy):
    index = ANTIMERIDIAN_INDEX
    single = index.locate(lat, lon, accuracy)
    (batch,) = index.locate_many([lat], [lon], [accuracy])
    assert [h.fence_id for h in batch] == [h.fence_id for h in single]
    assert [h.distance_m for h in batch] == pytest.approx([h.distance_m for h in single], abs=1e-9)
    assert len(index.nearest(lat, lon, limit=2)) == 2


def test_points_at_the_edges_of_the_map_do_not_crash():
    index = ANTIMERIDIAN_INDEX
    assert [h.fence_id for h in index.locate(0.0, 180.0)] == [fence_id(1)]
    assert [h.fence_id for h in index.locate(0.0, -180.0)] == [fence_id(2)]
    assert [h.fence_id for h in index.locate(90.0, 123.0)] == [fence_id(3)]
    assert index.locate_many([0.0, 0.0, 90.0, -90.0], [180.0, -180.0, 0.0, 0.0], [10.0, 5000.0, 0.0, 0.0])[3] == []


@pytest.mark.parametrize(
    ("lat", "lon", "accuracy"),
    [(90.5, 0.0, 0.0), (0.0, 180.5, 0.0), (float("nan"), 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 0.0, float("inf"))],
)
def test_invalid_positions_are_refused(lat, lon, accuracy):
    index = GeofenceIndex([Fence(fence_id(1), Circle(48.85, 2.35, 50.0))])
    with pytest.raises(ValueError, match="position is invalid"):
        index.locate(lat, lon, accuracy)
    with pytest.raises(ValueError, match="position 1 is invalid"):
        index.locate_many([0.0, lat], [0.0, lon], [0.0, accuracy])


def test_index_refuses_duplicate_ids_and_foreign_shapes():
    with pytest.raises(ValueError, match=f"appear more than once: {fence_id(1)}"):
        GeofenceIndex([Fence(fence_id(1), Circle(0, 0, 50)), Fence(fence_id(1), Circle(1, 1, 50))])
    with pytest.raises(TypeError, match="must be a Circle, Polygon or MultiPolygon"):
        GeofenceIndex([Fence(fence_id(1), shapely.Point(0, 0))])  # type: ignore[arg-type]


def test_length_and_version():
    index = GeofenceIndex(random_fences(np.random.default_rng(1), 25), version=42)
    assert len(index) == 25
    assert index.version == 42


def test_nearest_orders_by_metres_not_degrees():
    # At 60° N a degree of longitude is half a degree of latitude.
    fences = [
        Fence(fence_id(1), Circle(60.008, 10.0, 10.0)),  # 0.008° north: 890 m
        Fence(fence_id(2), Circle(60.0, 10.01, 10.0)),  # 0.01° east: 556 m
    ]
    nearest = GeofenceIndex(fences).nearest(60.0, 10.0)
    assert [fence for fence, _, _ in nearest] == [fence_id(2), fence_id(1)]
    assert nearest[0][2] == pytest.approx(556.0 - 10.0, abs=1.0)


def test_nearest_is_limited_and_reports_the_region_circle():
    fences = [Fence(fence_id(k), Circle(*moved(48.85, 2.35, "east", 1000.0 * k), 50.0)) for k in range(1, 31)]
    polygon = shapely.Polygon([(2.349, 48.849), (2.351, 48.849), (2.351, 48.851), (2.349, 48.851)])
    fences.append(Fence(fence_id(99), polygon))
    index = GeofenceIndex(fences)
    nearest = index.nearest(48.85, 2.35)
    assert len(nearest) == 19
    assert [fence for fence, _, _ in nearest] == [fence_id(99)] + [fence_id(k) for k in range(1, 19)]
    assert nearest[0][1] == bounding_circle(polygon)
    assert nearest[0][2] == pytest.approx(-nearest[0][1].radius_m, abs=1.0)
    assert [d for _, _, d in nearest[1:]] == pytest.approx([1000.0 * k - 50.0 for k in range(1, 19)])
    assert nearest[1][1] == fences[0].shape
    assert [f for f, _, _ in index.nearest(48.85, 2.35, limit=3)] == [fence_id(99), fence_id(1), fence_id(2)]
    assert len(index.nearest(48.85, 2.35, limit=100)) == 31
    assert index.nearest(48.85, 2.35, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        index.nearest(48.85, 2.35, limit=-1)


@pytest.mark.parametrize("within_m", [np.inf, 15_000.0, 3_000.0, 200.0])
@pytest.mark.parametrize(("spread", "reach"), [
    (0.5, 1.0),  # fences spread out, positions among them and around
    (0.02, 0.6),  # a dense town and positions up to 60 km away: the search must not stop short on the way
])
def test_nearest_agrees_with_brute_force(spread, reach, within_m):
    rng = np.random.default_rng(9)
    fences = random_fences(rng, 400, spread=spread)
    index = GeofenceIndex(fences)
    regions = [bounding_circle(f.shape) for f in fences]
    for lat, lon in zip(48.85 + rng.uniform(-reach, reach, 40), 2.35 + rng.uniform(-reach, reach, 40)):
        expected = sorted(
            (float(distances_m(lat, lon, c.lat, c.lon)) - c.radius_m, f.id) for f, c in zip(fences, regions)
        )
        expected = [(d, f) for d, f in expected if d <= within_m][:19]
        got = index.nearest(lat, lon, within_m=within_m)
        assert [f for f, _, _ in got] == [f for _, f in expected]
        assert [d for _, _, d in got] == pytest.approx([d for d, _ in expected], abs=1e-6)


def test_nearest_within_a_distance_gives_only_the_circles_reaching_into_it():
    fences = [Fence(fence_id(k), Circle(*moved(48.85, 2.35, "east", 1000.0 * k), 50.0)) for k in range(1, 31)]
    index = GeofenceIndex(fences)
    assert [f for f, _, _ in index.nearest(48.85, 2.35, within_m=3_960.0)] == [fence_id(k) for k in (1, 2, 3, 4)]
    assert len(index.nearest(48.85, 2.35, within_m=30_000.0)) == 19
    assert index.nearest(48.85, 2.35, within_m=900.0) == []
    assert index.nearest(48.85, 2.35 - 1.0, within_m=10_000.0) == []  # 73 km west of the first
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="within_m"):
            index.nearest(48.85, 2.35, within_m=bad)
