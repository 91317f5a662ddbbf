"""Declarative base, naming convention and portable column types (PostGIS or SQLite)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import shapely
from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from wallet.core.time import utcnow

# Stable constraint names, so that Alembic revisions can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp, stored in UTC on every backend.

    SQLite keeps no offset, so values read back are re-labelled as UTC; naive values are refused
    on the way in because their meaning would depend on the server's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class GeometryType(TypeDecorator[Any]):
    """A geometry column holding Shapely objects: PostGIS ``geometry`` or WKB bytes on SQLite.

    On SQLite we do not require SpatiaLite: the spatial work that matters at request time happens
    in Shapely, so a WKB blob is enough there. GeoAlchemy2's DDL hooks inspect the attributes
    below; spatial indexes are declared explicitly (GiST, PostgreSQL only) in the models.
    """

    impl = LargeBinary
    cache_ok = True
    spatial_index = False
    use_N_D_index = False

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = 4326) -> None:
        super().__init__()
        self.geometry_type = geometry_type
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        geometry = Geometry(self.geometry_type, srid=self.srid, spatial_index=False)
        if dialect is None:  # GeoAlchemy2 asks without a dialect when classifying columns
            return geometry
        if dialect.name == "postgresql":
            return dialect.type_descriptor(geometry)
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return from_shape(value, srid=self.srid)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, WKBElement):
            return to_shape(value)
        return shapely.from_wkb(bytes(value))

    def __repr__(self) -> str:
        return f"GeometryType({self.geometry_type!r}, srid={self.srid})"


class IdMixin:
    """Random UUID primary keys: public identifiers that reveal no count and cannot be guessed."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
