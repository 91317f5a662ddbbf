"""Use cases of geofences (CRUD for brand staff) and the per-process geofence index they feed.

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


# --- geofence CRUD --------------------------------------------------------------------------


def create_geofence(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> Geofence:
    check_brand_access(principal, brand_id, *MANAGERS)
    with transaction() as session:
        _store_of_brand(brand_id, data["store_id"])
        fence = Geofence(brand_id=brand_id, store_id=data["store_id"], name=data["name"],
                         active=data.get("active", True), area=shapely.Point(0, 0))
        _set_shape(fence, data)
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
    with transaction():
        fence = _geofence(brand_id, geofence_id)
        if "store_id" in changes:
            _store_of_brand(brand_id, changes["store_id"])
            fence.store_id = changes["store_id"]
        for name in ("name", "active"):
            if name in changes:
                setattr(fence, name, changes[name])
        if "circle" in changes or "polygon" in changes:
            _set_shape(fence, changes)
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


def _set_shape(fence: Geofence, data: dict[str, Any]) -> None:
    circle, polygon = data.get("circle"), data.get("polygon")
    if (circle is None) == (polygon is None):
        raise ValidationFailed("Give the fence either a circle or a polygon.",
                               errors={"json": {"circle": ["Give a circle or a polygon, not both."]}})
    if circle is not None:
        center = circle["center"]
        try:
            shape = geometry.circle(center.y, center.x, circle["radius_m"])
        except geometry.InvalidGeometry as error:
            raise ValidationFailed.on("circle", str(error)) from None
        fence.kind, fence.center, fence.radius_m, fence.area = CIRCLE, center, shape.radius_m, shape.to_polygon()
    else:
        fence.kind, fence.center, fence.radius_m, fence.area = POLYGON, None, None, polygon


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
               Geofence.radius_m).where(Geofence.active.is_(True))
    ).all()
    # A circle is its centre and radius: only polygons need their area (a circle's is a 64-gon).
    areas = {fence_id: area for fence_id, area in db.session.execute(
        select(Geofence.id, Geofence.area).where(Geofence.active.is_(True), Geofence.kind != CIRCLE))}
    fences, info = [], {}
    for row in rows:
        key = str(row.id)
        if row.kind == CIRCLE:
            shape: Any = geometry.Circle(row.center.y, row.center.x, row.radius_m)
        else:
            shape = areas.get(row.id)
            if shape is None:  # made a polygon after the first query: the next version check rebuilds
                continue
        fences.append(Fence(key, shape))
        info[key] = FenceInfo(row.id, row.brand_id, row.store_id, row.name)
    margin = float(current_app.config["GEOFENCE_MARGIN_M"])
    return LoadedIndex(GeofenceIndex(fences, version, margin_m=margin), info, time.monotonic())


def fence_info(fence_id: uuid.UUID) -> FenceInfo | None:
    """A fence's owners straight from the database (for fences no longer in the index)."""
    row = db.session.execute(
        select(Geofence.id, Geofence.brand_id, Geofence.store_id, Geofence.name).where(Geofence.id == fence_id)
    ).first()
    return FenceInfo(row.id, row.brand_id, row.store_id, row.name) if row else None
