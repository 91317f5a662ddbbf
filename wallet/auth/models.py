"""Accounts (shoppers and staff), sign-in sessions, refresh tokens, POS API keys, throttles."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wallet.core.db import Base, IdMixin, TimestampMixin, UTCDateTime
from wallet.core.time import utcnow


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    BRAND_ADMIN = "brand_admin"
    MARKETER = "marketer"
    CASHIER = "cashier"


class Shopper(IdMixin, TimestampMixin, Base):
    __tablename__ = "shoppers"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(16), default="fr-FR")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    consent_location: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConsentEvent(IdMixin, Base):
    """Every change of a shopper's consent, when and through what (sign-up, profile, ...)."""

    __tablename__ = "consent_events"

    shopper_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True)
    consent: Mapped[str] = mapped_column(String(32))
    # For per-brand consents ("brand"): which brand.
    brand_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "staff_members"
    __table_args__ = (
        CheckConstraint(
            "(role = 'platform_admin' AND brand_id IS NULL) OR (role <> 'platform_admin' AND brand_id IS NOT NULL)",
            name="brand_matches_role",
        ),
    )

    brand_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    store_scopes: Mapped[list[StaffStoreScope]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def store_ids(self) -> list[uuid.UUID]:
        return [scope.store_id for scope in self.store_scopes]


class StaffStoreScope(Base):
    """The stores a cashier may act for."""

    __tablename__ = "staff_store_scopes"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("staff_members.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AuthSession(IdMixin, Base):
    """One signed-in device; access tokens name it (``sid``) so that logging out ends them too."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        CheckConstraint("(shopper_id IS NULL) <> (staff_id IS NULL)", name="one_account"),
    )

    shopper_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("shoppers.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(IdMixin, Base):
    """A single-use refresh token (stored as a hash); reuse of a spent one ends its session."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PosApiKey(IdMixin, Base):
    """A store-scoped key for a till integration; only its SHA-256 is kept."""

    __tablename__ = "pos_api_keys"

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SignInThrottle(Base):
    """Failed sign-ins per account e-mail, to slow down password guessing."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
