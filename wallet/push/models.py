"""The push outbox: written in the transaction that issues a coupon, drained by the dispatcher."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, JSONDocument, UTCDateTime
from wallet.core.time import utcnow

PENDING, SENT, SUPPRESSED, DEAD = "pending", "sent", "suppressed", "dead"


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
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
