"""Coupons redeemed at tills: one row per redemption, keyed by the till's idempotency key."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, JSONDocument, UTCDateTime
from wallet.core.time import utcnow


class Redemption(IdMixin, Base):
    """A coupon redeemed once, and the answer every replay of its idempotency key gets."""

    __tablename__ = "pos_redemptions"
    __table_args__ = (UniqueConstraint("brand_id", "idempotency_key"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of what was asked (coupon, store, order reference): the same key with another
    # request is refused rather than answered with the first request's outcome.
    request_hash: Mapped[str] = mapped_column(String(64))
    # Unique: a second redemption of a coupon is impossible even beside the conditional update.
    coupon_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coupons.id", ondelete="CASCADE"), unique=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="SET NULL"))
    order_reference: Mapped[str] = mapped_column(String(64))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
