"""Brands and stores: the tenants of the platform and where they trade."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wallet.core.db import Base, GeometryType, IdMixin, TimestampMixin, UTCDateTime


class Brand(IdMixin, TimestampMixin, Base):
    __tablename__ = "brands"

    name: Mapped[str] = mapped_column(String(120))
    # Lower-cased name: two brands may not differ only by case.
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(60))
    website_url: Mapped[str | None] = mapped_column(String(500))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    primary_color: Mapped[str] = mapped_column(String(7), default="#000000")
    secondary_color: Mapped[str] = mapped_column(String(7), default="#FFFFFF")
    card_number_pattern: Mapped[str | None] = mapped_column(String(200))
    default_symbology: Mapped[str] = mapped_column(String(16), default="code128")
    listed: Mapped[bool] = mapped_column(Boolean, default=True)

    stores: Mapped[list[Store]] = relationship(back_populates="brand", cascade="all, delete-orphan")


class Store(IdMixin, TimestampMixin, Base):
    __tablename__ = "stores"
    __table_args__ = (
        Index("ix_stores_location", "location", postgresql_using="gist").ddl_if(dialect="postgresql"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2))
    location = mapped_column(GeometryType("POINT"), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64))
    # Set when the store is deleted: its coupons, purchases and funnel figures still name it, so it
    # stays (out of every list, unusable) instead of taking that history with it.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    brand: Mapped[Brand] = relationship(back_populates="stores")
