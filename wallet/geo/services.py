"""Use cases of geofences (CRUD for brand staff), the rules every fence's shape keeps, and the
per-process geofence index they feed.

Every change bumps a version stamp in the database; each process compares it with the version of
its index (at most every ``GEOFENCE_INDEX_CHECK_SECONDS``) and rebuilds when they differ.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from flask import Flask, current_app
from sqlalchemy import delete, select

from wallet.auth.models import Role
from wallet.auth.principal import Principal, check_brand_access
from wallet.brands.models import Store
from wallet.core import reads, versions
from wallet.core.errors import NotFound, ValidationFailed
from wallet.core.pagination import Page, paginate
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo import geometry
from wallet.geo.index import Fence, GeofenceIndex
from wallet.geo.models import CIRCLE, POLYGON, Geofence, GeofenceVersion, Presence
from wallet.offers.models import OfferGeofence

MANAGERS = (Role.BRAND_ADMIN, Role.MARKETER)

CROSSES_ANTIMERIDIAN = "crosses_antimeridian"
GEOFENCE_TOO_LARGE = "geofence_too_large"
GEOFENCE_TOO_FAR_FROM_STORE = "geofence_too_far_from_store"


class ShapeRefused(ValidationFailed):
    """A fence shape (or a store move) that breaks one of the shape rules; the reason names the rule."""

    REASONS = {
        CROSSES_ANTIMERIDIAN: "The fence reaches the antimeridian (longitude ±180°) or a pole",
        GEOFENCE_TOO_LARGE: "The polygon needs a circle wider than the largest fence radius (10 km) to hold it",
        GEOFENCE_TOO_FAR_FROM_STORE: "A point of the fence lies farther from its store than "
                                     "GEOFENCE_MAX_STORE_DISTANCE_M (longitude and latitude swapped?)",
    }

Shape = geometry.Circle | shapely.Polygon | shapely.MultiPolygon


# --- geofence CRUD --------------------------------------------------------------------------


def create_geofence(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> Geofence:
    check_brand_access(principal, brand_id, *MANAGERS)
    shape = _shape_of(data)
    with transaction() as session:
        store = _store_of_brand(brand_id, data["store_id"])
        _check_shape(shape, store, field=_shape_field(data))
        fence = Geofence(brand_id=brand_id, store_id=data["store_id"], name=data["name"],
                         active=data.get("active", True), area=shapely.Point(0, 0))
        _set_shape(fence, shape)
        session.add(fence)
        bump_version()
    return fence


def list_geofences(
    *, principal: Principal, brand_id: uuid.UUID, store_id: uuid.UUID | None, page: int, page_size: int
) -> Page[Geofence]:
    check_brand_access(principal, brand_id)
    query = (select(Geofence).where(Geofence.brand_id == brand_id, Geofence.archived_at.is_(None))
             .order_by(Geofence.created_at, Geofence.id))
    if store_id is not None:
        query = query.where(Geofence.store_id == store_id)
    return paginate(query, page=page, page_size=page_size)


def get_geofence(*, principal: Principal, brand_id: uuid.UUID, geofence_id: uuid.UUID) -> Geofence:
    check_brand_access(principal, brand_id, what="Geofence")
    return _geofence(brand_id, geofence_id)


def update_geofence(
    *, principal: Principal, brand_id: uuid.UUID, geofence_id: uuid.UUID, changes: dict[str, Any]
) -> Geofence:
    check_brand_access(principal, brand_id, *MANAGERS, what="Geofence")
    reshaped = "circle" in changes or "polygon" in changes
    new_shape = _shape_of(changes) if reshaped else None
    with transaction():
        fence = _geofence(brand_id, geofence_id)
        store = _store_of_brand(brand_id, changes.get("store_id", fence.store_id))
        shape = new_shape if new_shape is not None else stored_shape(fence)
        # An inactive fence renamed keeps its shape unchecked; an active one is checked whatever the
        # change (it may predate the rules, or its store may have moved while it was inactive).
        if reshaped or "store_id" in changes or changes.get("active", fence.active):
            _check_shape(shape, store, field=_field_at_fault(changes, fence))
        fence.store_id = store.id
        for name in ("name", "active"):
            if name in changes:
                setattr(fence, name, changes[name])
        if new_shape is not None:
            _set_shape(fence, new_shape)
        bump_version()
    return fence


def delete_geofence(*, principal: Principal, brand_id: uuid.UUID, geofence_id: uuid.UUID) -> None:
    """Delete a fence for its brand: archived, since coupons and funnels keep naming it."""
    check_brand_access(principal, brand_id, *MANAGERS, what="Geofence")
    with transaction():
        archive_geofences([_geofence(brand_id, geofence_id)])


def archive_geofences(fences: Sequence[Geofence]) -> None:
    """Take fences out of use for good, keeping their rows for history (the caller commits).

    An archived fence is inactive (so the index, the offers' triggers and the monitored regions
    leave it out), listens to no offer, and holds no shopper's presence; it is out of every list
    and cannot be read, changed or attached again. Its id and name stay for the coupons issued there.
    """
    if not fences:
        return
    now = utcnow()
    ids = [fence.id for fence in fences]
    for fence in fences:
        fence.archived_at, fence.active = now, False
    db.session.execute(delete(OfferGeofence).where(OfferGeofence.geofence_id.in_(ids)))
    db.session.execute(delete(Presence).where(Presence.geofence_id.in_(ids)))
    bump_version()  # also tells the offers' trigger caches, whose stamp includes it


def _shape_of(data: dict[str, Any]) -> Shape:
    """The circle or the polygon the request gives (exactly one of them)."""
    circle, polygon = data.get("circle"), data.get("polygon")
    if circle is not None and polygon is not None:
        message = "Give a circle or a polygon, not both."
        raise ValidationFailed(f"The fence has both a circle and a polygon. {message}",
                               errors={"json": {"circle": [message], "polygon": [message]}})
    if circle is None and polygon is None:
        message = "Missing: give a circle (center and radius_m) or a GeoJSON polygon."
        raise ValidationFailed("The fence has no shape: give a circle or a polygon.",
                               errors={"json": {"circle": [message], "polygon": [message]}})
    if polygon is not None:
        return polygon  # type: ignore[no-any-return]
    center = circle["center"]
    try:
        return geometry.circle(center.y, center.x, circle["radius_m"])
    except geometry.InvalidGeometry as error:
        raise ValidationFailed.on("circle", str(error)) from None


def _shape_field(data: dict[str, Any]) -> str:
    return "circle" if data.get("circle") is not None else "polygon"


def _field_at_fault(changes: dict[str, Any], fence: Geofence) -> str:
    """Where a shape refused on update is reported: the new shape, the new store, the activation, or
    else the fence's own shape (kept, but no longer within the rules)."""
    if "circle" in changes or "polygon" in changes:
        return _shape_field(changes)
    return next((name for name in ("store_id", "active") if name in changes), fence.kind)


def _set_shape(fence: Geofence, shape: Shape) -> None:
    if isinstance(shape, geometry.Circle):
        fence.kind, fence.center, fence.radius_m = CIRCLE, shapely.Point(shape.lon, shape.lat), shape.radius_m
        fence.area = shape.to_polygon()
    else:
        fence.kind, fence.center, fence.radius_m, fence.area = POLYGON, None, None, shape


def stored_shape(fence: Geofence) -> Shape:
    """A fence's shape as the index sees it: a circle's exact centre and radius, or the polygon."""
    if fence.kind == CIRCLE:
        return geometry.Circle(fence.center.y, fence.center.x, fence.radius_m)
    return fence.area  # type: ignore[no-any-return]


# --- the rules every fence's shape keeps ------------------------------------------------------


@dataclass(frozen=True)
class ShapeProblem:
    """Why a fence's shape breaks the rules: a stable ``reason`` and a message for the client."""

    reason: str
    message: str


def shape_problems(shapes: Sequence[Shape], stores: Sequence[shapely.Point]) -> list[ShapeProblem | None]:
    """For each shape, with the location of its store, what rule it breaks (or None).

    The rules, measured in metres on the sphere: the shape stays clear of the antimeridian (and of the
    poles); a polygon fits in a circle of ``geometry.MAX_RADIUS_M``, as a circular fence must; every
    point of the shape lies within ``GEOFENCE_MAX_STORE_DISTANCE_M`` of its store. Checked on every
    write of a shape, a store or an activation, on every move of a store, and by the index, which
    leaves out any fence that breaks them (rows written before the rules, a limit lowered since).
    """
    limit = float(current_app.config["GEOFENCE_MAX_STORE_DISTANCE_M"])
    crossing, extent, farthest = _measure(shapes, stores)
    problems: list[ShapeProblem | None] = [None] * len(shapes)
    for i in np.flatnonzero(_breaks(crossing, extent, farthest, limit)).tolist():
        problems[i] = _problem(shapes[i], stores[i], bool(crossing[i]), float(extent[i]), float(farthest[i]), limit)
    return problems


def _measure(shapes: Sequence[Shape], stores: Sequence[shapely.Point]) -> tuple[Any, Any, Any]:
    """For each shape: whether it crosses the antimeridian, the radius of its monitoring circle, and
    the distance from its store to its farthest point (metres)."""
    count = len(shapes)
    store_lat = np.array([store.y for store in stores], dtype=float)
    store_lon = np.array([store.x for store in stores], dtype=float)
    crossing, extent, farthest = np.zeros(count, dtype=bool), np.zeros(count), np.zeros(count)
    circles = np.array([isinstance(shape, geometry.Circle) for shape in shapes], dtype=bool)
    rows = np.flatnonzero(circles)
    if len(rows):
        lat, lon, radius = (np.array([getattr(shapes[i], name) for i in rows.tolist()], dtype=float)
                            for name in ("lat", "lon", "radius_m"))
        crossing[rows] = geometry.circles_cross_antimeridian(lat, lon, radius)
        extent[rows] = radius
        farthest[rows] = geometry.circles_farthest_m(lat, lon, radius, store_lat[rows], store_lon[rows])
    rows = np.flatnonzero(~circles)
    if len(rows):
        polygons = [shapes[i] for i in rows.tolist()]
        crossing[rows] = geometry.polygons_cross_antimeridian(polygons)
        extent[rows] = [c.radius_m for c in geometry.bounding_circles(polygons)]
        farthest[rows] = geometry.polygons_farthest_m(polygons, store_lat[rows], store_lon[rows])
    return crossing, extent, farthest


def _breaks(crossing: Any, extent: Any, farthest: Any, limit: float) -> Any:
    return crossing | (extent > geometry.MAX_RADIUS_M) | (farthest > limit)


def _problem(shape: Shape, store: shapely.Point, crossing: bool, extent: float, farthest: float,
             limit: float) -> ShapeProblem:
    if crossing:
        return ShapeProblem(CROSSES_ANTIMERIDIAN, "The fence reaches the antimeridian (longitude ±180°) or a pole: "
                                                  "draw it wholly on one side of longitude ±180°.")
    if extent > geometry.MAX_RADIUS_M:
        return ShapeProblem(GEOFENCE_TOO_LARGE, f"The polygon needs a circle of {_metres(extent)} radius to hold "
                                                f"it; the most is {_metres(geometry.MAX_RADIUS_M)}.")
    message = (f"The fence reaches {_metres(farthest)} from its store; every point of it must lie within "
               f"{_metres(limit)} of the store's location.")
    swapped = _swapped(shape)
    if swapped is not None and not _breaks(*_measure([swapped], [store]), limit)[0]:
        message += " Are longitude and latitude swapped? GeoJSON positions are [longitude, latitude]."
    return ShapeProblem(GEOFENCE_TOO_FAR_FROM_STORE, message)


def _swapped(shape: Shape) -> Shape | None:
    """The shape with each position's longitude and latitude exchanged, if that is a place on Earth."""
    if isinstance(shape, geometry.Circle):
        return geometry.Circle(shape.lon, shape.lat, shape.radius_m) if abs(shape.lon) <= 90 else None
    swapped = shapely.transform(shape, lambda coords: coords[:, ::-1])
    return swapped if abs(shapely.get_coordinates(swapped)[:, 1]).max() <= 90 else None


def _metres(distance: float) -> str:
    return f"{distance / 1000:,.2f} km" if distance >= 1000 else f"{distance:,.0f} m"


def _check_shape(shape: Shape, store: Store, *, field: str) -> None:
    [problem] = shape_problems([shape], [store.location])
    if problem is not None:
        raise ShapeRefused(problem.message, errors={"json": {field: [problem.message]}}, reason=problem.reason)


def check_store_location(*, store_id: uuid.UUID, location: shapely.Point) -> None:
    """Refuse to move a store where its active fences would break the rules (the caller's transaction).

    Inactive fences are checked when they are activated again."""
    fences = db.session.scalars(select(Geofence).where(Geofence.store_id == store_id, Geofence.active.is_(True))
                                .order_by(Geofence.name, Geofence.id)).all()
    problems = shape_problems([stored_shape(fence) for fence in fences], [location] * len(fences))
    for fence, problem in zip(fences, problems):
        if problem is not None:
            message = (f"Moved there, the store's geofence \"{fence.name}\" would break a rule: {problem.message} "
                       "Move, deactivate or delete the fence first.")
            raise ShapeRefused(message, errors={"json": {"location": [message]}}, reason=problem.reason)


def _store_of_brand(brand_id: uuid.UUID, store_id: uuid.UUID) -> Store:
    store = db.session.get(Store, store_id)
    if store is None or store.brand_id != brand_id or store.archived_at is not None:
        raise ValidationFailed.on("store_id", "Not a store of this brand.")
    return store


def _geofence(brand_id: uuid.UUID, geofence_id: uuid.UUID) -> Geofence:
    fence = db.session.get(Geofence, geofence_id)
    if fence is None or fence.brand_id != brand_id or fence.archived_at is not None:
        raise NotFound("Geofence not found.")
    return fence


# --- version stamp and index ----------------------------------------------------------------


def bump_version() -> None:
    """Mark the fences as changed (the caller commits); processes rebuild their index on seeing it."""
    versions.bump(GeofenceVersion)


_STORED_VERSION = select(GeofenceVersion.version).where(GeofenceVersion.id == 1)


def stored_version() -> int:
    return reads.read(_STORED_VERSION).scalar() or 0


@dataclass(frozen=True)
class FenceInfo:
    """What the location pipeline needs to know of a fence besides its shape."""

    id: uuid.UUID
    brand_id: uuid.UUID
    store_id: uuid.UUID
    name: str


@dataclass(frozen=True)
class LoadedIndex:
    index: GeofenceIndex
    fences: dict[str, FenceInfo]
    checked_at: float

    @property
    def version(self) -> int:
        return self.index.version


_BUILD_LOCK = threading.Lock()


def current_index() -> LoadedIndex:
    """This process's index, rebuilt if the stored version moved (checked at most every few seconds)."""
    state: dict[str, LoadedIndex] = current_app.extensions.setdefault("wallet.geofence_index", {})
    loaded = state.get("current")
    now = time.monotonic()
    interval = float(current_app.config["GEOFENCE_INDEX_CHECK_SECONDS"])
    if loaded is not None and now - loaded.checked_at < interval:
        return loaded
    version = stored_version()
    if loaded is not None and loaded.version == version:
        loaded = LoadedIndex(loaded.index, loaded.fences, now)
        state["current"] = loaded
        return loaded
    with _BUILD_LOCK:  # one rebuild per process, however many requests noticed the change
        loaded = state.get("current")
        if loaded is None or loaded.version != version:
            loaded = build_index(version)
            if len(loaded.index) >= int(current_app.config["GEOFENCE_INDEX_GC_FREEZE_MIN"]):
                _exempt_from_gc()
        loaded = LoadedIndex(loaded.index, loaded.fences, now)
        state["current"] = loaded
    return loaded


def _exempt_from_gc() -> None:
    """Keep the index out of the cyclic garbage collector's sight.

    An index holds hundreds of thousands of Python objects (ids, circles, owners); every full
    collection would walk them all: ~85 ms at 10k fences, stopping every thread of the process,
    the worst of a request's latency. None of them is cyclic garbage, so after one collection
    (what is garbage now goes) they are frozen (``gc.freeze``): still freed by reference counting
    when an index is replaced, never walked again. Under ``gunicorn --preload`` this also keeps
    the collector from touching, and so copying, the pages the workers share with the master.
    Done for indexes of ``GEOFENCE_INDEX_GC_FREEZE_MIN`` fences or more: below, the walk is short.
    """
    gc.collect()
    gc.freeze()


def preload_index(app: Flask) -> None:
    """Build the index now, then close every database connection: under ``gunicorn --preload`` the
    master builds it once and the forked workers share it (copy-on-write) instead of each building
    its own on its first request (seconds at 100k fences). Connections must not cross a fork."""
    with app.app_context():
        current_index()
        db.session.remove()
        db.engine.dispose()


def build_index(version: int) -> LoadedIndex:
    rows = db.session.execute(
        select(Geofence.id, Geofence.brand_id, Geofence.store_id, Geofence.name, Geofence.kind, Geofence.center,
               Geofence.radius_m, Store.location).join(Store, Store.id == Geofence.store_id)
        .where(Geofence.active.is_(True))
    ).all()
    # A circle is its centre and radius: only polygons need their area (a circle's is a 64-gon).
    areas = {fence_id: area for fence_id, area in db.session.execute(
        select(Geofence.id, Geofence.area).where(Geofence.active.is_(True), Geofence.kind != CIRCLE))}
    fences, info, stores = [], {}, []
    for row in rows:
        key = str(row.id)
        if row.kind == CIRCLE:
            shape: Any = geometry.Circle(row.center.y, row.center.x, row.radius_m)
        else:
            shape = areas.get(row.id)
            if shape is None:  # made a polygon after the first query: the next version check rebuilds
                continue
        fences.append(Fence(key, shape))
        stores.append(row.location)
        info[key] = FenceInfo(row.id, row.brand_id, row.store_id, row.name)
    # Neither the index nor the phones' region lists may see a shape that breaks the rules.
    problems = shape_problems([fence.shape for fence in fences], stores)
    broken = [(fence.id, problem) for fence, problem in zip(fences, problems) if problem is not None]
    if broken:
        current_app.logger.warning(
            "%d active geofence(s) break the shape rules and are left out of the index: %s", len(broken),
            "; ".join(f"{fence_id} ({problem.reason})" for fence_id, problem in broken[:20]))
        fences = [fence for fence, problem in zip(fences, problems) if problem is None]
        for fence_id, _ in broken:
            del info[fence_id]
    margin = float(current_app.config["GEOFENCE_MARGIN_M"])
    return LoadedIndex(GeofenceIndex(fences, version, margin_m=margin), info, time.monotonic())


def fence_info(fence_id: uuid.UUID) -> FenceInfo | None:
    """A fence's owners straight from the database (for fences no longer in the index)."""
    row = db.session.execute(
        select(Geofence.id, Geofence.brand_id, Geofence.store_id, Geofence.name).where(Geofence.id == fence_id)
    ).first()
    return FenceInfo(row.id, row.brand_id, row.store_id, row.name) if row else None
