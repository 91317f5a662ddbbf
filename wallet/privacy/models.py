"""Per-brand consent: whether a shopper wants to hear from a brand at all."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, UTCDateTime
from wallet.core.time import utcnow


class BrandConsent(Base):
    """The shopper's current opt-in (or opt-out) for one brand; its history is in consent_events."""

    __tablename__ = "brand_consents"

    shopper_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    opted_in: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
