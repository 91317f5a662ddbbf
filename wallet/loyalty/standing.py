"""Where a member stands in a brand's program: balance, stamps and tier, read without changing
anything (shared by the loyalty use cases, the till and offer targeting).

The tier is derived, never stored: the highest tier whose threshold the points earned over the
last 12 months reach (earn and bonus entries, net of refunds), unless a brand admin's override is
in force. Moves up and down therefore happen by themselves, the moment points are earned,
refunded or fall out of the window.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from wallet.cards.models import Membership
from wallet.core.db import UTCDateTime
from wallet.extensions import db
from wallet.loyalty import rules
from wallet.loyalty.models import QUALIFYING_KINDS, LedgerEntry, LoyaltyAccount, LoyaltyProgram, LoyaltyTier

COMPUTED, OVERRIDE = "computed", "override"


@dataclass(frozen=True)
class Standing:
    membership_id: uuid.UUID
    brand_id: uuid.UUID
    balance: int
    stamps: int
    stamp_card_size: int | None
    qualifying_points: int
    tier: LoyaltyTier | None
    tier_source: str | None
    tier_override_until: dt.datetime | None
    next_tier: LoyaltyTier | None
    points_to_next_tier: int | None


def program_of(brand_id: uuid.UUID) -> LoyaltyProgram | None:
    return db.session.scalar(_PROGRAM, {"brand": brand_id})


def tiers_of(brand_id: uuid.UUID) -> list[LoyaltyTier]:
    """The brand's tiers, lowest threshold first."""
    return list(db.session.scalars(_TIERS, {"brand": brand_id}))


# Built once (the till runs them with every purchase and scan), executed with parameters.
_PROGRAM = select(LoyaltyProgram).where(LoyaltyProgram.brand_id == bindparam("brand"))
_TIERS = select(LoyaltyTier).where(LoyaltyTier.brand_id == bindparam("brand")).order_by(LoyaltyTier.threshold_points)


def qualifying_points(membership_id: uuid.UUID, at: dt.datetime) -> int:
    """Points earned over the 12 months before ``at`` (earn and bonus, net of refunds)."""
    total = db.session.scalar(_QUALIFYING, {"membership_id": membership_id, "since": rules.tier_window_start(at),
                                            "until": at})
    return max(0, int(total or 0))


# Built once (it runs with every purchase), executed with parameters.
_QUALIFYING = select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
    LedgerEntry.membership_id == bindparam("membership_id"),
    LedgerEntry.kind.in_(QUALIFYING_KINDS),
    LedgerEntry.created_at > bindparam("since", type_=UTCDateTime()),
    LedgerEntry.created_at <= bindparam("until", type_=UTCDateTime()),
)


@dataclass(frozen=True)
class TierStanding:
    tier: LoyaltyTier | None
    source: str | None
    override_until: dt.datetime | None
    qualifying_points: int


def tier_of(
    membership_id: uuid.UUID, at: dt.datetime, *, tiers: list[LoyaltyTier], override_id: uuid.UUID | None,
    override_until: dt.datetime | None,
) -> TierStanding:
    """The member's tier among ``tiers``: an override in force, else the one their points reach."""
    qualifying = qualifying_points(membership_id, at) if tiers else 0
    computed = rules.tier_for(qualifying, [(tier.threshold_points, tier) for tier in tiers])
    if override_id is not None and (override_until is None or override_until > at):
        chosen = next((tier for tier in tiers if tier.id == override_id), computed)
        return TierStanding(chosen, OVERRIDE, override_until, qualifying)
    return TierStanding(computed, COMPUTED if computed is not None else None, None, qualifying)


def standing_of(
    membership_id: uuid.UUID, brand_id: uuid.UUID, at: dt.datetime, *, program: LoyaltyProgram | None = None,
    tiers: list[LoyaltyTier] | None = None,
) -> Standing:
    account = db.session.get(LoyaltyAccount, membership_id, populate_existing=True)
    program = program if program is not None else program_of(brand_id)
    tiers = tiers if tiers is not None else tiers_of(brand_id)
    found = tier_of(membership_id, at, tiers=tiers,
                    override_id=account.tier_override_id if account is not None else None,
                    override_until=account.tier_override_until if account is not None else None)
    tier, source, until, qualifying = found.tier, found.source, found.override_until, found.qualifying_points
    above = [candidate for candidate in tiers if candidate.threshold_points > qualifying
             and (tier is None or candidate.threshold_points > tier.threshold_points)]
    next_tier = above[0] if above else None
    return Standing(
        membership_id=membership_id,
        brand_id=brand_id,
        balance=account.balance if account is not None else 0,
        stamps=account.stamps if account is not None else 0,
        stamp_card_size=program.stamp_card_size if program is not None else None,
        qualifying_points=qualifying,
        tier=tier,
        tier_source=source,
        tier_override_until=until,
        next_tier=next_tier,
        points_to_next_tier=next_tier.threshold_points - qualifying if next_tier is not None else None,
    )


def current_tier_of(*, shopper_id: uuid.UUID, brand_id: uuid.UUID, at: dt.datetime) -> LoyaltyTier | None:
    """The shopper's tier at the brand now, or None (not a member, no tiers, none reached)."""
    membership_id = db.session.scalar(
        select(Membership.id).where(Membership.shopper_id == shopper_id, Membership.brand_id == brand_id))
    if membership_id is None:
        return None
    tiers = tiers_of(brand_id)
    if not tiers:
        return None
    return standing_of(membership_id, brand_id, at, tiers=tiers).tier
