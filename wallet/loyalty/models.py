"""Programs, tiers, the rewards catalogue, members' accounts, the points ledger, and the purchases
and refunds that earn and reverse points.

The ledger is append-only (a database trigger refuses changes to its accounting columns); an
account's ``balance`` is a cache of the sum of its entries, moved by the same transaction that
appends each entry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base, IdMixin, JSONDocument, TimestampMixin, UTCDateTime
from wallet.core.time import utcnow

# Ledger entry kinds. Credits are positive, debits negative; every debit uses the oldest points first.
EARN, REFUND, REDEEM_REWARD, BONUS, EXPIRE, ADJUST = "earn", "refund", "redeem_reward", "bonus", "expire", "adjust"
ENTRY_KINDS = (EARN, REFUND, REDEEM_REWARD, BONUS, EXPIRE, ADJUST)
# Points that count towards tiers: what the member earned (net of refunds), not what they spent.
QUALIFYING_KINDS = (EARN, BONUS, REFUND)
# Who wrote an entry besides the roles of principals: the expiry job.
SYSTEM = "system"


class LoyaltyProgram(IdMixin, TimestampMixin, Base):
    """A brand's program: how purchases earn points, when points expire, the stamp card."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (
        CheckConstraint("points_per_unit > 0 AND unit_minor > 0", name="positive_rate"),
        CheckConstraint(
            "(stamp_card_size IS NULL AND stamp_reward_id IS NULL) OR "
            "(stamp_card_size IS NOT NULL AND stamp_reward_id IS NOT NULL)",
            name="stamp_card_complete",
        ),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    # points = floor(amount_minor * points_per_unit / unit_minor): 1 point per euro is 1 / 100.
    points_per_unit: Mapped[int] = mapped_column(Integer)
    unit_minor: Mapped[int] = mapped_column(Integer)
    # Points expire this many calendar months after they were earned (oldest first); None: never.
    points_expiry_months: Mapped[int | None] = mapped_column(Integer)
    # Stamp card: every purchase of at least stamp_min_amount_minor adds a stamp; a full card
    # (stamp_card_size stamps) issues the stamp reward, free.
    stamp_card_size: Mapped[int | None] = mapped_column(Integer)
    stamp_min_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Rewards are retired, never deleted, while a stamp card names them (hence no ON DELETE action).
    stamp_reward_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("loyalty_rewards.id"))


class LoyaltyTier(IdMixin, TimestampMixin, Base):
    """A tier a member reaches by the points they earned over the last 12 months."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        UniqueConstraint("brand_id", "threshold_points"),
        CheckConstraint("threshold_points >= 0", name="threshold_not_negative"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    threshold_points: Mapped[int] = mapped_column(BigInteger)


class LoyaltyReward(IdMixin, TimestampMixin, Base):
    """A catalogue entry: so many points for a coupon of its (catalogue-only) offer.

    The offer holds what the coupon gives, its texts, its time to live and its stock (the
    offer's budget); its trigger is ``claim``, so no geofence ever issues it.
    """

    __tablename__ = "loyalty_rewards"
    __table_args__ = (CheckConstraint("points_cost > 0", name="positive_cost"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), unique=True)
    points_cost: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoyaltyAccount(Base):
    """A member's points and stamps at one brand (created with their first points)."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("stamps >= 0", name="stamps_not_negative"),
    )

    membership_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    # Always the sum of the member's ledger entries: moved in the transaction that appends each one.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    stamps: Mapped[int] = mapped_column(Integer, default=0)
    # A brand admin's choice of tier, which wins over the computed one until tier_override_until.
    tier_override_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    tier_override_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    tier_override_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(IdMixin, Base):
    """One movement of points; never changed or removed (except with its member or brand)."""

    __tablename__ = "loyalty_ledger_entries"
    __table_args__ = (
        CheckConstraint("points <> 0", name="points_not_zero"),
        Index("ix_loyalty_ledger_entries_membership_id_created_at", "membership_id", "created_at"),
    )

    membership_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("memberships.id", ondelete="CASCADE"))
    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="SET NULL"))
    order_reference: Mapped[str | None] = mapped_column(String(64))
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("loyalty_purchases.id", ondelete="SET NULL"), index=True
    )
    # Indexed: erasing a shopper deletes their coupons, which nulls this column in their entries.
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("coupons.id", ondelete="SET NULL"), index=True
    )
    # The principal's role (cashier, pos_key, brand_admin, platform_admin, shopper) or "system".
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Purchase(IdMixin, Base):
    """A purchase a till reported for a member, once per (brand, order reference), with its answer."""

    __tablename__ = "loyalty_purchases"
    __table_args__ = (
        UniqueConstraint("brand_id", "order_reference"),
        CheckConstraint("refunded_amount_minor <= amount_minor", name="refunds_within_amount"),
        CheckConstraint("points_reversed <= points", name="reversal_within_points"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    membership_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("memberships.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="SET NULL"))
    order_reference: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    points: Mapped[int] = mapped_column(BigInteger)
    refunded_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    # Whether the purchase holds a stamp on the member's card (withdrawn if refunds take it below the minimum).
    stamped: Mapped[bool] = mapped_column(Boolean, default=False)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The answer the till got, returned as it was to every replay of the same order reference.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class Refund(IdMixin, Base):
    """Part or all of a purchase given back, once per (brand, refund reference), with its answer."""

    __tablename__ = "loyalty_refunds"
    __table_args__ = (
        UniqueConstraint("brand_id", "refund_reference"),
        CheckConstraint("amount_minor > 0", name="positive_amount"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    purchase_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("loyalty_purchases.id", ondelete="CASCADE"), index=True
    )
    refund_reference: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="SET NULL"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    points_reversed: Mapped[int] = mapped_column(BigInteger)
    # Points the refund should have taken back but could not: the member had already spent them.
    points_unrecovered: Mapped[int] = mapped_column(BigInteger, default=0)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
