"""Benchmark of GeofenceIndex.locate_many: store-sized fences over Île-de-France against a million positions.

Run: .venv/bin/python scripts/bench_geo_index.py --fences 10000 100000
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import time
import tracemalloc
import uuid
from collections.abc import Callable

import numpy as np
import shapely

from wallet.geo.geometry import METRES_PER_DEGREE, Circle
from wallet.geo.index import Fence, GeofenceIndex

# Île-de-France, lon_min, lat_min, lon_max, lat_max.
WEST, SOUTH, EAST, NORTH = 1.45, 48.12, 3.56, 49.24
TARGET_PER_S = 1_000_000


def make_fences(count: int, rng: np.random.Generator) -> list[Fence]:
    """Half circles of 50-300 m, half star-shaped polygons of 5-8 vertices 15-60 m from their centre."""
    lats = rng.uniform(SOUTH, NORTH, count)
    lons = rng.uniform(WEST, EAST, count)
    ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(count)]
    circles = count // 2
    fences = [
        Fence(ids[i], Circle(lat, lon, r))
        for i, (lat, lon, r) in enumerate(zip(lats[:circles], lons[:circles], rng.uniform(50, 300, circles)))
    ]
    for i in range(circles, count):
        vertices = int(rng.integers(5, 9))
        # Sorted angles around the centre make a simple, counter-clockwise polygon whatever the radii.
        angles = np.sort(rng.uniform(0, 2 * math.pi, vertices))
        reach = rng.uniform(15, 60, vertices) / METRES_PER_DEGREE
        ring = np.column_stack(
            [lons[i] + reach * np.cos(angles) / math.cos(math.radians(lats[i])), lats[i] + reach * np.sin(angles)]
        )
        fences.append(Fence(ids[i], shapely.Polygon(ring)))
    return fences


def make_positions(
    count: int, fences: list[Fence], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """90 % anywhere in the region, 10 % within 400 m of a fence's centre; accuracies mostly GPS-like."""
    lats = rng.uniform(SOUTH, NORTH, count)
    lons = rng.uniform(WEST, EAST, count)
    near = rng.random(count) < 0.10
    centres = np.array([_centre(f) for f in fences])
    chosen = centres[rng.integers(0, len(fences), int(near.sum()))]
    offset = rng.uniform(0, 400, len(chosen)) / METRES_PER_DEGREE
    bearing = rng.uniform(0, 2 * math.pi, len(chosen))
    lats[near] = chosen[:, 0] + offset * np.cos(bearing)
    lons[near] = chosen[:, 1] + offset * np.sin(bearing) / np.cos(np.radians(chosen[:, 0]))
    # 95 % GPS or Wi-Fi fixes of 5-65 m, 5 % coarse ones of 100-1500 m.
    accuracies = np.where(rng.random(count) < 0.95, rng.uniform(5, 65, count), rng.uniform(100, 1500, count))
    return lats, lons, accuracies


def _centre(fence: Fence) -> tuple[float, float]:
    if isinstance(fence.shape, Circle):
        return fence.shape.lat, fence.shape.lon
    point = fence.shape.centroid
    return point.y, point.x


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _traced_peak_mib(call: Callable[[], object]) -> float:
    """Peak of Python and numpy allocations during the call (GEOS allocates outside tracemalloc's view)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench(count: int, positions: int, repeat: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    fences = make_fences(count, rng)
    lats, lons, accuracies = make_positions(positions, fences, rng)

    gc.collect()
    rss_before = _rss_mib()
    started = time.perf_counter()
    index = GeofenceIndex(fences, version=1)
    build_s = time.perf_counter() - started
    rss_index = _rss_mib() - rss_before
    index_mib = _traced_peak_mib(lambda: GeofenceIndex(fences, version=1))

    index.locate_many(lats[:10_000], lons[:10_000], accuracies[:10_000])  # warm caches and code paths
    # Wall and CPU time of locate_many, then of locate_many and one pass reading its result.
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = index.locate_many(lats, lons, accuracies)
        call = time.perf_counter() - wall, time.process_time() - cpu
        with_hits = sum(1 for hits in result if hits)
        runs.append((*call, time.perf_counter() - wall, time.process_time() - cpu))
        del result
    result = index.locate_many(lats, lons, accuracies)
    inside = sum(1 for hits in result if hits and hits[0].distance_m < 0)
    hit_count = sum(map(len, result))
    del result
    batch_mib = _traced_peak_mib(lambda: index.locate_many(lats, lons, accuracies))

    print(
        f"fences {count:,}: build {build_s:.2f} s, {index_mib:.1f} MiB of Python/numpy at peak; "
        f"RSS grew {rss_index:.1f} MiB (GEOS included, freed memory reused)"
    )
    print(f"  {positions:,} positions, {repeat} runs:")
    for label, wall, cpu in (("locate_many", 0, 1), ("+ reading the result", 2, 3)):
        times = sorted(run[wall] for run in runs)
        best, median = times[0], times[len(times) // 2]
        cpu_best = min(run[cpu] for run in runs)
        print(
            f"    {label:<20} best {best:.3f} s ({cpu_best:.3f} s CPU), median {median:.3f} s → "
            f"{positions / best:,.0f} positions/s at best, {positions / median:,.0f} at the median"
        )
    print(
        f"  positions with hits {with_hits:,} ({with_hits / positions:.1%}), inside a fence {inside:,}, "
        f"hits {hit_count:,}; batch working memory {batch_mib:.0f} MiB (result included); "
        f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    return positions / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fences", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for count in args.fences:
        rate = bench(count, args.positions, args.repeat, args.seed)
        verdict = "meets" if rate >= TARGET_PER_S else "misses"
        print(f"  {verdict} the target of {TARGET_PER_S:,} positions/s at best")


if __name__ == "__main__":
    main()
