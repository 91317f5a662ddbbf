"""Geofences around stores, the version stamp that tells processes to rebuild their index,
and presence: where each shopper stands relative to the fences they are near."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, GeometryType, IdMixin, TimestampMixin, UTCDateTime
from wallet.core.time import utcnow

CIRCLE = "circle"
POLYGON = "polygon"


class Geofence(IdMixin, TimestampMixin, Base):
    """A circle (centre + radius) or a polygon around a store.

    ``area`` is the shape as stored for spatial SQL (circles as a 64-gon); the request path uses the
    exact circle (``center`` + ``radius_m``) or the polygon through the in-memory index.
    """

    __tablename__ = "geofences"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'circle' AND center IS NOT NULL AND radius_m IS NOT NULL) OR "
            "(kind = 'polygon' AND center IS NULL AND radius_m IS NULL)",
            name="shape_matches_kind",
        ),
        Index("ix_geofences_area", "area", postgresql_using="gist").ddl_if(dialect="postgresql"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8))
    center = mapped_column(GeometryType("POINT"), nullable=True)
    radius_m: Mapped[float | None] = mapped_column(Float)
    area = mapped_column(GeometryType("GEOMETRY"), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the fence (or its store) is deleted: coupons still name it. An archived fence is
    # also inactive, so everything that reads active fences (index, triggers) leaves it out.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class GeofenceVersion(Base):
    """One row whose number grows on every geofence change; each process compares it with its index."""

    __tablename__ = "geofence_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Presence(Base):
    """A shopper's state for one fence they are in or near; none exists for fences far away."""

    __tablename__ = "presences"

    shopper_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), primary_key=True
    )
    geofence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("geofences.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    inside: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dwell_reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Until then a new entry is not reported (a shopper pacing along the boundary).
    cooldown_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LastFix(Base):
    """The last accepted fix of a shopper near a fence, for the impossible-speed check across requests."""

    __tablename__ = "last_fixes"

    shopper_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), primary_key=True
    )
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LocationFix(IdMixin, Base):
    """A raw position, kept only when a retention period is configured (none by default)."""

    __tablename__ = "location_fixes"

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
