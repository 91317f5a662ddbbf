"""In-process geofence index: which fences a position is in or near, in signed metres, one or a million at a time.

Built once per set of geofences and shared read-only by every request of the process; rebuild it when
the fences change.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Polygon

from wallet.geo.geometry import (
    METRES_PER_DEGREE,
    Circle,
    bounding_circles,
    cap_bounds,
    distances_from_m,
    distances_m,
    expand_bounds,
)

DEFAULT_MARGIN_M = 100.0
REGION_LIMIT = 19  # iOS monitors 20 regions per app; the last one is the re-sync region

# Batch positions at most this inaccurate find their candidates in one cell of a grid whose cells list
# every fence within this distance; worse fixes (cell towers, bad indoor Wi-Fi) go through the STRtree.
# Larger values admit more fixes to the fast path but put more fences in each cell.
_GRID_SLACK_M = 100.0
_BLOCK = 1 << 18  # positions per block of a batch
# (pair, edge) rows per block of polygon distance work: bounds a batch's memory, not its result.
_EDGE_BLOCK = 1 << 20
_NEAREST_FIRST_RADIUS_M = 1_000.0
_NEAREST_SLACK_M = 0.01
# A batch making fewer hits than this cannot set off a collection worth pausing the collector for.
_GC_PAUSE_MIN_HITS = 10_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class Pairs(NamedTuple):
    """Hits as arrays: the pair k is position ``points[k]`` of the batch near fence ``fence_ids[k]``
    (its id, a str), ``distances[k]`` metres from its boundary (signed as ``Hit.distance_m``)."""

    points: IntArray
    fence_ids: npt.NDArray[np.object_]
    distances: FloatArray


class Hit(NamedTuple):
    """A fence the position is in or near.

    ``distance_m`` is signed: negative inside the fence by that many metres, positive outside.
    """

    fence_id: str
    distance_m: float


@dataclass(frozen=True, slots=True)
class Fence:
    """A geofence as the index sees it: its id (a UUID string) and its shape."""

    id: str
    shape: Circle | Polygon | MultiPolygon


class GeofenceIndex:
    """Geofences under an STRtree of their bounding boxes, plus a hashed grid for batches.

    A position hits a fence whose boundary is within its accuracy plus ``margin_m``, or that contains it.
    Distances are measured on the sphere of ``geometry.EARTH_RADIUS_M``: for circles, the great-circle
    distance to the centre minus the radius; for polygons, the distance to the boundary in an
    equirectangular frame centred on the position (x = Δλ·cos φ, y = Δφ, in metres). RFC 7946 edges,
    straight in longitude/latitude, stay straight in that frame and only its east-west scale drifts, by
    tan φ·Δφ, so the error is below d²·tan(φ)/2R at distance d: 4 mm at 200 m, 0.09 m at 1 km, 0.8 m at
    3 km at 48° N. Fences must not reach the antimeridian (longitude ±180°) or a pole: the geofence
    services refuse such shapes and leave any stored one out of the index they build.
    """

    def __init__(self, fences: Iterable[Fence], version: int = 0, *, margin_m: float = DEFAULT_MARGIN_M) -> None:
        if not 0 <= margin_m < np.inf:
            raise ValueError(f"margin_m must be a finite distance, got {margin_m}")
        fences = list(fences)
        self.version = version
        self.margin_m = float(margin_m)
        self._ids = [fence.id for fence in fences]
        self._id_array = np.array(self._ids, dtype=object)
        duplicates = [fence_id for fence_id, times in Counter(self._ids).items() if times > 1]
        if duplicates:
            raise ValueError(f"fence ids appear more than once: {', '.join(duplicates[:5])}")
        for fence in fences:
            if not isinstance(fence.shape, Circle | Polygon | MultiPolygon):
                raise TypeError(f"fence {fence.id}: a shape must be a Circle, Polygon or MultiPolygon")
        n = len(fences)
        circles = np.array([isinstance(fence.shape, Circle) for fence in fences], dtype=bool)
        self._is_circle = circles

        # Circles, over all fences (rows of polygons stay unused).
        self._lat = np.zeros(n)
        self._lon = np.zeros(n)
        self._radius = np.zeros(n)
        for i in np.flatnonzero(circles).tolist():
            shape = fences[i].shape
            self._lat[i], self._lon[i], self._radius[i] = shape.lat, shape.lon, shape.radius_m

        # Polygons: prepared shapes for containment, every ring's edges (CSR by fence) for distances.
        self._shapes = np.full(n, None, dtype=object)
        polygon_rows = np.flatnonzero(~circles)
        self._shapes[polygon_rows] = [fences[i].shape for i in polygon_rows.tolist()]
        shapely.prepare(self._shapes[polygon_rows])
        west, south, east, north = shapely.bounds(self._shapes[polygon_rows]).T
        # GEOS builds a prepared polygon's point locator on its first test of a point within the
        # envelope, and not thread-safely (libgeos/geos#825): do it now, before threads share the index.
        shapely.contains_xy(self._shapes[polygon_rows], (west + east) / 2, (south + north) / 2)
        self._edge_start, self._edge_count, self._edges = _edges(self._shapes, polygon_rows, n)

        # Boxes reaching margin_m beyond each fence: the STRtree, the grid and the batch pre-check all use them.
        boxes = np.empty((4, n))
        lat, lon = self._lat[circles], self._lon[circles]
        boxes[:, circles] = expand_bounds(lon, lat, lon, lat, self._radius[circles] + margin_m)
        boxes[:, polygon_rows] = expand_bounds(west, south, east, north, margin_m)
        self._west, self._south, self._east, self._north = boxes
        self._tree = shapely.STRtree(shapely.box(*boxes))
        self._grid = _Grid(boxes) if n else None

        # Regions for the phone's monitoring: circles as they are, polygons by their bounding circle.
        polygon_regions = iter(bounding_circles(list(self._shapes[polygon_rows])))
        self._regions = [
            fence.shape if isinstance(fence.shape, Circle) else next(polygon_regions) for fence in fences
        ]
        self._region_lat = np.array([c.lat for c in self._regions])
        self._region_lon = np.array([c.lon for c in self._regions])
        self._region_radius = np.array([c.radius_m for c in self._regions])
        self._region_phi, self._region_lam = np.radians(self._region_lat), np.radians(self._region_lon)
        self._region_cos_phi = np.cos(self._region_phi)
        region_boxes = expand_bounds(
            self._region_lon, self._region_lat, self._region_lon, self._region_lat, self._region_radius
        )
        self._region_tree = shapely.STRtree(shapely.box(*region_boxes))

    def __len__(self) -> int:
        return len(self._ids)

    def locate(self, lat: float, lon: float, accuracy_m: float = 0) -> list[Hit]:
        """The fences this position is in or near, most deeply inside first (ties by fence order)."""
        _check_position(lat, lon, accuracy_m)
        fences = self._tree.query(shapely.box(*cap_bounds(lat, lon, accuracy_m)))
        if not len(fences):
            return []
        lats, lons = np.full(len(fences), float(lat)), np.full(len(fences), float(lon))
        distances = self._signed_distances(lats, lons, fences)
        reach = accuracy_m + self.margin_m
        return [Hit(self._ids[f], d) for d, f in sorted(zip(distances.tolist(), fences.tolist())) if d <= reach]

    def locate_many(
        self, lats: npt.ArrayLike, lons: npt.ArrayLike, accuracies: npt.ArrayLike
    ) -> list[list[Hit]]:
        """``locate`` for each position of a batch, in order; each list sorted as ``locate`` sorts it."""
        lats, lons, accuracies = _positions(lats, lons, accuracies)
        return self._hits(len(lats), *self._pairs(lats, lons, accuracies))

    def locate_pairs(self, lats: npt.ArrayLike, lons: npt.ArrayLike, accuracies: npt.ArrayLike) -> Pairs:
        """What ``locate_many`` finds, as arrays and without a Python object per hit: for each (position,
        fence) pair in reach, the position's index in the batch, the fence's id and the signed distance,
        in no particular order. For callers that look at a few of the hits only."""
        points, fences, distances = self._pairs(*_positions(lats, lons, accuracies))
        return Pairs(points, self._id_array[fences], distances)

    def _pairs(self, lats: FloatArray, lons: FloatArray,
               accuracies: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """The (position, fence row, signed distance) triples in reach for a batch, grouped by position
        but for the rough fixes."""
        found = [(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0))]
        # Blocks bound the memory of the working arrays, whatever the batch size.
        for start in range(0, len(lats), _BLOCK):
            block = slice(start, start + _BLOCK)
            points, fences, distances = self._pairs_block(lats[block], lons[block], accuracies[block])
            found.append((points + start, fences, distances))
        points, fences, distances = (np.concatenate(column) for column in zip(*found))
        return points, fences, distances

    def _pairs_block(self, lats: FloatArray, lons: FloatArray,
                     accuracies: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """The (position, fence, signed distance) triples in reach, for a block of positions."""
        if self._grid is None:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0)
        rough = accuracies > _GRID_SLACK_M
        cells = self._grid.cells(lats, lons)
        points = np.flatnonzero((cells >= 0) & ~rough)
        owner, fences = self._grid.fences_of(cells[points])
        # A cell lists every fence within _GRID_SLACK_M of it; most are out of this fix's reach.
        west, south, east, north = (
            bound[owner]
            for bound in expand_bounds(lons[points], lats[points], lons[points], lats[points], accuracies[points])
        )
        reach = (
            (east >= self._west[fences])
            & (west <= self._east[fences])
            & (north >= self._south[fences])
            & (south <= self._north[fences])
        )
        points, fences = points[owner[reach]], fences[reach]
        if not len(points) and not rough.any():  # nothing within reach: most batches of a walk
            return points, fences, np.empty(0)
        if rough.any():
            rough_rows = np.flatnonzero(rough)
            # Their boxes meet the fences' boxes (which include the margin) exactly when the STRtree says so.
            lat, lon = lats[rough_rows], lons[rough_rows]
            rough_points, rough_fences = self._tree.query(
                _envelopes(*expand_bounds(lon, lat, lon, lat, accuracies[rough_rows]))
            )
            points = np.concatenate([points, rough_rows[rough_points]])
            fences = np.concatenate([fences, rough_fences])
        distances = self._signed_distances(lats[points], lons[points], fences)
        keep = distances <= accuracies[points] + self.margin_m
        return points[keep], fences[keep], distances[keep]

    def nearest(
        self, lat: float, lon: float, limit: int = REGION_LIMIT, within_m: float = np.inf
    ) -> list[tuple[str, Circle, float]]:
        """The ``limit`` fences whose monitoring circles are nearest, of those that reach within ``within_m``
        of the position, as (fence id, circle, signed distance).

        Circles are the fences themselves or, for polygons, their bounding circles; the distance is to
        the circle's edge (negative inside), the quantity the phone's region monitor acts on. Every fence
        left out is farther than the last one given, or than ``within_m`` if fewer than ``limit`` are.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if not within_m >= 0:
            raise ValueError(f"within_m must be a distance, got {within_m}")
        _check_position(lat, lon, 0.0)
        if limit == 0 or not self._ids:
            return []
        # Widen a search cap until it holds `limit` circles reaching into it, or reaches `within_m`: any
        # circle not found lies wholly outside the cap, so farther than every circle counted.
        radius = min(_NEAREST_FIRST_RADIUS_M, within_m)
        while True:
            candidates = self._region_tree.query(shapely.box(*cap_bounds(lat, lon, radius)))
            distances = (
                distances_from_m(lat, lon, self._region_phi[candidates], self._region_lam[candidates],
                                 self._region_cos_phi[candidates])
                - self._region_radius[candidates]
            )
            if len(candidates) == len(self._ids) or np.count_nonzero(distances <= radius) >= limit:
                break
            if radius >= within_m:  # every circle reaching within it is a candidate
                break
            if len(candidates) >= limit:
                # The limit-th nearest circle found so far bounds the answer: a cap reaching it holds
                # `limit` circles, so this next round is the last (the slack absorbs rounding).
                radius = float(np.partition(distances, limit - 1)[limit - 1]) + _NEAREST_SLACK_M
            else:
                # Too few circles to tell the density by: double, so that a position far from every
                # fence does not jump from nothing to a whole city's fences at once.
                radius *= 2.0
            radius = min(radius, within_m)
        if within_m < np.inf:
            keep = distances <= within_m
            candidates, distances = candidates[keep], distances[keep]
        if len(candidates) > 4 * limit:  # keep the nearest few (and every tie at the cut) before sorting
            cut = np.partition(distances, limit - 1)[limit - 1]
            keep = distances <= cut
            candidates, distances = candidates[keep], distances[keep]
        order = np.lexsort((candidates, distances))[:limit]
        return [
            (self._ids[i], self._regions[i], d)
            for i, d in zip(candidates[order].tolist(), distances[order].tolist())
        ]

    def _hits(self, count: int, points: IntArray, fences: IntArray, distances: FloatArray) -> list[list[Hit]]:
        """The pairs in reach as hits, grouped by position (each sorted by distance then fence order)."""
        if not len(points):
            return [[] for _ in range(count)]
        # Pairs come grouped by position but for the rough fixes, so a stable sort by position is cheap.
        order = np.argsort(points, kind="stable")
        points, fences, distances = points[order], fences[order], distances[order]
        starts = np.flatnonzero(np.diff(points, prepend=-1))
        sizes = np.diff(starts, append=len(points))
        with _gc_paused() if len(points) > _GC_PAUSE_MIN_HITS else nullcontext():
            # tuple.__new__ makes the named tuples without a Python-level call each.
            hits = np.fromiter(
                map(tuple.__new__, repeat(Hit), zip(self._id_array[fences].tolist(), distances.tolist())),
                dtype=object,
                count=len(fences),
            )
            # Each position's hits as a tuple, built for all positions with as many hits at once: their
            # rows side by side, sorted by distance then fence, and zipped together in C.
            groups = np.empty(count, dtype=object)
            groups.fill(())
            for size in np.unique(sizes).tolist():
                first = starts[sizes == size]
                rows = first[:, np.newaxis] + np.arange(size)
                if size > 1:
                    rows = np.take_along_axis(rows, np.lexsort((fences[rows], distances[rows])), axis=1)
                groups[points[first]] = np.fromiter(zip(*hits[rows].T), dtype=object, count=len(first))
            return list(map(list, groups))

    def _signed_distances(self, lats: FloatArray, lons: FloatArray, fences: IntArray) -> FloatArray:
        distances = np.empty(len(fences))
        is_circle = self._is_circle[fences]
        rows = np.flatnonzero(is_circle)
        f = fences[rows]
        distances[rows] = distances_m(lats[rows], lons[rows], self._lat[f], self._lon[f]) - self._radius[f]
        rows = np.flatnonzero(~is_circle)
        if len(rows):
            distances[rows] = self._polygon_distances(lats[rows], lons[rows], fences[rows])
        return distances

    def _polygon_distances(self, lats: FloatArray, lons: FloatArray, fences: IntArray) -> FloatArray:
        counts = self._edge_count[fences]
        ends = np.cumsum(counts)
        unsigned = np.empty(len(fences))
        # Blocks of whole pairs, each with at most _EDGE_BLOCK edge rows plus one polygon's.
        cuts = np.flatnonzero(np.diff((ends - 1) // _EDGE_BLOCK)) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(fences)]):
            unsigned[lo:hi] = self._boundary_distances(lats[lo:hi], lons[lo:hi], fences[lo:hi], counts[lo:hi])
        inside = shapely.contains_xy(self._shapes[fences], lons, lats)
        return np.where(inside, -unsigned, unsigned)

    def _boundary_distances(
        self, lats: FloatArray, lons: FloatArray, fences: IntArray, counts: IntArray
    ) -> FloatArray:
        """Distance from each position to the nearest edge of its polygon, in its own equirectangular frame."""
        firsts = np.cumsum(counts) - counts
        pair = np.repeat(np.arange(len(fences)), counts)
        edge = np.repeat(self._edge_start[fences] - firsts, counts) + np.arange(int(counts.sum()))
        x0, y0, dx, dy = self._edges[:, edge]
        x_scale = (np.cos(np.radians(lats)) * METRES_PER_DEGREE)[pair]
        ax = (x0 - lons[pair]) * x_scale
        ay = (y0 - lats[pair]) * METRES_PER_DEGREE
        vx = dx * x_scale
        vy = dy * METRES_PER_DEGREE
        # Foot of the perpendicular from the position (the origin), clamped to the segment.
        length2 = vx * vx + vy * vy
        t = np.divide(-(ax * vx + ay * vy), length2, out=np.zeros_like(length2), where=length2 > 0)
        np.clip(t, 0.0, 1.0, out=t)
        ax += t * vx
        ay += t * vy
        return np.sqrt(np.minimum.reduceat(ax * ax + ay * ay, firsts))


class _Grid:
    """Fences hashed into a global grid of cells, each listing the fences whose boxes come within
    _GRID_SLACK_M of it, so a batch finds its candidates with a few numpy passes and no geometry objects."""

    def __init__(self, boxes: FloatArray) -> None:
        west, south, east, north = expand_bounds(*boxes, _GRID_SLACK_M)
        # Cells the size of a typical box: smaller ones list each fence more often, larger ones pair each
        # position with more fences; a third to the whole of it made no difference in the benchmark.
        self._cell_lon = float(np.median(east - west))
        self._cell_lat = float(np.median(north - south))
        self._width = int(360 / self._cell_lon) + 2
        col0, row0 = self._cell(west, south)
        col1, row1 = self._cell(east, north)
        cols, rows = col1 - col0 + 1, row1 - row0 + 1
        per_fence = cols * rows
        fence = np.repeat(np.arange(len(west)), per_fence)
        within = np.arange(int(per_fence.sum())) - np.repeat(np.cumsum(per_fence) - per_fence, per_fence)
        keys = (row0[fence] + within // cols[fence]) * self._width + col0[fence] + within % cols[fence]
        order = np.lexsort((fence, keys))
        keys, self._fences = keys[order], fence[order]
        self._starts = np.flatnonzero(np.diff(keys, prepend=-1))
        self._counts = np.diff(self._starts, append=len(keys))
        self._table = _HashTable(keys[self._starts])

    def _cell(self, lons: FloatArray, lats: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        # Counted from the south-west corner of the map, so truncation is the floor.
        col = ((lons + 180) / self._cell_lon).astype(np.int64)
        row = ((lats + 90) / self._cell_lat).astype(np.int64)
        return col, row

    def cells(self, lats: FloatArray, lons: FloatArray) -> IntArray:
        """The listed cell each position is in, or -1 where no fence is near."""
        col, row = self._cell(lons, lats)
        return self._table.find(row * self._width + col)

    def fences_of(self, cells: IntArray) -> tuple[IntArray, IntArray]:
        """(row in ``cells``, fence) for every fence listed in those cells."""
        counts = self._counts[cells]
        firsts = np.cumsum(counts) - counts
        entries = np.repeat(self._starts[cells] - firsts, counts) + np.arange(int(counts.sum()))
        return np.repeat(np.arange(len(cells)), counts), self._fences[entries]


class _HashTable:
    """Open addressing from non-negative int64 keys to their position in the given array, in numpy passes.

    A million look-ups take 50 ms here, against 130 ms for ``np.searchsorted`` over the sorted keys.
    """

    def __init__(self, keys: npt.NDArray[np.int64]) -> None:
        # At most a quarter full, so that look-ups, hits or misses, rarely probe past their home slot.
        self._bits = max(int(4 * len(keys)).bit_length(), 1)
        self._mask = (1 << self._bits) - 1
        self._keys = np.full(1 << self._bits, -1, dtype=np.int64)
        self._rows = np.full(1 << self._bits, -1, dtype=np.intp)
        slots = self._home(keys)
        pending = np.arange(len(keys))
        while len(pending):
            # Linear probing, one step per pass: of the keys whose slot is free, one per slot moves in.
            free = pending[self._keys[slots[pending]] == -1]
            _, first = np.unique(slots[free], return_index=True)
            placed = free[first]
            self._keys[slots[placed]] = keys[placed]
            self._rows[slots[placed]] = placed
            pending = pending[self._rows[slots[pending]] != pending]
            slots[pending] = (slots[pending] + 1) & self._mask

    def _home(self, keys: npt.NDArray[np.int64]) -> IntArray:
        # MurmurHash3's 64-bit finaliser: cells are keyed row by row, so neighbouring keys form a lattice
        # that a lone multiplication maps onto runs of neighbouring slots.
        hashed = keys.astype(np.uint64)
        hashed ^= hashed >> np.uint64(33)
        hashed *= np.uint64(0xFF51AFD7ED558CCD)
        hashed ^= hashed >> np.uint64(33)
        hashed *= np.uint64(0xC4CEB9FE1A85EC53)
        hashed ^= hashed >> np.uint64(33)
        return (hashed & np.uint64(self._mask)).astype(np.intp)

    def find(self, keys: npt.NDArray[np.int64]) -> IntArray:
        """Position of each key in the original array, or -1."""
        slots = self._home(keys)
        stored = self._keys[slots]
        found = stored == keys
        rows = np.full(len(keys), -1, dtype=np.intp)
        rows[found] = self._rows[slots[found]]
        todo = np.flatnonzero(~found & (stored != -1))
        while len(todo):
            slots[todo] = (slots[todo] + 1) & self._mask
            stored = self._keys[slots[todo]]
            found = stored == keys[todo]
            rows[todo[found]] = self._rows[slots[todo[found]]]
            todo = todo[~found & (stored != -1)]
        return rows


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_resume = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a batch's result objects are made.

    A million new lists would set off a dozen full collections on the way, costing several times the
    lists themselves; reference counting still frees everything meanwhile. Concurrent batches share the
    pause, and the collector resumes, if it was running, when the last one ends.
    """
    global _gc_pauses, _gc_resume
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def _edges(
    shapes: npt.NDArray[np.object_], polygon_rows: IntArray, n: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every ring edge of every polygon as columns (x0, y0, dx, dy) in degrees, grouped by fence.

    Returns each fence's first edge, its number of edges (0 for circles) and the edges.
    """
    parts, part_owner = shapely.get_parts(shapes[polygon_rows], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring[:-1] == ring[1:]
    start, delta = coords[:-1][same_ring], np.diff(coords, axis=0)[same_ring]
    owner = polygon_rows[part_owner[ring_part[ring[:-1][same_ring]]]]
    # Repeated vertices are legal in a valid polygon but make edges without a direction.
    proper = np.any(delta != 0, axis=1)
    owner = owner[proper]
    edges = np.vstack([start[proper].T, delta[proper].T])
    count = np.bincount(owner, minlength=n)
    return np.cumsum(count) - count, count, edges


def _envelopes(
    west: FloatArray, south: FloatArray, east: FloatArray, north: FloatArray
) -> npt.NDArray[np.object_]:
    """Geometries whose envelopes are these boxes, to query an STRtree with.

    Lines from the south-west to the north-east corner: a query without predicate compares envelopes
    only, and a two-point line costs less than half a box to make.
    """
    return shapely.linestrings(np.stack([west, south, east, north], axis=-1).reshape(-1, 2, 2))


def _check_position(lat: float, lon: float, accuracy_m: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 <= accuracy_m < np.inf):
        raise ValueError(f"position is invalid: latitude {lat}, longitude {lon}, accuracy {accuracy_m} m")


def _positions(
    lats: npt.ArrayLike, lons: npt.ArrayLike, accuracies: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    lats, lons, accuracies = (np.asarray(a, dtype=np.float64) for a in (lats, lons, accuracies))
    if lats.ndim != 1 or lats.shape != lons.shape or lats.shape != accuracies.shape:
        raise ValueError("latitudes, longitudes and accuracies must be 1-D arrays of one length")
    valid = (np.abs(lats) <= 90) & (np.abs(lons) <= 180) & (accuracies >= 0) & (accuracies < np.inf)
    if not valid.all():
        i = int(np.argmin(valid))
        raise ValueError(
            f"position {i} is invalid: latitude {lats[i]}, longitude {lons[i]}, accuracy {accuracies[i]} m"
        )
    return lats, lons, accuracies
