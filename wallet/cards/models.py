"""Cards in a shopper's wallet, and memberships of brands' loyalty programs."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wallet.brands.models import Brand
from wallet.core.db import Base, IdMixin, TimestampMixin, UTCDateTime
from wallet.core.time import utcnow

BYO = "byo"
MEMBER = "member"


class Card(IdMixin, TimestampMixin, Base):
    """A card the shopper shows at a till: one they brought (``byo``) or one we issued (``member``)."""

    __tablename__ = "cards"
    __table_args__ = (
        # One card per shop and number in a wallet; the key is the brand id or the shop's name.
        UniqueConstraint("shopper_id", "dedupe_key"),
        CheckConstraint("(brand_id IS NULL) <> (shop_name IS NULL)", name="brand_or_shop"),
    )

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True
    )
    shop_name: Mapped[str | None] = mapped_column(String(120))
    label: Mapped[str | None] = mapped_column(String(120))
    number: Mapped[str] = mapped_column(String(128))
    symbology: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(300))

    brand: Mapped[Brand | None] = relationship(lazy="joined")
    membership: Mapped[Membership | None] = relationship(back_populates="card", uselist=False, lazy="joined")


class Membership(IdMixin, Base):
    """A shopper enrolled in a brand's loyalty program, with the member card we issued."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("brand_id", "member_number"),
        UniqueConstraint("shopper_id", "brand_id"),
    )

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    member_number: Mapped[str] = mapped_column(String(32))
    card_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cards.id", ondelete="CASCADE"), unique=True)
    pass_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("passes.id", ondelete="CASCADE"), unique=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    card: Mapped[Card] = relationship(back_populates="membership")
