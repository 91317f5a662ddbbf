#!/usr/bin/env python3
"""End-to-end benchmark of the location pipeline on PostgreSQL + PostGIS.

For each number of geofences (10k and 100k by default), in a throwaway database of its own, loaded by
COPY (brands, one store per fence, 60 % circles of 50-300 m and 40 % store-sized polygons over
Île-de-France, denser in Paris; shoppers with location consent and a session each; brand opt-ins; an
active "enter" offer per brand on ~5 % of the fences):

1. the index kernel: ``GeofenceIndex.locate_many`` on a million positions, the index built from the
   database by ``geo.services.build_index`` exactly as each server process builds it;
2. (first fence count) an in-process breakdown: CPU time and SQL statements per request through the
   Flask test client, as shipped, with pool_pre_ping, and with the naive lookup;
3. HTTP ingestion under gunicorn, first with the in-memory index (``GEOFENCE_LOOKUP=index``), then with
   the naive design (``GEOFENCE_LOOKUP=postgis``: one ST_Covers query per fix), same workloads:
   - batched: closed loop, each request 120 fixes of one shopper walking out and back, 2 s apart
     (positions/s sustained),
   - single fixes: open loop at a fixed arrival rate (300/s), latency from the scheduled send time (no
     coordinated omission), each request one fix of a random shopper,
   - single-fix capacity: closed loop, as many single-fix requests as the server takes;
   the index design runs gunicorn with ``--preload`` and ``WALLET_GEOFENCE_INDEX_PRELOAD=true``, so
   the index is built once, in the master, before the workers fork;
4. the ratios index / naive, and a table of everything, with the share of the machine that other
   processes took meanwhile (the machine is shared: such phases are flagged).

Nothing is asserted: numbers are printed, with the issue's targets beside them.

    .venv/bin/python scripts/bench_locations.py            # full run, 10k and 100k fences, ~15 minutes
    .venv/bin/python scripts/bench_locations.py --quick    # 10k fences, shorter phases, ~3 minutes

Only loopback is used: PostgreSQL on 127.0.0.1:5432 (``--admin-url``), gunicorn on a free 127.0.0.1
port. The benchmark databases (``wallet_bench_<pid>_<fences>``) are dropped at the end, also on error
or Ctrl-C (``--keep-db`` keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_support import Channel, GunicornServer, encode_request  # noqa: E402  (scripts/ is on sys.path: the script's own folder)

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-locations-secret-key-0123456789abcdef"  # the server and the token issuer share it
PASSWORD = "bench-password-123"
BATCH = 120  # fixes per batched request (the API's maximum)
FIX_INTERVAL_S = 2.0  # between a walking shopper's consecutive fixes
LOCATIONS_PATH = "/v1/me/locations"

# Where the fences are (the brief's box around Paris), the whole of Île-de-France (where positions
# are), and Paris, where fences and people are densest.
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = 48.5, 49.2, 1.8, 2.9
IDF_LAT_MIN, IDF_LAT_MAX, IDF_LON_MIN, IDF_LON_MAX = 48.12, 49.24, 1.45, 3.56
PARIS_LAT, PARIS_LON = 48.8566, 2.3522
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180

TARGET_KERNEL = 1_000_000  # positions/s against 10k fences
TARGET_BATCHED = 20_000  # positions/s
TARGET_SINGLE_RATE = 300  # requests/s ...
TARGET_SINGLE_P99_MS = 25.0  # ... with p99 at most this
TARGET_RATIO = 10.0  # end to end, index / naive
CONTENDED = 0.15  # share of the machine taken by other work above which a phase is flagged

# Set in the parent before the load generator forks: the index, for the workload's own statistics.
_STATS_INDEX: Any = None


# --- small helpers ---------------------------------------------------------------------------


def log(message: str = "") -> None:
    print(message, flush=True)


def fmt_int(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"


def fmt_ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def percentiles(values: list[float] | np.ndarray, qs: tuple[float, ...] = (50, 95, 99)) -> list[float]:
    if len(values) == 0:
        return [float("nan")] * len(qs)
    return [float(x) for x in np.percentile(np.asarray(values), qs)]



def psycopg_url(sqlalchemy_url: str) -> str:
    """The same URL for psycopg itself (no '+psycopg' driver suffix)."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


# --- CPU accounting ----------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _all_procs() -> list[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process we can see."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        comm = text[text.find("(") + 1 : text.rfind(")")]
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        found.append((int(entry), ppid, comm))
    return found


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / _TICKS, total / _TICKS


@dataclass
class CpuSnapshot:
    server: float
    postgres: float  # the backends serving the benchmark's database
    machine_busy: float
    machine_total: float
    at: float


def _serves(pid: int, database: str) -> bool:
    """A PostgreSQL backend names its database in its process title."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f" {database} ".encode() in cmdline.read().replace(b"\0", b" ") + b" "
    except OSError:
        return False


def cpu_snapshot(server_pid: int | None, database: str = "") -> CpuSnapshot:
    procs = _all_procs()
    server = 0.0
    if server_pid is not None:
        server = sum(_proc_cpu(pid) for pid, ppid, _ in procs if pid == server_pid or ppid == server_pid)
    postgres = sum(_proc_cpu(pid) for pid, _, comm in procs if comm.startswith("postgres") and _serves(pid, database))
    busy, total = _machine_cpu()
    return CpuSnapshot(server, postgres, busy, total, time.monotonic())


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot, client_cpu: float) -> dict[str, float]:
    """Shares of the machine's CPU capacity (all cores = 100 %) over the interval."""
    capacity = max(after.machine_total - before.machine_total, 1e-9)
    busy = after.machine_busy - before.machine_busy
    server = after.server - before.server
    postgres = after.postgres - before.postgres
    return {
        "server": server / capacity,
        "postgres": postgres / capacity,
        "client": client_cpu / capacity,
        "other": max(busy - server - postgres - client_cpu, 0.0) / capacity,
        "idle": max(1 - busy / capacity, 0.0),
    }


def fmt_cpu(shares: dict[str, float]) -> str:
    return (f"CPU of the {os.cpu_count()} cores: gunicorn {shares['server']:.0%}, postgres backends of the benchmark "
            f"{shares['postgres']:.0%}, load generator {shares['client']:.0%}, everything else {shares['other']:.0%}, "
            f"idle {shares['idle']:.0%}")


# --- synthetic Île-de-France -------------------------------------------------------------------


def population_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Where shops and people are: 20 % around central Paris, 30 % in the inner suburbs, 50 % anywhere
    in the region."""
    kind = rng.random(count)
    lat, lon = np.empty(count), np.empty(count)
    paris, suburbs = kind < 0.20, (kind >= 0.20) & (kind < 0.50)
    rest = ~(paris | suburbs)
    lat[paris] = rng.normal(PARIS_LAT, 0.04, paris.sum())
    lon[paris] = rng.normal(PARIS_LON, 0.06, paris.sum())
    lat[suburbs] = rng.normal(PARIS_LAT, 0.12, suburbs.sum())
    lon[suburbs] = rng.normal(PARIS_LON, 0.18, suburbs.sum())
    lat[rest] = rng.uniform(LAT_MIN, LAT_MAX, rest.sum())
    lon[rest] = rng.uniform(LON_MIN, LON_MAX, rest.sum())
    np.clip(lat, LAT_MIN, LAT_MAX, out=lat)
    np.clip(lon, LON_MIN, LON_MAX, out=lon)
    return lat, lon


def offset_points(lat: np.ndarray, lon: np.ndarray, north_m: np.ndarray, east_m: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    return (lat + north_m / METRES_PER_DEGREE,
            lon + east_m / (METRES_PER_DEGREE * np.cos(np.radians(lat))))


def mixed_positions(rng: np.random.Generator, count: int, fence_lat: np.ndarray, fence_lon: np.ndarray,
                    at_fence: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Positions that are mostly away from shops: 80 % uniform over Île-de-France, 15 % where people
    live (denser in Paris), ``at_fence`` within 150 m of a fence's centre."""
    lat = rng.uniform(IDF_LAT_MIN, IDF_LAT_MAX, count)
    lon = rng.uniform(IDF_LON_MIN, IDF_LON_MAX, count)
    kind = rng.random(count)
    people = (kind >= at_fence) & (kind < at_fence + 0.15)
    lat[people], lon[people] = population_points(rng, int(people.sum()))
    near = kind < at_fence
    pick = rng.integers(0, len(fence_lat), int(near.sum()))
    distance, bearing = rng.uniform(0, 150, len(pick)), rng.uniform(0, 2 * math.pi, len(pick))
    lat[near], lon[near] = offset_points(fence_lat[pick], fence_lon[pick],
                                         distance * np.cos(bearing), distance * np.sin(bearing))
    return lat, lon


# --- the database ------------------------------------------------------------------------------


def admin_engine(admin_url: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")


def create_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    engine = admin_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = admin_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def migrate(url: str) -> str:
    """Upgrade to the newest revision in the tree; returns it. Also called before each server start:
    other engineers may add a revision (and the models that need it) while the benchmark runs."""
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import text

    from wallet import create_app
    from wallet.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        upgrade()
        logging.getLogger("alembic").setLevel(logging.WARNING)  # said once is enough
        revision = db.session.scalar(text("SELECT version_num FROM alembic_version")) or "?"
        db.session.remove()
        db.engine.dispose()
    return str(revision)


@dataclass
class Population:
    """The shoppers and their access tokens: the same ids in every benchmark database."""

    ids: list[uuid.UUID]
    session_ids: list[uuid.UUID]
    tokens: list[str]
    password_hash: str


def make_population(count: int, seed: int) -> Population:
    from wallet import create_app
    from wallet.auth import secrets as auth_secrets
    from wallet.auth.tokens import SHOPPER_AUDIENCE, issue_access_token

    rng = np.random.default_rng(seed + 1)
    ids = [uuid.UUID(bytes=b, version=4) for b in (rng.bytes(16) for _ in range(count))]
    session_ids = [uuid.UUID(bytes=b, version=4) for b in (rng.bytes(16) for _ in range(count))]
    # Tokens valid for three hours: the server checks their signature and expiry, and the session row.
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": SECRET_KEY, "ACCESS_TOKEN_TTL": 3 * 3600})
    with app.app_context():
        password_hash = auth_secrets.hash_password(PASSWORD)  # one hash for everybody
        tokens = [issue_access_token(subject=s, audience=SHOPPER_AUDIENCE, session_id=k)
                  for s, k in zip(ids, session_ids)]
    return Population(ids, session_ids, tokens, password_hash)


@dataclass
class Dataset:
    fences: int
    url: str
    fence_lat: np.ndarray
    fence_lon: np.ndarray
    fence_is_circle: np.ndarray
    offer_fence_rows: np.ndarray
    anchor_lat: np.ndarray  # each shopper's home ground, where their walks start and end
    anchor_lon: np.ndarray
    brands: int
    offers: int
    consents: int
    load_s: float
    revision: str = "?"


def _copy(connection: Any, table: str, columns: list[str], rows: Any) -> int:
    count = 0
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def load_dataset(url: str, fences: int, population: Population, seed: int) -> Dataset:
    """Brands, stores, fences, shoppers, sessions, consents and offers, by COPY."""
    import psycopg
    import shapely

    from wallet.geo.geometry import circle

    started = time.perf_counter()
    rng = np.random.default_rng(seed + fences)
    now = dt.datetime.now(dt.UTC)
    shoppers = len(population.ids)

    # Brands: a few large chains and many small ones.
    brand_count = max(20, fences // 500)
    brand_ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(brand_count)]
    weights = 1 / np.arange(1, brand_count + 1) ** 0.8
    fence_brand = rng.choice(brand_count, size=fences, p=weights / weights.sum())

    # Fences: 60 % circles of 50-300 m (log-uniform), 40 % store-sized polygons (15-60 m from the centre).
    lat, lon = population_points(rng, fences)
    is_circle = rng.random(fences) < 0.60
    radius = np.exp(rng.uniform(math.log(50), math.log(300), fences))
    areas = np.empty(fences, dtype=object)
    centres = np.full(fences, None, dtype=object)
    for i in np.flatnonzero(is_circle).tolist():
        areas[i] = circle(float(lat[i]), float(lon[i]), float(radius[i])).to_polygon()
    centres[is_circle] = shapely.points(lon[is_circle], lat[is_circle])
    for i in np.flatnonzero(~is_circle).tolist():
        vertices = int(rng.integers(5, 9))
        angles = np.sort(rng.uniform(0, 2 * math.pi, vertices))
        reach = rng.uniform(15, 60, vertices)
        plat, plon = offset_points(np.full(vertices, lat[i]), np.full(vertices, lon[i]),
                                   reach * np.sin(angles), reach * np.cos(angles))
        areas[i] = shapely.Polygon(np.column_stack([plon, plat]))
    area_hex = shapely.to_wkb(shapely.set_srid(areas, 4326), hex=True, include_srid=True)
    centre_hex = np.full(fences, None, dtype=object)
    centre_hex[is_circle] = shapely.to_wkb(shapely.set_srid(centres[is_circle], 4326), hex=True, include_srid=True)
    store_hex = shapely.to_wkb(shapely.set_srid(shapely.points(lon, lat), 4326), hex=True, include_srid=True)
    fence_ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(fences)]
    store_ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(fences)]

    # Offers: one "enter" offer per brand, attached to ~5 % of the fences.
    offer_fence = rng.random(fences) < 0.05
    offer_rows = np.flatnonzero(offer_fence)
    offer_brands = sorted(set(fence_brand[offer_rows].tolist()))
    offer_ids = {b: uuid.UUID(bytes=rng.bytes(16), version=4) for b in offer_brands}

    # Shoppers' home grounds: like the kernel's positions, plus 2.5 % at any fence and 2.5 % at an
    # offer's fence (those mostly opted in to its brand), so a small fraction of fixes earn coupons.
    anchor_lat, anchor_lon = mixed_positions(rng, shoppers, lat, lon, at_fence=0.0)
    kind = rng.random(shoppers)
    at_any, at_offer = kind < 0.025, (kind >= 0.025) & (kind < 0.05)
    pick_any = rng.integers(0, fences, int(at_any.sum()))
    pick_offer = offer_rows[rng.integers(0, len(offer_rows), int(at_offer.sum()))]
    for mask, pick in ((at_any, pick_any), (at_offer, pick_offer)):
        distance, bearing = rng.uniform(0, 20, len(pick)), rng.uniform(0, 2 * math.pi, len(pick))
        anchor_lat[mask], anchor_lon[mask] = offset_points(lat[pick], lon[pick], distance * np.cos(bearing),
                                                           distance * np.sin(bearing))
    consents: set[tuple[int, int]] = set()
    for s, b in zip(np.flatnonzero(at_offer).tolist(), fence_brand[pick_offer].tolist()):
        if rng.random() < 0.8:
            consents.add((s, b))
    for s, b in zip(np.repeat(np.arange(shoppers), 2).tolist(), rng.integers(0, brand_count, 2 * shoppers).tolist()):
        consents.add((s, b))

    with psycopg.connect(psycopg_url(url)) as connection:
        _copy(connection, "brands", ["id", "name", "name_key", "primary_color", "secondary_color",
                                     "default_symbology", "listed", "created_at", "updated_at"],
              ((brand_ids[b], f"Bench brand {b}", f"bench brand {b}", "#000000", "#FFFFFF", "code128", True, now, now)
               for b in range(brand_count)))
        _copy(connection, "stores", ["id", "brand_id", "name", "street", "postal_code", "city", "country_code",
                                     "location", "time_zone", "created_at", "updated_at"],
              ((store_ids[i], brand_ids[fence_brand[i]], f"Store {i}", "1 rue du Banc", "75001", "Paris", "FR",
                store_hex[i], "Europe/Paris", now, now) for i in range(fences)))
        _copy(connection, "geofences", ["id", "brand_id", "store_id", "name", "kind", "center", "radius_m", "area",
                                        "active", "created_at", "updated_at"],
              ((fence_ids[i], brand_ids[fence_brand[i]], store_ids[i], f"Fence {i}",
                "circle" if is_circle[i] else "polygon", centre_hex[i],
                float(radius[i]) if is_circle[i] else None, area_hex[i], True, now, now) for i in range(fences)))
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO geofence_versions (id, version, updated_at) VALUES (1, 1, %s) "
                           "ON CONFLICT (id) DO UPDATE SET version = geofence_versions.version + 1", (now,))
        _copy(connection, "shoppers", ["id", "email", "password_hash", "display_name", "locale", "time_zone",
                                       "consent_location", "consent_marketing", "is_active", "created_at",
                                       "updated_at"],
              ((population.ids[s], f"shopper{s}@bench.test", population.password_hash, f"Shopper {s}", "fr-FR",
                "Europe/Paris", True, s % 3 == 0, True, now, now) for s in range(shoppers)))
        _copy(connection, "auth_sessions", ["id", "shopper_id", "created_at", "expires_at"],
              ((population.session_ids[s], population.ids[s], now, now + dt.timedelta(days=30))
               for s in range(shoppers)))
        _copy(connection, "brand_consents", ["shopper_id", "brand_id", "opted_in", "source", "updated_at"],
              ((population.ids[s], brand_ids[b], True, "bench", now) for s, b in sorted(consents)))
        content = json.dumps({"fr": {"title": "-10 % aujourd'hui", "description": "Sur tout le magasin."},
                              "en": {"title": "10 % off today", "description": "On everything in store."}})
        _copy(connection, "offers", ["id", "brand_id", "status", "reward_type", "reward_percent", "content",
                                     "default_locale", "valid_from", "valid_until", "schedule", "trigger",
                                     "all_stores", "audience", "max_per_shopper", "cooldown_minutes",
                                     "coupon_ttl_minutes", "issued_count", "created_at", "updated_at"],
              ((offer_ids[b], brand_ids[b], "active", "percent_off", 10, content, "fr", now - dt.timedelta(days=1),
                now + dt.timedelta(days=30), "[]", "enter", False, "opted_in", 5, 60, 120, 0, now, now)
               for b in offer_brands))
        _copy(connection, "offer_geofences", ["offer_id", "geofence_id"],
              ((offer_ids[fence_brand[i]], fence_ids[i]) for i in offer_rows.tolist()))
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return Dataset(fences=fences, url=url, fence_lat=lat, fence_lon=lon, fence_is_circle=is_circle,
                   offer_fence_rows=offer_rows, anchor_lat=anchor_lat, anchor_lon=anchor_lon,
                   brands=brand_count, offers=len(offer_brands), consents=len(consents),
                   load_s=time.perf_counter() - started)


def table_counts(url: str) -> dict[str, int]:
    import psycopg

    tables = ("presences", "last_fixes", "coupons", "push_outbox", "passes", "offer_shopper_counts")
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def server_facts(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        def one(sql: str) -> str:
            return str(connection.execute(sql).fetchone()[0])

        return {
            "version": one("SHOW server_version"),
            "postgis": one("SELECT postgis_lib_version()"),
            "shared_buffers": one("SHOW shared_buffers"),
            "synchronous_commit": one("SHOW synchronous_commit"),
            "max_connections": one("SHOW max_connections"),
        }


# --- the kernel ----------------------------------------------------------------------------------


@dataclass
class KernelResult:
    build_s: float
    best: float
    median: float
    near: float
    inside: float
    hits_per_position: float


def bench_kernel(url: str, fence_lat: np.ndarray, fence_lon: np.ndarray, positions: int, repeat: int,
                 seed: int) -> tuple[KernelResult, Any]:
    """Build the index as a server process does, then time locate_many over ``positions`` positions."""
    from wallet import create_app
    from wallet.extensions import db
    from wallet.geo import services as geo

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        started = time.perf_counter()
        loaded = geo.build_index(geo.stored_version())
        build_s = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    index = loaded.index
    rng = np.random.default_rng(seed + 99)
    lats, lons = mixed_positions(rng, positions, fence_lat, fence_lon, at_fence=0.03)
    # 95 % GPS or Wi-Fi fixes of 5-65 m, 5 % coarse ones of 100-1500 m.
    accuracies = np.where(rng.random(positions) < 0.95, rng.uniform(5, 65, positions),
                          rng.uniform(100, 1500, positions))
    index.locate_many(lats[:10_000], lons[:10_000], accuracies[:10_000])
    times = []
    result: list[Any] = []
    for _ in range(repeat):
        del result
        started = time.perf_counter()
        result = index.locate_many(lats, lons, accuracies)
        times.append(time.perf_counter() - started)
    near = sum(1 for hits in result if hits) / positions
    inside = sum(1 for hits in result if hits and hits[0].distance_m < 0) / positions
    hits_per_position = sum(map(len, result)) / positions
    del result
    times.sort()
    return KernelResult(build_s, positions / times[0], positions / times[len(times) // 2], near, inside,
                        hits_per_position), loaded


# --- in-process breakdown ----------------------------------------------------------------------

BREAKDOWN_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("as shipped", {}),
    ("connection check on every checkout", {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}),
    ("naive design (postgis lookup)", {"GEOFENCE_LOOKUP": "postgis"}),
]
# Only the benchmark's own rows live there (CASCADE: tables that other engineers add may refer to these).
_RESET = ("TRUNCATE presences, last_fixes, offer_shopper_counts, offer_daily_counts, push_outbox, coupons, passes "
          "CASCADE; UPDATE offers SET issued_count = 0")


def _breakdown_child(url: str, overrides: dict[str, Any], singles: list[tuple[str, float, float]],
                     batches: list[tuple[str, float, float]], warm: list[tuple[str, float, float]], seed: int,
                     conn: Any) -> None:
    """In a forked process: the app (with the variant's configuration) through Flask's test client, CPU time and SQL
    statements per request, for single fixes and for batches."""
    try:
        from sqlalchemy import event

        from wallet import create_app
        from wallet.extensions import db

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "ENV": "production", **overrides})
        with app.app_context():
            engine = db.engine
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            statements[0] += 1

        @event.listens_for(engine, "commit")
        def count_commit(*_: Any) -> None:
            statements[0] += 1

        client = app.test_client()
        rng = np.random.default_rng(seed)
        now = time.time()

        def post(token: str, body: bytes) -> None:
            response = client.post(LOCATIONS_PATH, data=body, headers={"Authorization": f"Bearer {token}",
                                                                         "Content-Type": "application/json"})
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.data[:300]!r}")

        for token, lat, lon in warm:  # builds the index, fills caches
            post(token, _single_body(rng, lat, lon, now - 1))
        out: dict[str, Any] = {}
        for kind, shoppers in (("single", singles), ("batch", batches)):
            bodies = [(t, _single_body(rng, la, lo, now - 1) if kind == "single" else _batch_body(rng, la, lo, now - 5))
                      for t, la, lo in shoppers]
            statements[0] = 0
            cpu, wall = time.process_time(), time.perf_counter()
            for token, body in bodies:
                post(token, body)
            out[kind] = {"cpu_ms": (time.process_time() - cpu) / len(bodies) * 1000,
                         "wall_ms": (time.perf_counter() - wall) / len(bodies) * 1000,
                         "sql": statements[0] / len(bodies)}
        conn.send(out)
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        import traceback

        conn.send({"fatal": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"})
    finally:
        conn.close()


def breakdown(url: str, population: Population, dataset: Dataset, args: argparse.Namespace) -> None:
    """Each variant on the same requests: CPU per request in one process (no HTTP server, no load generator), so that other work on the machine
    disturbs it less than the HTTP figures."""
    import psycopg

    order = np.random.default_rng(args.seed + 77).permutation(len(population.ids))
    n_single, n_batch = args.breakdown_requests, max(args.breakdown_requests // 4, 10)
    pick = [(population.tokens[r], float(dataset.anchor_lat[r]), float(dataset.anchor_lon[r])) for r in order]
    warm, singles, batches = pick[:20], pick[20:20 + n_single], pick[20 + n_single:20 + n_single + n_batch]
    ctx = mp.get_context("fork")
    log(f"  in-process breakdown: {n_single} single fixes and {n_batch} batches of {BATCH}, the same requests for "
        f"each variant (state reset in between), Flask test client in one process, CPU time of that process:")
    log(f"    {'variant':<30} {'single: ms CPU':>14} {'SQL/req':>8} {'req/s/core':>10}   "
        f"{'batch: ms CPU':>13} {'SQL/req':>8} {'pos/s/core':>10}")
    variants = [v for v in BREAKDOWN_VARIANTS if not args.quick or v[0] != "connection check on every checkout"]
    best: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    # Interleaved rounds, the best (least CPU) of each kept: other work on the machine only ever adds.
    for _ in range(args.breakdown_rounds):
        for label, overrides in variants:
            with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
                connection.execute(_RESET)
            wait_for_quiet(args.wait_idle, verbose=False)
            parent, child = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_breakdown_child, args=(url, overrides, singles, batches, warm,
                                                                 args.seed, child))
            process.start()
            child.close()
            out = parent.recv() if parent.poll(600) else {"fatal": "no answer in 600 s"}
            process.join(timeout=30)
            if "fatal" in out:
                failed[label] = out["fatal"]
                continue
            kept = best.setdefault(label, out)
            for kind in ("single", "batch"):
                if out[kind]["cpu_ms"] < kept[kind]["cpu_ms"]:
                    kept[kind] = out[kind]
    base = best.get(BREAKDOWN_VARIANTS[0][0])
    for label, _ in variants:
        if label in failed and label not in best:
            log(f"    {label:<30} failed: {failed[label][:500]}")
            continue
        single, batch = best[label]["single"], best[label]["batch"]
        gain = ""
        if base is not None and label != BREAKDOWN_VARIANTS[0][0]:
            gain = (f"   (×{base['single']['cpu_ms'] / single['cpu_ms']:.2f}, "
                    f"×{base['batch']['cpu_ms'] / batch['cpu_ms']:.2f})")
        log(f"    {label:<30} {single['cpu_ms']:>14.2f} {single['sql']:>8.1f} {1000 / single['cpu_ms']:>10,.0f}   "
            f"{batch['cpu_ms']:>13.2f} {batch['sql']:>8.1f} {BATCH * 1000 / batch['cpu_ms']:>10,.0f}{gain}")
    log(f"    (best of {args.breakdown_rounds} interleaved rounds; SQL/req counts statements and commits; "
        f"req/s/core and pos/s/core = 1 / CPU per request, before any HTTP server or database cost)")
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        connection.execute(_RESET)


# --- gunicorn ------------------------------------------------------------------------------------


class Server(GunicornServer):
    """``gunicorn 'wallet:create_app()'`` on a free loopback port, in a process group of its own."""

    def __init__(self, url: str, design: str, args: argparse.Namespace, logdir: Path) -> None:
        self.url, self.design, self.args = url, design, args
        self.lookup = "postgis" if design == "postgis" else "index"
        self.app = args.app
        super().__init__(logdir, f"gunicorn-{design}")

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.args.workers), "--worker-class", self.args.worker_class,
                   "--keep-alive", "75", "--backlog", "2048", "--timeout", "300", "--graceful-timeout", "5",
                   "--log-level", "warning"]
        if self.args.worker_class == "gthread":
            command += ["--threads", str(self.args.threads)]
        if self.lookup == "index":  # the master builds the index once, the workers share it (GEOFENCE_INDEX_PRELOAD)
            command += ["--preload"]
        return command + [self.app]

    def describe(self) -> str:
        threads = f" × {self.args.threads} threads" if self.args.worker_class == "gthread" else ""
        preload = ", --preload (index built once in the master)" if self.lookup == "index" else ""
        return (f"gunicorn {self.args.worker_class}, {self.args.workers} workers{threads}{preload}, keep-alive 75 s, "
                f"app {self.app}, GEOFENCE_LOOKUP={self.lookup}")

    def start(self) -> None:
        env = {**os.environ, "WALLET_DATABASE_URL": self.url, "WALLET_SECRET_KEY": SECRET_KEY,
               "WALLET_ENV": "production", "WALLET_GEOFENCE_LOOKUP": self.lookup, "PYTHONUNBUFFERED": "1",
               "WALLET_RATELIMIT_ENABLED": "false",  # the load comes from one address and a few shoppers
               "WALLET_GEOFENCE_INDEX_PRELOAD": "true" if self.lookup == "index" else "false"}
        for extra in self.args.server_env:
            name, _, value = extra.partition("=")
            env[name] = value
        self.launch(self.command(), env)

    def error_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line or "CRITICAL" in line]
        return []


# --- the load generator --------------------------------------------------------------------------


@dataclass
class Plan:
    """What each load-generator process does during one phase."""

    kind: str  # "batch" (120 fixes a request) or "single" (one fix)
    mode: str  # "closed" (as fast as the server answers) or "open" (fixed arrival rate)
    port: int
    duration: float
    connections: int  # per process
    rate: float = 0.0  # open loop: requests/s over all processes
    epoch_wall: float = 0.0  # fixes are dated from this wall-clock time
    seed: int = 0
    drain: float = 15.0  # open loop: answers awaited this long after the last arrival


def _batch_body(rng: np.random.Generator, lat: float, lon: float, end_wall: float) -> bytes:
    """One shopper walking out from their home ground and back, a fix every 2 s, accuracy 5-30 m."""
    steps = np.arange(BATCH)
    along = rng.uniform(0.8, 1.6) * FIX_INTERVAL_S * np.minimum(steps, BATCH - steps)  # out and back
    heading = rng.uniform(0, 2 * math.pi)
    north = along * math.cos(heading) + rng.normal(0, 1.5, BATCH)
    east = along * math.sin(heading) + rng.normal(0, 1.5, BATCH)
    lats, lons = offset_points(np.full(BATCH, lat), np.full(BATCH, lon), north, east)
    accuracy = np.clip(rng.uniform(5, 30) + rng.normal(0, 3, BATCH), 5, 30)
    times = end_wall - FIX_INTERVAL_S * (BATCH - 1 - steps)
    fixes = ",".join(
        f'{{"lat":{la:.7f},"lon":{lo:.7f},"accuracy_m":{ac:.1f},"recorded_at":"{iso(t)}"}}'
        for la, lo, ac, t in zip(lats.tolist(), lons.tolist(), accuracy.tolist(), times.tolist())
    )
    return f'{{"fixes":[{fixes}]}}'.encode()


def _single_body(rng: np.random.Generator, lat: float, lon: float, wall: float) -> bytes:
    la, lo = offset_points(np.array([lat]), np.array([lon]), rng.normal(0, 1.0, 1), rng.normal(0, 1.0, 1))
    return (f'{{"fixes":[{{"lat":{la[0]:.7f},"lon":{lo[0]:.7f},"accuracy_m":{rng.uniform(5, 30):.1f},'
            f'"recorded_at":"{iso(wall)}"}}]}}').encode()


def _workload_stats(bodies: list[bytes], sample: int = 300) -> dict[str, float]:
    """Fractions of fixes near / inside a fence and of requests with a fix near one (on a sample)."""
    if _STATS_INDEX is None or not bodies:
        return {}
    lats, lons, accs, per_request = [], [], [], []
    for body in bodies[:sample]:
        fixes = json.loads(body)["fixes"]
        per_request.append(len(fixes))
        for fix in fixes:
            lats.append(fix["lat"]), lons.append(fix["lon"]), accs.append(fix["accuracy_m"])
    hits = _STATS_INDEX.locate_many(lats, lons, accs)
    near = np.array([bool(h) for h in hits])
    inside = np.array([bool(h) and h[0].distance_m + a <= 0 for h, a in zip(hits, accs)])
    starts = np.cumsum([0, *per_request[:-1]])
    return {"fixes": float(len(hits)), "near": float(near.sum()), "inside": float(inside.sum()),
            "requests": float(len(per_request)), "requests_near": float(np.logical_or.reduceat(near, starts).sum())}


def _client_main(plan: Plan, shoppers: list[tuple[str, float, float]], proc_index: int, procs: int,
                 barrier: Any, start_value: Any, results: Any) -> None:
    """One load-generator process: precompute bodies, wait for the start, run, report."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        rng = np.random.default_rng(plan.seed * 1000 + proc_index)
        headers_of = [{"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                      for token, _, _ in shoppers]
        requests: list[tuple[bytes, bytes, int]] = []  # (the request on the wire, its body, its fixes)
        if plan.mode == "open":
            count = len(range(proc_index, int(plan.rate * plan.duration), procs))
            arrivals = [plan.epoch_wall + i / plan.rate for i in range(proc_index, int(plan.rate * plan.duration), procs)]
        else:
            count = len(shoppers)
            arrivals = []
        for j in range(count):
            token_headers = headers_of[j % len(shoppers)]
            _, lat, lon = shoppers[j % len(shoppers)]
            if plan.kind == "batch":
                body = _batch_body(rng, lat, lon, plan.epoch_wall - 5.0)
                fixes = BATCH
            else:
                wall = (arrivals[j] if arrivals else plan.epoch_wall) - 1.0
                body = _single_body(rng, lat, lon, wall)
                fixes = 1
            requests.append((encode_request(plan.port, "POST", LOCATIONS_PATH, token_headers, body), body, fixes))
        stats = _workload_stats([body for _, body, _ in requests])
        barrier.wait(timeout=600)
        while start_value.value == 0.0:
            time.sleep(0.001)
        start = start_value.value
        end = start + plan.duration
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        out = _run(plan, requests, start, end, proc_index, procs)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu"] = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        out["stats"] = stats
        results.put(out)
    except BaseException as error:  # report, never hang the parent
        import traceback

        results.put({"fatal": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"})


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scheduled: list[float] = []  # open loop: latency from the scheduled send time
        self.latency: list[float] = []  # from the actual send time
        self.done_at: list[float] = []
        self.fixes_sent = 0
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.coupons = 0
        self.status: Counter[int] = Counter()
        self.errors: list[str] = []
        self.reconnects = 0
        self.late_start = 0  # open loop: requests sent more than 5 ms after their arrival time
        self.unsent = 0

    def record(self, status: int, data: bytes, fixes: int, sched: float | None, sent: float, done: float) -> None:
        parsed = None
        if status == 200:
            try:
                parsed = json.loads(data)
            except ValueError:
                status = -2
        with self.lock:
            self.status[status] += 1
            self.done_at.append(done)
            self.latency.append(done - sent)
            if sched is not None:
                self.scheduled.append(done - sched)
                if sent - sched > 0.005:
                    self.late_start += 1
            self.fixes_sent += fixes
            if parsed is not None:
                self.accepted += parsed["accepted"]
                self.rejected.update({k: v for k, v in parsed["rejected"].items() if v})
                self.events.update(event["type"] for event in parsed["events"])
                self.coupons += len(parsed["coupons"])
            elif len(self.errors) < 3:
                self.errors.append(f"{status}: {data[:300]!r}")

    def error(self, message: str, sched: float | None, sent: float, done: float) -> None:
        with self.lock:
            self.status[-1] += 1
            self.done_at.append(done)
            self.latency.append(done - sent)
            if sched is not None:
                self.scheduled.append(done - sched)
            if len(self.errors) < 3:
                self.errors.append(message)

    def export(self, start: float, end: float) -> dict[str, Any]:
        """Only requests completed within [start, end] count."""
        done = np.array(self.done_at)
        keep = (done >= start) & (done <= end) if len(done) else np.zeros(0, dtype=bool)
        return {
            "latency": np.array(self.latency)[keep].tolist() if len(done) else [],
            "scheduled": (np.array(self.scheduled)[keep].tolist() if self.scheduled else []),
            "completed_in_window": int(keep.sum()),
            "last_done": float(done.max()) if len(done) else 0.0,
            "completed_total": len(done),
            "fixes_sent": self.fixes_sent,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "events": dict(self.events),
            "coupons": self.coupons,
            "status": dict(self.status),
            "errors": self.errors,
            "reconnects": self.reconnects,
            "late_start": self.late_start,
            "unsent": self.unsent,
        }


def _run(plan: Plan, requests: list[tuple[bytes, bytes, int]], start: float, end: float,
         proc_index: int, procs: int) -> dict[str, Any]:
    tally = _Tally()
    fixes_in_window = [0]
    if plan.mode == "closed":
        cursor = iter(range(10**12))
        cursor_lock = threading.Lock()
        wraps = [0]

        def worker() -> None:
            channel = Channel(plan.port)
            while True:
                now = time.monotonic()
                if now >= end:
                    break
                with cursor_lock:
                    n = next(cursor)
                if n and n % len(requests) == 0:
                    wraps[0] += 1
                wire, _, fixes = requests[n % len(requests)]
                sent = time.monotonic()
                try:
                    status, data = channel.exchange(wire)
                except (OSError, EOFError, ValueError) as error:
                    done = time.monotonic()
                    tally.error(f"{type(error).__name__}: {error}", None, sent, done)
                    channel.close()
                    continue
                done = time.monotonic()
                tally.record(status, data, fixes, None, sent, done)
                if status == 200 and start <= done <= end:
                    with tally.lock:
                        fixes_in_window[0] += fixes
            channel.close()
            with tally.lock:
                tally.reconnects += channel.reconnects

        while time.monotonic() < start:
            time.sleep(min(0.01, max(start - time.monotonic(), 0)))
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(plan.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=plan.duration + 120)
        out = tally.export(start, end)
        out["fixes_in_window"] = fixes_in_window[0]
        out["wraps"] = wraps[0]
        return out

    # Open loop: a scheduler hands each arrival, at its time, to whichever connection is free; the
    # latency counts from the arrival time, so a server that falls behind shows it.
    jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
    arrivals = [start + i / plan.rate for i in range(proc_index, int(plan.rate * plan.duration), procs)]

    def sender() -> None:
        channel = Channel(plan.port)
        while True:
            job = jobs.get()
            if job is None:
                break
            sched, (wire, _, fixes) = job
            sent = time.monotonic()
            try:
                status, data = channel.exchange(wire)
            except (OSError, EOFError, ValueError) as error:
                tally.error(f"{type(error).__name__}: {error}", sched, sent, time.monotonic())
                channel.close()
                continue
            tally.record(status, data, fixes, sched, sent, time.monotonic())
        channel.close()
        with tally.lock:
            tally.reconnects += channel.reconnects

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(plan.connections)]
    for thread in threads:
        thread.start()
    for sched, request in zip(arrivals, requests):
        delay = sched - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((sched, request))
    for _ in threads:
        jobs.put(None)
    drain_deadline = end + plan.drain
    for thread in threads:
        thread.join(timeout=max(drain_deadline - time.monotonic(), 0.1))
    # Everything sent in the window counts, however late it completed (or it is counted as unsent).
    out = tally.export(start, float("inf"))
    out["unsent"] = max(len(arrivals) - out["completed_total"], 0)
    # Unanswered requests waited at least the drain time: count them so, which makes the percentiles
    # lower bounds rather than flattering.
    out["scheduled"] += [plan.drain] * out["unsent"]
    out["fixes_in_window"] = out["accepted"]
    return out


@dataclass
class PhaseResult:
    name: str
    duration: float
    requests: int
    fixes_per_s: float
    requests_per_s: float
    latency_ms: list[float]  # p50, p95, p99 (from the scheduled time in open loop)
    send_latency_ms: list[float]
    max_ms: float
    accepted: int
    fixes_sent: int
    rejected: dict[str, int]
    events: dict[str, int]
    coupons: int
    errors: int
    status: dict[int, int]
    error_samples: list[str]
    cpu: dict[str, float]
    client_cpu_s: float
    stats: dict[str, float]
    reconnects: int
    wraps: int
    late_start: int
    unsent: int
    offered_rate: float = 0.0
    drain: float = 0.0


def run_phase(name: str, plan: Plan, shoppers: list[tuple[str, float, float]], procs: int,
              server: Server, quiet_wait: float = 0.0) -> PhaseResult:
    """Fork ``procs`` load-generator processes (shoppers dealt round-robin), run, gather."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs + 1)
    start_value = ctx.Value("d", 0.0)
    results = ctx.Queue()
    parts = [shoppers[p::procs] for p in range(procs)]
    children = [ctx.Process(target=_client_main, args=(plan, parts[p], p, procs, barrier, start_value, results),
                            daemon=True) for p in range(procs)]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=600)
        if quiet_wait > 0:
            wait_for_quiet(quiet_wait)
        # Dated fixes must not be from the future: never start before the epoch they were dated from.
        wait = plan.epoch_wall - time.time()
        if wait > 0:
            time.sleep(wait)
        start = time.monotonic() + 0.2
        database = server.url.rsplit("/", 1)[-1]
        before = cpu_snapshot(server.proc.pid if server.proc else None, database)
        start_value.value = start
        outs = []
        for _ in children:
            outs.append(results.get(timeout=plan.duration + 180))
        after = cpu_snapshot(server.proc.pid if server.proc else None, database)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    fatal = [o["fatal"] for o in outs if "fatal" in o]
    if fatal:
        raise RuntimeError("load generator failed:\n" + fatal[0])
    latency = [x for o in outs for x in o["latency"]]
    scheduled = [x for o in outs for x in o["scheduled"]]
    status: Counter[int] = Counter()
    rejected: Counter[str] = Counter()
    events: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    for o in outs:
        status.update(o["status"])
        rejected.update(o["rejected"])
        events.update(o["events"])
        stats.update(o["stats"])
    client_cpu = sum(o["cpu"] for o in outs)
    completed = sum(o["completed_in_window"] for o in outs)
    fixes_in_window = sum(o["fixes_in_window"] for o in outs)
    primary = scheduled if plan.mode == "open" else latency
    errors = sum(v for k, v in status.items() if k != 200) + sum(o["unsent"] for o in outs)
    if plan.mode == "open":
        # Achieved rate: successful completions over the span from the first arrival to the last
        # completion (longer than the phase when the server fell behind).
        span = max(plan.duration, max(o["last_done"] for o in outs) - start)
        rps = status.get(200, 0) / span
        fps = fixes_in_window / span
    else:
        rps = completed / plan.duration
        fps = fixes_in_window / plan.duration
    return PhaseResult(
        name=name, duration=plan.duration, requests=sum(o["completed_total"] for o in outs),
        fixes_per_s=fps, requests_per_s=rps,
        latency_ms=[x * 1000 for x in percentiles(primary)], send_latency_ms=[x * 1000 for x in percentiles(latency)],
        max_ms=max(primary) * 1000 if primary else float("nan"),
        accepted=sum(o["accepted"] for o in outs), fixes_sent=sum(o["fixes_sent"] for o in outs),
        rejected=dict(rejected), events=dict(events), coupons=sum(o["coupons"] for o in outs), errors=errors,
        status=dict(status), error_samples=[e for o in outs for e in o["errors"]][:3],
        cpu=cpu_shares(before, after, client_cpu), client_cpu_s=client_cpu, stats=dict(stats),
        reconnects=sum(o["reconnects"] for o in outs), wraps=sum(o.get("wraps", 0) for o in outs),
        late_start=sum(o["late_start"] for o in outs), unsent=sum(o["unsent"] for o in outs),
        offered_rate=plan.rate, drain=plan.drain,
    )


def describe_phase(result: PhaseResult, kind: str) -> list[str]:
    lines = []
    p50, p95, p99 = result.latency_ms
    if kind == "batch":
        lines.append(f"    {result.fixes_per_s:,.0f} positions/s ({result.requests_per_s:,.1f} batches/s of {BATCH}), "
                     f"batch latency p50 {fmt_ms(p50)} / p95 {fmt_ms(p95)} / p99 {fmt_ms(p99)} ms")
    elif kind == "open":
        s50, _, s99 = result.send_latency_ms
        lines.append(f"    offered {result.offered_rate:,.0f} req/s, achieved {result.requests_per_s:,.1f} req/s; "
                     f"latency p50 {fmt_ms(p50)} / p95 {fmt_ms(p95)} / p99 {fmt_ms(p99)} / max {fmt_ms(result.max_ms)} ms "
                     f"(from the scheduled time; from the send: p50 {fmt_ms(s50)}, p99 {fmt_ms(s99)})")
        if result.unsent:
            lines.append(f"    ! {result.unsent} requests were not answered within {result.drain:.0f} s of the last "
                         f"arrival: counted as errors, and as {result.drain:.0f} s in the percentiles (lower bounds)")
        if result.late_start or result.unsent:
            lines.append(f"    sent late (> 5 ms after their arrival time): {result.late_start}; not answered within "
                         f"the drain time after the last arrival: {result.unsent}")
    else:
        lines.append(f"    {result.requests_per_s:,.0f} req/s, latency p50 {fmt_ms(p50)} / p95 {fmt_ms(p95)} / "
                     f"p99 {fmt_ms(p99)} ms")
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(result.rejected.items())) or "none"
    events = ", ".join(f"{k} {v}" for k, v in sorted(result.events.items())) or "none"
    lines.append(f"    requests {result.requests:,}, errors {result.errors} {dict(result.status) if result.errors else ''}"
                 f"; fixes sent {result.fixes_sent:,}, accepted {result.accepted:,}, rejected: {rejected}")
    lines.append(f"    presence events: {events}; coupons issued {result.coupons:,}")
    if result.stats.get("fixes"):
        st = result.stats
        lines.append(f"    workload (sample of {int(st['requests']):,} requests): fixes near a fence "
                     f"{st['near'] / st['fixes']:.1%}, clearly inside one {st['inside'] / st['fixes']:.1%}; requests "
                     f"with a fix near a fence {st['requests_near'] / st['requests']:.1%}")
    lines.append(f"    {fmt_cpu(result.cpu)}")
    if result.cpu["other"] > CONTENDED:
        lines.append(f"    ! other work on the machine took {result.cpu['other']:.0%} of it during this phase: "
                     f"these figures are pessimistic")
    notes = []
    if result.reconnects:
        notes.append(f"{result.reconnects} idle connections reopened")
    if result.wraps:
        notes.append(f"request pool wrapped {result.wraps}× (repeated bodies)")
    if notes:
        lines.append("    " + "; ".join(notes))
    for sample in result.error_samples:
        lines.append(f"    error sample: {sample}")
    return lines


# --- one design on one dataset -------------------------------------------------------------------


@dataclass
class DesignResult:
    design: str
    batched: PhaseResult | None = None
    single: PhaseResult | None = None
    capacity: PhaseResult | None = None
    counts: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)


class ShopperDealer:
    """Hands out shoppers for each phase, distinct across phases while the population lasts."""

    def __init__(self, population: Population, dataset: Dataset, seed: int) -> None:
        self.order = np.random.default_rng(seed + 5).permutation(len(population.ids))
        self.population, self.dataset = population, dataset
        self.cursor = 0
        self.reused = 0

    def take(self, count: int) -> list[tuple[str, float, float]]:
        size = len(self.order)
        rows = [int(self.order[(self.cursor + k) % size]) for k in range(count)]
        self.reused += max(0, self.cursor + count - size) - max(0, self.cursor - size) if count else 0
        self.cursor += count
        return [(self.population.tokens[r], float(self.dataset.anchor_lat[r]), float(self.dataset.anchor_lon[r]))
                for r in rows]


def background_load(seconds: float = 1.0) -> float:
    """Share of the machine busy over ``seconds`` (taken while our server and clients are idle)."""
    busy0, total0 = _machine_cpu()
    time.sleep(seconds)
    busy1, total1 = _machine_cpu()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


_WAIT_BUDGET = [float("inf")]  # seconds of waiting left for the whole run (--wait-budget)


def wait_for_quiet(max_wait: float, threshold: float = 0.15, verbose: bool = True) -> float:
    """Wait (at most ``max_wait`` s, and within the run's budget) until other work on the machine uses
    less than ``threshold`` of it: other people's test runs on a 2-core machine would halve every figure."""
    started = time.monotonic()
    deadline = started + max(min(max_wait, _WAIT_BUDGET[0]), 0.0)
    load = background_load()
    waited = False
    while load > threshold and time.monotonic() < deadline:
        if not waited and verbose:
            log(f"    machine busy ({load:.0%}) with other work: waiting up to {max_wait:.0f} s for it to calm down")
            waited = True
        load = background_load(2.0)
    _WAIT_BUDGET[0] -= time.monotonic() - started
    return load


DESIGN_TITLES = {
    "index": "index: the in-memory GeofenceIndex (GEOFENCE_LOOKUP=index), as shipped",
    "postgis": "naive: one PostGIS ST_Covers query per fix (GEOFENCE_LOOKUP=postgis)",
}


def run_design(design: str, dataset: Dataset, dealer: ShopperDealer, args: argparse.Namespace, logdir: Path,
               build_s: float) -> DesignResult:
    server = Server(dataset.url, design, args, logdir)
    result = DesignResult(design)
    naive = design == "postgis"
    duration = args.naive_duration if naive else args.duration
    log(f"  -- {DESIGN_TITLES[design]} --")
    log(f"    server: {server.describe()}")
    revision = migrate(dataset.url)
    if revision != dataset.revision:
        log(f"    note: the tree gained migration {revision} during the run (was {dataset.revision}); applied")
        dataset.revision = revision
    before = table_counts(dataset.url)
    server.start()
    try:
        procs = args.clients
        # Warm up (connections, caches); without --preload every worker builds its index on its first request.
        warm = max(args.warmup, 2.5 * build_s + 2) if naive else args.warmup
        warm_plan = Plan("batch", "closed", server.port, warm, args.batch_connections, seed=args.seed + 1,
                         epoch_wall=time.time() + 2)
        warm_need = int(warm * 150)
        run_phase("warm-up", warm_plan, dealer.take(warm_need), procs, server)
        log(f"    warmed up for {warm:.0f} s" + ("" if naive else
                                                   f" (the index, {build_s:.1f} s to build here, was built before forking)"))

        cap_rate = args.expect_batched_naive if naive else args.expect_batched
        need = max(int(duration * cap_rate / BATCH), 50)
        log(f"  batched ingestion, closed loop, {procs} processes × {args.batch_connections} connections, "
            f"{duration:.0f} s:")
        plan = Plan("batch", "closed", server.port, duration, args.batch_connections, seed=args.seed + 2,
                    epoch_wall=time.time() + 1.5 + need * 0.0005)
        result.batched = run_phase("batched", plan, dealer.take(need), procs, server, args.wait_idle)
        for line in describe_phase(result.batched, "batch"):
            log(line)

        count = int(args.single_rate * args.single_duration)
        log(f"  single fixes, open loop at {args.single_rate:,.0f} req/s for {args.single_duration:.0f} s "
            f"({procs} processes, up to {args.open_connections} connections each):")
        plan = Plan("single", "open", server.port, args.single_duration, args.open_connections,
                    rate=args.single_rate, seed=args.seed + 3, epoch_wall=time.time() + 1.5, drain=args.drain)
        result.single = run_phase("single", plan, dealer.take(count), procs, server, args.wait_idle)
        for line in describe_phase(result.single, "open"):
            log(line)

        if args.capacity_duration > 0:
            need = int(args.capacity_duration * 1500)
            log(f"  single-fix capacity, closed loop, {procs} processes × {args.capacity_connections} connections, "
                f"{args.capacity_duration:.0f} s:")
            plan = Plan("single", "closed", server.port, args.capacity_duration, args.capacity_connections,
                        seed=args.seed + 4, epoch_wall=time.time() + 1.5)
            result.capacity = run_phase("capacity", plan, dealer.take(need), procs, server, args.wait_idle)
            for line in describe_phase(result.capacity, "closed"):
                log(line)
    finally:
        server.stop()
    after = table_counts(dataset.url)
    result.counts = {k: after[k] - before[k] for k in after}
    result.server_errors = server.error_lines()
    log("    rows written by this design: " + ", ".join(f"{k} +{v:,}" for k, v in result.counts.items()))
    if result.server_errors:
        log(f"    server log has {len(result.server_errors)} error lines, e.g. {result.server_errors[0][:200]}")
        log(server.log_tail(15))
    return result


# --- main --------------------------------------------------------------------------------------


@dataclass
class FenceRun:
    fences: int
    dataset: Dataset
    kernel: KernelResult
    designs: dict[str, DesignResult]


def machine_facts() -> list[str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    import gunicorn
    import shapely

    return [f"machine: {os.cpu_count()} cores ({model}), {memory} RAM, {platform.system()} {platform.release()}",
            f"python {platform.python_version()}, numpy {np.__version__}, shapely {shapely.__version__}, "
            f"gunicorn {gunicorn.__version__}"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--fences", default="10000,100000", help="comma-separated fence counts (default 10000,100000)")
    parser.add_argument("--shoppers", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=25.0, help="batched workload, index design (s)")
    parser.add_argument("--naive-duration", type=float, default=None, help="batched workload, naive design (s)")
    parser.add_argument("--single-rate", type=float, default=300.0)
    parser.add_argument("--single-duration", type=float, default=20.0)
    parser.add_argument("--capacity-duration", type=float, default=10.0, help="0 to skip the single-fix capacity")
    parser.add_argument("--kernel-positions", type=int, default=1_000_000)
    parser.add_argument("--kernel-repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--app", default="wallet:create_app()", help="the WSGI app gunicorn serves")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for gunicorn, e.g. WALLET_SQLALCHEMY_ENGINE_OPTIONS={}")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--batch-connections", type=int, default=4, help="per load-generator process")
    parser.add_argument("--capacity-connections", type=int, default=6, help="per load-generator process")
    parser.add_argument("--open-connections", type=int, default=24, help="per load-generator process")
    parser.add_argument("--warmup", type=float, default=8.0, help="minimum warm-up per server (s)")
    parser.add_argument("--expect-batched", type=float, default=40_000,
                        help="positions/s the index design may reach: sizes the pool of distinct batches")
    parser.add_argument("--expect-batched-naive", type=float, default=8_000)
    parser.add_argument("--designs", default="index,postgis", help="index (as shipped), postgis (naive baseline)")
    parser.add_argument("--wait-idle", type=float, default=45.0,
                        help="before each measured phase, wait up to this long (s) for other work on the machine "
                             "to drop below 15 %% of it; 0 not to wait")
    parser.add_argument("--admin-url", default=os.environ.get("WALLET_BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--breakdown", default="first",
                        help="fence counts for which to run the in-process breakdown of the candidate fixes "
                             "(comma-separated), 'first', 'all' or 'none'")
    parser.add_argument("--breakdown-requests", type=int, default=160, help="single fixes per variant (a quarter "
                        "as many batches)")
    parser.add_argument("--breakdown-rounds", type=int, default=2)
    parser.add_argument("--wait-budget", type=float, default=90.0,
                        help="total seconds the run may spend waiting for the machine to be quiet")
    parser.add_argument("--drain", type=float, default=10.0,
                        help="open loop: how long after the last arrival to wait for answers (s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="about 2 minutes: 10k fences only, 20k shoppers, shorter phases, a smaller breakdown; "
                             "explicit options still win")
    args = parser.parse_args(argv)
    given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
    if args.quick:
        quick = {"--fences": ("fences", "10000"), "--shoppers": ("shoppers", 20_000), "--duration": ("duration", 8.0),
                 "--single-duration": ("single_duration", 6.0), "--capacity-duration": ("capacity_duration", 4.0),
                 "--kernel-repeat": ("kernel_repeat", 2), "--warmup": ("warmup", 4.0),
                 "--breakdown-requests": ("breakdown_requests", 120), "--breakdown-rounds": ("breakdown_rounds", 1),
                 "--wait-idle": ("wait_idle", 15.0), "--drain": ("drain", 8.0), "--wait-budget": ("wait_budget", 30.0),
                 "--kernel-positions": ("kernel_positions", 1_000_000)}
        for option, (name, value) in quick.items():
            if option not in given:
                setattr(args, name, value)
    if args.naive_duration is None:
        args.naive_duration = args.duration if args.quick else max(args.duration / 2, 10.0)
    args.fence_counts = [int(x) for x in args.fences.split(",") if x.strip()]
    args.design_list = [x.strip() for x in args.designs.split(",") if x.strip() and x.strip() != "none"]
    unknown = [d for d in args.design_list if d not in ("index", "postgis")]
    if unknown:
        parser.error(f"unknown design(s) {', '.join(unknown)}: use index, postgis or none")
    if args.breakdown == "first":
        args.breakdown_fences = args.fence_counts[:1]
    elif args.breakdown == "all":
        args.breakdown_fences = list(args.fence_counts)
    elif args.breakdown == "none":
        args.breakdown_fences = []
    else:
        args.breakdown_fences = [int(x) for x in args.breakdown.split(",") if x.strip()]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    _WAIT_BUDGET[0] = args.wait_budget

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    log("bench_locations: the location pipeline on PostGIS — kernel, HTTP ingestion under gunicorn, naive baseline")
    for line in machine_facts():
        log(line)
    log(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    created: list[str] = []
    runs: list[FenceRun] = []
    logdir = Path(tempfile.mkdtemp(prefix="bench_locations_"))
    facts: dict[str, str] = {}
    completed = False
    try:
        t0 = time.perf_counter()
        population = make_population(args.shoppers, args.seed)
        log(f"{args.shoppers:,} shoppers: ids, one password hash and {args.shoppers:,} access tokens in "
            f"{time.perf_counter() - t0:.1f} s")
        for fences in args.fence_counts:
            name = f"wallet_bench_{os.getpid()}_{fences}"
            log("")
            log(f"=== {fences:,} geofences, {args.shoppers:,} shoppers — database {name} ===")
            t0 = time.perf_counter()
            url = create_database(args.admin_url, name)
            created.append(name)
            revision = migrate(url)
            migrate_s = time.perf_counter() - t0
            if not facts:
                facts = server_facts(url)
                log(f"PostgreSQL {facts['version']}, PostGIS {facts['postgis']}, shared_buffers "
                    f"{facts['shared_buffers']}, synchronous_commit {facts['synchronous_commit']}, "
                    f"max_connections {facts['max_connections']}")
            dataset = load_dataset(url, fences, population, args.seed)
            dataset.revision = revision
            circles = int(dataset.fence_is_circle.sum())
            log(f"created and migrated (to {revision}) in {migrate_s:.1f} s; loaded by COPY in {dataset.load_s:.1f} s: "
                f"{dataset.brands} brands, {fences:,} stores, {fences:,} fences ({circles:,} circles of 50-300 m, "
                f"{fences - circles:,} store-sized polygons), {args.shoppers:,} shoppers with sessions, "
                f"{dataset.consents:,} brand opt-ins, {dataset.offers} active enter offers on "
                f"{len(dataset.offer_fence_rows):,} fences")

            kernel, loaded = bench_kernel(url, dataset.fence_lat, dataset.fence_lon, args.kernel_positions,
                                          args.kernel_repeat, args.seed)
            log(f"kernel: index built from the database in {kernel.build_s:.2f} s; locate_many over "
                f"{args.kernel_positions:,} positions ({kernel.near:.1%} near a fence, {kernel.inside:.1%} inside "
                f"one, {kernel.hits_per_position:.2f} hits per position): best {kernel.best:,.0f} positions/s, median {kernel.median:,.0f} "
                f"({args.kernel_repeat} runs; target ≥ {TARGET_KERNEL:,} against 10k fences)")
            global _STATS_INDEX
            _STATS_INDEX = loaded.index
            del loaded

            if fences in args.breakdown_fences:
                breakdown(url, population, dataset, args)
            dealer = ShopperDealer(population, dataset, args.seed + fences)
            designs = {}
            for design in args.design_list:
                designs[design] = run_design(design, dataset, dealer, args, logdir, kernel.build_s)
            if dealer.reused:
                log(f"  note: {dealer.reused:,} shopper slots were reused (more requests than shoppers); their "
                    f"tracks stay continuous (walks start and end at the shopper's home ground)")
            _STATS_INDEX = None
            runs.append(FenceRun(fences, dataset, kernel, designs))
            if not args.keep_db:
                drop_database(args.admin_url, name)
                created.remove(name)
        summary(runs, args, facts, time.monotonic() - started)
        completed = True
    finally:
        if not args.keep_db:
            for name in created:
                with contextlib.suppress(Exception):
                    drop_database(args.admin_url, name)
                    log(f"dropped {name}")
        elif created:
            log(f"kept databases: {', '.join(created)}")
        if not completed or args.keep_db or any(d.server_errors for run in runs for d in run.designs.values()):
            log(f"gunicorn logs kept in {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:,.1f}×"


def summary(runs: list[FenceRun], args: argparse.Namespace, facts: dict[str, str], elapsed: float) -> None:
    log("")
    log("=== summary ===")
    log(f"{os.cpu_count()} cores; PostgreSQL {facts.get('version', '?')} + PostGIS {facts.get('postgis', '?')} on "
        f"127.0.0.1 (synchronous_commit {facts.get('synchronous_commit', '?')}); gunicorn {args.worker_class} "
        f"{args.workers} workers" + (f" × {args.threads} threads" if args.worker_class == "gthread" else "")
        + f"; load generator {args.clients} processes (keep-alive sockets, requests encoded beforehand)")
    header = (f"{'fences':>8} {'design':<7} {'kernel pos/s':>13} {'batched pos/s':>14} {'batch p99':>10} "
              f"{'single req/s':>13} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'err':>4} {'capacity req/s':>15} "
              f"{'rejected':>9} {'coupons':>8} {'other load':>10}")
    log(header)
    log("-" * len(header))
    for run in runs:
        for name, design in run.designs.items():
            b, s, c = design.batched, design.single, design.capacity
            rejected = sum(sum(p.rejected.values()) for p in (b, s, c) if p)
            coupons = sum(p.coupons for p in (b, s, c) if p)
            errors = sum(p.errors for p in (b, s, c) if p)
            other = max((p.cpu["other"] for p in (b, s, c) if p), default=0.0)
            log(f"{run.fences:>8,} {name:<7} "
                f"{fmt_int(run.kernel.best) if name == 'index' else '':>13} "
                f"{fmt_int(b.fixes_per_s if b else None):>14} {fmt_ms(b.latency_ms[2] if b else None):>10} "
                f"{(f'{s.requests_per_s:,.1f}' if s else '—'):>13} "
                f"{fmt_ms(s.latency_ms[0] if s else None):>7} {fmt_ms(s.latency_ms[1] if s else None):>7} "
                f"{fmt_ms(s.latency_ms[2] if s else None):>7} {errors:>4} "
                f"{fmt_int(c.requests_per_s if c else None):>15} {rejected:>9,} {coupons:>8,} "
                f"{other:>9.0%}{'!' if other > CONTENDED else ' '}")
    log("(other load: the largest share of the machine that other processes took during one of the design's "
        "phases; ! marks figures depressed by it)")
    log("")
    log("index / naive:")
    for run in runs:
        index, naive = run.designs.get("index"), run.designs.get("postgis")
        if not index or not naive:
            continue
        parts = []
        if index.batched and naive.batched:
            parts.append(f"batched positions/s {_ratio(index.batched.fixes_per_s, naive.batched.fixes_per_s)}")
        if index.single and naive.single:
            parts.append(f"single-fix p99 {_ratio(naive.single.latency_ms[2], index.single.latency_ms[2])} lower, "
                         f"achieved req/s {_ratio(index.single.requests_per_s, naive.single.requests_per_s)}")
        if index.capacity and naive.capacity:
            parts.append(f"single-fix capacity {_ratio(index.capacity.requests_per_s, naive.capacity.requests_per_s)}")
        log(f"  {run.fences:>8,} fences: " + "; ".join(parts))
    log("")
    log("targets (2 cores): kernel ≥ 1,000,000 positions/s against 10k fences; batched ≥ 20,000 positions/s; "
        "single fixes p99 ≤ 25 ms at 300 req/s; end to end ≥ 10× the naive design")
    log(f"total time {elapsed / 60:.1f} min")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt}); databases dropped", file=sys.stderr)
        sys.exit(130)
