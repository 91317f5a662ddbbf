"""Passes we issue (member cards now, coupons later): a per-pass secret behind rotating codes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, UTCDateTime
from wallet.core.time import utcnow

MEMBER_CARD = "M"
COUPON = "C"


class Pass(IdMixin, Base):
    __tablename__ = "passes"

    kind: Mapped[str] = mapped_column(String(1))
    # What a scanned code names; random, so that codes reveal nothing about who holds them.
    short_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(64))
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    # The last TOTP step a till accepted: that step and older ones are never accepted again.
    last_accepted_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
