"""Offers, the fences they listen to, their counters (caps and budgets), and the coupons issued."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, JSONDocument, TimestampMixin, UTCDateTime
from wallet.core.time import utcnow

# Lifecycle: draft -> active <-> paused -> ended (ended is final).
DRAFT, ACTIVE, PAUSED, ENDED = "draft", "active", "paused", "ended"
# Rewards.
PERCENT_OFF, AMOUNT_OFF, FREE_ITEM, BONUS_POINTS = "percent_off", "amount_off", "free_item", "bonus_points"
# Triggers and audiences. A ``claim`` offer is a loyalty reward's: issued only when a member
# claims it for points (or fills a stamp card), never by a geofence.
ENTER, DWELL, CLAIM = "enter", "dwell", "claim"
OPTED_IN, MEMBERS, BIRTHDAY_MONTH = "opted_in", "members", "birthday_month"
# Coupon states (expiry is derived from expires_at).
ISSUED, REDEEMED, VOID = "issued", "redeemed", "void"


class Offer(IdMixin, TimestampMixin, Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("issued_count >= 0", name="issued_count_not_negative"),
        Index("ix_offers_brand_id_status", "brand_id", "status"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8), default=DRAFT)
    reward_type: Mapped[str] = mapped_column(String(16))
    reward_percent: Mapped[int | None] = mapped_column(Integer)
    reward_amount_minor: Mapped[int | None] = mapped_column(Integer)
    reward_currency: Mapped[str | None] = mapped_column(String(3))
    reward_item: Mapped[str | None] = mapped_column(String(120))
    reward_points: Mapped[int | None] = mapped_column(Integer)
    # {"fr": {"title": ..., "description": ..., "terms": ...}, "en": {...}}
    content: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    default_locale: Mapped[str] = mapped_column(String(16), default="fr")
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # [{"days": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"}] in the store's local time;
    # empty means at any time within the validity window.
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    trigger: Mapped[str] = mapped_column(String(8), default=ENTER)
    dwell_minutes: Mapped[int | None] = mapped_column(Integer)
    all_stores: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[str] = mapped_column(String(16), default=OPTED_IN)
    # Loyalty tiers (ids, as strings) the shopper must be in, besides the audience; empty: any.
    tier_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list, server_default=text("'[]'"))
    max_per_shopper: Mapped[int | None] = mapped_column(Integer)
    cooldown_minutes: Mapped[int | None] = mapped_column(Integer)
    global_budget: Mapped[int | None] = mapped_column(Integer)
    daily_budget: Mapped[int | None] = mapped_column(Integer)
    coupon_ttl_minutes: Mapped[int] = mapped_column(Integer, default=120)
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("staff_members.id", ondelete="SET NULL")
    )


class OfferGeofence(Base):
    """The fences an offer listens to (unless it listens to all of its brand's stores)."""

    __tablename__ = "offer_geofences"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    geofence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("geofences.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class OfferVersion(Base):
    """One row whose number grows on every change of an offer or of its fences; each process
    compares it with its cache of the offers' triggers per fence (``services.live_triggers``)."""

    __tablename__ = "offer_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferDailyCount(Base):
    """Coupons of an offer issued on one day (UTC), for the daily budget."""

    __tablename__ = "offer_daily_counts"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class OfferShopperCount(Base):
    """Coupons of an offer issued to one shopper, for the per-shopper cap and cooldown."""

    __tablename__ = "offer_shopper_counts"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    shopper_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Coupon(IdMixin, Base):
    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_shopper_id_issued_at", "shopper_id", "issued_at"),)

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"))
    pass_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("passes.id", ondelete="CASCADE"), unique=True)
    geofence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("geofences.id", ondelete="SET NULL"))
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default=ISSUED)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    redeemed_store_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("stores.id", ondelete="SET NULL")
    )
