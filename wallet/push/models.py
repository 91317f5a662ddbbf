"""Push: the shoppers' devices, the outbox (written with each coupon, drained by the dispatcher),
the per-shopper daily counters of the push cap, and the opens counted per offer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, JSONDocument, UTCDateTime
from wallet.core.time import utcnow

# Outbox lifecycle: pending -> sending (leased by one dispatcher) -> sent | pending (retry later)
# | dead (dead-lettered, ``reason`` says why); pending -> suppressed (restraint, ``reason``).
PENDING, SENDING, SENT, SUPPRESSED, DEAD = "pending", "sending", "sent", "suppressed", "dead"
FINAL_STATUSES = (SENT, SUPPRESSED, DEAD)

IOS, ANDROID = "ios", "android"
PLATFORMS = (IOS, ANDROID)
# What the app registered: an FCM registration token, or (apps in Firebase's newer FID mode) a
# Firebase installation ID. FCM addresses them differently; an app uses one or the other.
REGISTRATION_TOKEN, FID = "registration_token", "fid"
TOKEN_KINDS = (REGISTRATION_TOKEN, FID)


class PushOutbox(IdMixin, Base):
    __tablename__ = "push_outbox"
    __table_args__ = (Index("ix_push_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("coupons.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # Title, body, data (coupon id, deep link) and locale: what the provider sends.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    collapse_key: Mapped[str] = mapped_column(String(64))
    ttl_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a pending row is due; for a row being sent, when its lease expires (then another
    # dispatcher may take it over: the first one is presumed dead).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The claim of the dispatcher holding the row: outcomes are recorded only under it.
    lease_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Why the row was suppressed or dead-lettered (quiet_hours, daily_cap, unregistered, ...).
    reason: Mapped[str | None] = mapped_column(String(32))
    # Sent again after a dispatcher died holding it: if the provider had accepted the first
    # copy, the phone got it twice (collapsed into one notification by the collapse key).
    duplicate_suspected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The shopper-local day whose cap slot this push took (taken once, kept across retries).
    cap_day: Mapped[dt.date | None] = mapped_column(Date)
    message_id: Mapped[str | None] = mapped_column(String(255))
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PushDevice(IdMixin, Base):
    """A phone's push token; a token belongs to one shopper at a time (it moves on sign-in)."""

    __tablename__ = "push_devices"

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(1024), unique=True)
    token_kind: Mapped[str] = mapped_column(String(20), default=REGISTRATION_TOKEN)
    platform: Mapped[str] = mapped_column(String(8))
    app_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Retired devices get no pushes: removed by the shopper, replaced (over the limit), or
    # reported dead by FCM (unregistered, invalid_token, sender_id_mismatch).
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_reason: Mapped[str | None] = mapped_column(String(32))


class PushDailyCount(Base):
    """Pushes handed to the provider for one shopper on one of their local days (the daily cap)."""

    __tablename__ = "push_daily_counts"

    shopper_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class PushOpenCount(Base):
    """Notifications of an offer's coupons that shoppers opened (each counted once)."""

    __tablename__ = "push_open_counts"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    opens: Mapped[int] = mapped_column(Integer, default=0)
