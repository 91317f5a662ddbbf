"""Use cases of loyalty programs: brand staff set the rules, tiers and rewards and look after
members; shoppers see their points and claim rewards; a daily job expires points. The ledger
helpers at the end (earning, taking back, bonus) run inside the till's transactions.

The balance never goes negative and always equals the sum of the ledger: every movement is one
conditional statement on the member's account row (``... SET balance = balance - :points WHERE
balance >= :points``) plus one appended entry, in one transaction. Rows are locked in one order —
the request's own row (purchase, refund, redemption, coupon), then the member's account, then an
offer's counters — so that concurrent movements of one member queue instead of deadlocking.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from wallet.auth.models import Role, Shopper
from wallet.auth.principal import Principal, check_brand_access
from wallet.brands.models import Brand
from wallet.cards.models import Membership
from wallet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from wallet.core.pagination import Page, paginate
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import insert_for
from wallet.extensions import db
from wallet.loyalty import rules, standing
from wallet.loyalty.models import (
    ADJUST,
    BONUS,
    EARN,
    EXPIRE,
    REDEEM_REWARD,
    REFUND,
    SYSTEM,
    LedgerEntry,
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyReward,
    LoyaltyTier,
    Purchase,
)
from wallet.loyalty.standing import Standing
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, CLAIM, ENDED, MEMBERS, PAUSED, Coupon, Offer

ADMINS = (Role.BRAND_ADMIN,)
READERS = (Role.BRAND_ADMIN, Role.MARKETER)
# A reward without an end date: the offer behind it needs one.
FOREVER = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
EXPIRY_NOTICE = dt.timedelta(days=30)


class InsufficientPoints(Conflict):
    reason = "insufficient_points"


class NoProgram(Conflict):
    reason = "no_program"


# --- the program (brand admins write, marketers read) -------------------------------------


def get_program(*, principal: Principal, brand_id: uuid.UUID) -> LoyaltyProgram:
    check_brand_access(principal, brand_id, *READERS, what="Loyalty program")
    return _program(brand_id)


def set_program(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> LoyaltyProgram:
    """Create the brand's program or replace its rules (points already earned are not recomputed)."""
    check_brand_access(principal, brand_id, *ADMINS)
    with transaction() as session:
        _brand(brand_id)
        program = session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.brand_id == brand_id).with_for_update())
        if program is None:
            program = LoyaltyProgram(brand_id=brand_id)
            session.add(program)
        stamp_card = data.get("stamp_card")
        if stamp_card is not None:
            reward = session.get(LoyaltyReward, stamp_card["reward_id"])
            if reward is None or reward.brand_id != brand_id or reward.retired_at is not None:
                raise ValidationFailed("The stamp card's reward is not a reward of this brand's catalogue.",
                                       errors={"json": {"stamp_card": {"reward_id": ["No such reward."]}}})
        program.currency = data["currency"]
        program.points_per_unit = data["points_per_unit"]
        program.unit_minor = data["unit_minor"]
        program.points_expiry_months = data["points_expiry_months"]
        program.stamp_card_size = stamp_card["size"] if stamp_card else None
        program.stamp_min_amount_minor = stamp_card["min_amount_minor"] if stamp_card else 0
        program.stamp_reward_id = stamp_card["reward_id"] if stamp_card else None
        try:
            session.flush()
        except IntegrityError:  # two admins setting up the same brand's program at once
            raise Conflict("The program was being set up at the same time: try again.") from None
    return program


def _program(brand_id: uuid.UUID) -> LoyaltyProgram:
    program = standing.program_of(brand_id)
    if program is None:
        raise NotFound("This brand has no loyalty program.")
    return program


def _require_program(brand_id: uuid.UUID) -> LoyaltyProgram:
    _brand(brand_id)
    program = standing.program_of(brand_id)
    if program is None:
        raise NoProgram("Set up the brand's loyalty program first.")
    return program


def _brand(brand_id: uuid.UUID) -> Brand:
    brand = db.session.get(Brand, brand_id)
    if brand is None:
        raise NotFound("Brand not found.")
    return brand


# --- tiers --------------------------------------------------------------------------------


def list_tiers(*, principal: Principal, brand_id: uuid.UUID) -> list[LoyaltyTier]:
    check_brand_access(principal, brand_id, *READERS, what="Loyalty program")
    _brand(brand_id)
    return standing.tiers_of(brand_id)


def create_tier(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> LoyaltyTier:
    check_brand_access(principal, brand_id, *ADMINS)
    with transaction() as session:
        _require_program(brand_id)
        tier = LoyaltyTier(brand_id=brand_id, **data)
        session.add(tier)
        _flush_tier()
    return tier


def update_tier(
    *, principal: Principal, brand_id: uuid.UUID, tier_id: uuid.UUID, changes: dict[str, Any]
) -> LoyaltyTier:
    check_brand_access(principal, brand_id, *ADMINS, what="Tier")
    with transaction():
        tier = _tier(brand_id, tier_id)
        for name, value in changes.items():
            setattr(tier, name, value)
        _flush_tier()
    return tier


def delete_tier(*, principal: Principal, brand_id: uuid.UUID, tier_id: uuid.UUID) -> None:
    """Remove a tier; overrides to it end, and offers that targeted it reach nobody in it any more."""
    check_brand_access(principal, brand_id, *ADMINS, what="Tier")
    with transaction() as session:
        session.delete(_tier(brand_id, tier_id))


def _tier(brand_id: uuid.UUID, tier_id: uuid.UUID) -> LoyaltyTier:
    tier = db.session.get(LoyaltyTier, tier_id)
    if tier is None or tier.brand_id != brand_id:
        raise NotFound("Tier not found.")
    return tier


def _flush_tier() -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("Another tier has this name or this threshold.", reason="tier_exists") from None


# --- the rewards catalogue ----------------------------------------------------------------


@dataclass(frozen=True)
class RewardView:
    """A catalogue reward with the offer that describes its coupon, as staff see it."""

    reward: LoyaltyReward
    offer: Offer

    @property
    def status(self) -> str:
        if self.reward.retired_at is not None:
            return "retired"
        return "active" if self.offer.status == ACTIVE else "paused"

    @property
    def available_until(self) -> dt.datetime | None:
        return None if self.offer.valid_until >= FOREVER else self.offer.valid_until

    @property
    def stock(self) -> int | None:
        return self.offer.global_budget

    @property
    def claimed(self) -> int:
        return self.offer.issued_count

    @property
    def reward_spec(self) -> dict[str, Any]:
        return offers.reward_of(self.offer)

    def __getattr__(self, name: str) -> Any:
        if name in ("content", "default_locale", "coupon_ttl_minutes", "max_per_shopper", "tier_ids"):
            return getattr(self.offer, name)
        return getattr(self.reward, name)


def list_rewards(*, principal: Principal, brand_id: uuid.UUID, include_retired: bool) -> list[RewardView]:
    check_brand_access(principal, brand_id, *READERS, what="Loyalty program")
    _brand(brand_id)
    query = _rewards_query(brand_id)
    if not include_retired:
        query = query.where(LoyaltyReward.retired_at.is_(None))
    return [RewardView(reward, offer) for reward, offer in db.session.execute(query)]


def get_reward(*, principal: Principal, brand_id: uuid.UUID, reward_id: uuid.UUID) -> RewardView:
    check_brand_access(principal, brand_id, *READERS, what="Reward")
    return _reward(brand_id, reward_id)


def create_reward(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> RewardView:
    """Add a reward: ``points_cost`` points for a coupon giving ``reward``, usable at every store."""
    check_brand_access(principal, brand_id, *ADMINS)
    now = utcnow()
    with transaction() as session:
        _require_program(brand_id)
        offer = Offer(id=uuid.uuid4(), brand_id=brand_id, status=ACTIVE, trigger=CLAIM, all_stores=True,
                      audience=MEMBERS, valid_from=now, schedule=[], issued_count=0, created_by_id=_staff_id(principal))
        _apply_reward(offer, {"available_until": None, **data}, brand_id)
        session.add(offer)
        session.flush()
        reward = LoyaltyReward(brand_id=brand_id, offer_id=offer.id, points_cost=data["points_cost"])
        session.add(reward)
        session.flush()
    return RewardView(reward, offer)


def update_reward(
    *, principal: Principal, brand_id: uuid.UUID, reward_id: uuid.UUID, changes: dict[str, Any]
) -> RewardView:
    """Change a reward; ``active: false`` pauses claims. Coupons already claimed keep what they give."""
    check_brand_access(principal, brand_id, *ADMINS, what="Reward")
    with transaction():
        view = _reward(brand_id, reward_id, for_update=True)
        if view.reward.retired_at is not None:
            raise Conflict("A retired reward cannot be changed.", reason="reward_retired")
        if "points_cost" in changes:
            view.reward.points_cost = changes["points_cost"]
        if "active" in changes:
            view.offer.status = ACTIVE if changes["active"] else PAUSED
        _apply_reward(view.offer, changes, brand_id)
    return view


def retire_reward(*, principal: Principal, brand_id: uuid.UUID, reward_id: uuid.UUID) -> None:
    """Take a reward out of the catalogue for good; coupons already claimed stay valid."""
    check_brand_access(principal, brand_id, *ADMINS, what="Reward")
    with transaction():
        view = _reward(brand_id, reward_id, for_update=True)
        program = standing.program_of(brand_id)
        if program is not None and program.stamp_reward_id == reward_id:
            raise Conflict("The stamp card gives this reward: change the stamp card first.", reason="reward_in_use")
        if view.reward.retired_at is None:
            view.reward.retired_at = utcnow()
            view.offer.status = ENDED


def _apply_reward(offer: Offer, values: dict[str, Any], brand_id: uuid.UUID) -> None:
    offer_fields = {name: values[name] for name in ("reward", "content", "default_locale", "coupon_ttl_minutes",
                                                    "max_per_shopper", "tier_ids") if name in values}
    if "stock" in values:
        offer_fields["global_budget"] = values["stock"]
    if "available_until" in values:
        offer_fields["valid_until"] = values["available_until"] or FOREVER
    if "tier_ids" in values:
        offers.check_tiers(brand_id, values["tier_ids"])
    offers.apply_fields(offer, offer_fields)
    errors: dict[str, list[str]] = {}
    if offer.default_locale not in offer.content:
        errors["default_locale"] = [f"No texts in '{offer.default_locale}': use one of the content's locales."]
    if offer.valid_until <= offer.valid_from:
        errors["available_until"] = ["Must be in the future."]
    if errors:
        raise ValidationFailed("The reward's fields do not agree; see errors.", errors={"json": errors})


def _rewards_query(brand_id: uuid.UUID) -> Select[tuple[LoyaltyReward, Offer]]:
    return (
        select(LoyaltyReward, Offer)
        .join(Offer, Offer.id == LoyaltyReward.offer_id)
        .where(LoyaltyReward.brand_id == brand_id)
        .order_by(LoyaltyReward.points_cost, LoyaltyReward.id)
    )


def _reward(brand_id: uuid.UUID, reward_id: uuid.UUID, *, for_update: bool = False) -> RewardView:
    query = _rewards_query(brand_id).where(LoyaltyReward.id == reward_id)
    if for_update:
        query = query.with_for_update()
    row = db.session.execute(query).first()
    if row is None:
        raise NotFound("Reward not found.")
    return RewardView(*row)


def _staff_id(principal: Principal) -> uuid.UUID | None:
    return principal.id if principal.is_staff else None


# --- members (brand admins) ---------------------------------------------------------------


@dataclass(frozen=True)
class MemberView:
    membership: Membership
    display_name: str
    standing: Standing

    def __getattr__(self, name: str) -> Any:
        if name in ("member_number", "enrolled_at"):
            return getattr(self.membership, name)
        return getattr(self.standing, name)


def list_members(
    *, principal: Principal, brand_id: uuid.UUID, member_number: str | None, page: int, page_size: int
) -> Page[MemberView]:
    """The program's members, newest first (one of them with ``member_number``)."""
    check_brand_access(principal, brand_id, *ADMINS, what="Loyalty program")
    _brand(brand_id)
    query = select(Membership).where(Membership.brand_id == brand_id).order_by(
        Membership.enrolled_at.desc(), Membership.id)
    if member_number is not None:
        query = query.where(Membership.member_number == member_number)
    found = paginate(query, page=page, page_size=page_size)
    return Page(items=_member_views(brand_id, found.items), total=found.total)


def get_member(*, principal: Principal, brand_id: uuid.UUID, membership_id: uuid.UUID) -> MemberView:
    check_brand_access(principal, brand_id, *ADMINS, what="Member")
    return _member_views(brand_id, [_membership(brand_id, membership_id)])[0]


def list_member_ledger(
    *, principal: Principal, brand_id: uuid.UUID, membership_id: uuid.UUID, page: int, page_size: int
) -> Page[LedgerEntry]:
    check_brand_access(principal, brand_id, *ADMINS, what="Member")
    _membership(brand_id, membership_id)
    return paginate(_ledger_query(membership_id), page=page, page_size=page_size)


def override_tier(
    *, principal: Principal, brand_id: uuid.UUID, membership_id: uuid.UUID, tier_id: uuid.UUID | None,
    until: dt.datetime | None, reason: str | None,
) -> MemberView:
    """Put a member in ``tier_id`` (until ``until``, or for good), whatever their points; None lifts it."""
    check_brand_access(principal, brand_id, *ADMINS, what="Member")
    now = utcnow()
    with transaction():
        membership = _membership(brand_id, membership_id)
        if tier_id is not None:
            _tier(brand_id, tier_id)
            if until is not None and until <= now:
                raise ValidationFailed.on("until", "Must be in the future.")
        _ensure_account(membership_id, brand_id, now)
        db.session.execute(
            update(LoyaltyAccount).where(LoyaltyAccount.membership_id == membership_id).values(
                tier_override_id=tier_id, tier_override_until=until if tier_id else None,
                tier_override_reason=reason if tier_id else None, updated_at=now)
        )
    return _member_views(brand_id, [membership])[0]


@dataclass(frozen=True)
class Adjustment:
    entry: LedgerEntry
    balance: int


def adjust_points(
    *, principal: Principal, brand_id: uuid.UUID, membership_id: uuid.UUID, points: int, reason: str
) -> Adjustment:
    """Add (or, never below zero, remove) points by hand, with the reason in the ledger."""
    check_brand_access(principal, brand_id, *ADMINS, what="Member")
    now = utcnow()
    with transaction():
        _membership(brand_id, membership_id)
        actor = Actor.of(principal)
        if points > 0:
            balance = _add_points(membership_id, brand_id, points, now).balance
        else:
            balance = _take_points(membership_id, -points, now)
        entry = _append(membership_id=membership_id, brand_id=brand_id, kind=ADJUST, points=points, reason=reason,
                        actor=actor, at=now)
    return Adjustment(entry, balance)


def _membership(brand_id: uuid.UUID, membership_id: uuid.UUID) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.brand_id != brand_id:
        raise NotFound("Member not found.")
    return membership


def _member_views(brand_id: uuid.UUID, memberships: list[Membership]) -> list[MemberView]:
    if not memberships:
        return []
    now = utcnow()
    program = standing.program_of(brand_id)
    tiers = standing.tiers_of(brand_id)
    names = dict(db.session.execute(
        select(Shopper.id, Shopper.display_name).where(Shopper.id.in_({m.shopper_id for m in memberships}))).all())
    return [MemberView(membership, names.get(membership.shopper_id, ""),
                       standing.standing_of(membership.id, brand_id, now, program=program, tiers=tiers))
            for membership in memberships]


def _ledger_query(membership_id: uuid.UUID) -> Select[tuple[LedgerEntry]]:
    return (select(LedgerEntry).where(LedgerEntry.membership_id == membership_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id))


# --- the shopper's side -------------------------------------------------------------------


@dataclass(frozen=True)
class MyLoyalty:
    """One of the shopper's memberships with where they stand in its program."""

    membership: Membership
    brand: Brand
    program: LoyaltyProgram | None
    standing: Standing
    expiring_points: int
    expiring_by: dt.datetime | None

    @property
    def has_program(self) -> bool:
        return self.program is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.standing, name)


def list_my_loyalty(*, principal: Principal) -> list[MyLoyalty]:
    """Balance, tier and stamps at every brand the shopper is a member of."""
    memberships = list(db.session.scalars(
        select(Membership).where(Membership.shopper_id == principal.id).order_by(Membership.enrolled_at.desc())))
    return [_my_loyalty(membership) for membership in memberships]


def get_my_loyalty(*, principal: Principal, brand_id: uuid.UUID) -> MyLoyalty:
    return _my_loyalty(_my_membership(principal, brand_id))


def list_my_ledger(*, principal: Principal, brand_id: uuid.UUID, page: int, page_size: int) -> Page[LedgerEntry]:
    """The shopper's points history at a brand, newest first."""
    membership = _my_membership(principal, brand_id)
    return paginate(_ledger_query(membership.id), page=page, page_size=page_size)


@dataclass(frozen=True)
class MyReward:
    """A reward as a member sees it: in their language, and whether they can have it now."""

    view: RewardView
    locale: str
    text: dict[str, Any]
    affordable: bool
    eligible: bool

    @property
    def available(self) -> bool:
        stock = self.view.stock
        return self.view.status == "active" and (stock is None or self.view.claimed < stock)

    def __getattr__(self, name: str) -> Any:
        if name in ("title", "description", "terms"):
            return self.text.get(name, "")
        return getattr(self.view, name)


def list_my_rewards(*, principal: Principal, brand_id: uuid.UUID, affordable_only: bool) -> list[MyReward]:
    """The brand's active rewards, cheapest first, with whether the member can afford each now."""
    membership = _my_membership(principal, brand_id)
    now = utcnow()
    member = standing.standing_of(membership.id, brand_id, now)
    shopper = db.session.get(Shopper, principal.id)
    locale = shopper.locale if shopper is not None else None
    rows = db.session.execute(_rewards_query(brand_id).where(
        LoyaltyReward.retired_at.is_(None), Offer.status == ACTIVE, Offer.valid_until > now))
    found = []
    for reward, offer in rows:
        chosen, text = offers.localized(offer, locale)
        tier_ok = not offer.tier_ids or (member.tier is not None and str(member.tier.id) in offer.tier_ids)
        entry = MyReward(RewardView(reward, offer), chosen, text, member.balance >= reward.points_cost, tier_ok)
        if not affordable_only or (entry.affordable and entry.eligible and entry.available):
            found.append(entry)
    return found


@dataclass(frozen=True)
class Claim:
    coupon: offers.CouponView
    points_spent: int
    balance: int


def claim_reward(*, principal: Principal, brand_id: uuid.UUID, reward_id: uuid.UUID) -> Claim:
    """Spend points on a reward: the points go and the coupon comes in one transaction, or neither.

    The points are taken by one conditional update (``WHERE balance >= cost``), so that of many
    claims racing for the same points exactly as many succeed as the balance pays for.
    """
    now = utcnow()
    with transaction():
        membership = _my_membership(principal, brand_id)
        view = _reward(brand_id, reward_id)
        if view.reward.retired_at is not None:
            raise NotFound("Reward not found.")
        if view.offer.tier_ids:
            tier = standing.standing_of(membership.id, brand_id, now).tier
            if tier is None or str(tier.id) not in view.offer.tier_ids:
                raise PermissionDenied("This reward is for members of other tiers.", reason="tier_required")
        cost = view.reward.points_cost
        balance = _take_points(membership.id, cost, now)
        coupon = offers.issue_reward_coupon(offer_id=view.offer.id, shopper_id=principal.id, at=now)
        _append(membership_id=membership.id, brand_id=brand_id, kind=REDEEM_REWARD, points=-cost,
                reason=f"Reward: {offers.localized(view.offer, None)[1]['title']}"[:200], actor=Actor.of(principal),
                coupon_id=coupon.id, at=now)
    return Claim(offers.get_my_coupon(principal=principal, coupon_id=coupon.id), cost, balance)


def _my_membership(principal: Principal, brand_id: uuid.UUID) -> Membership:
    membership = db.session.scalar(
        select(Membership).where(Membership.shopper_id == principal.id, Membership.brand_id == brand_id))
    if membership is None:
        raise NotFound("You are not a member of this brand's program.")
    return membership


def _my_loyalty(membership: Membership) -> MyLoyalty:
    now = utcnow()
    brand = db.session.get(Brand, membership.brand_id)
    assert brand is not None
    program = standing.program_of(membership.brand_id)
    member = standing.standing_of(membership.id, membership.brand_id, now, program=program)
    expiring, by = 0, None
    if program is not None and program.points_expiry_months is not None and member.balance > 0:
        by = now + EXPIRY_NOTICE
        expiring = _expiring(membership.id, rules.add_months(by, -program.points_expiry_months))
    return MyLoyalty(membership, brand, program, member, expiring, by)


# --- expiry (the daily job) ---------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryReport:
    accounts: int
    points: int


def expire_points(*, at: dt.datetime | None = None) -> ExpiryReport:
    """Expire the points earned more than each program's ``points_expiry_months`` ago, oldest first.

    Safe to run again, or twice at once: each account is settled in its own transaction under its
    row lock, and what expires is computed from the ledger, which already holds earlier expiries.
    """
    at = at or utcnow()
    accounts = points = 0
    policies = db.session.execute(select(LoyaltyProgram.brand_id, LoyaltyProgram.points_expiry_months).where(
        LoyaltyProgram.points_expiry_months.is_not(None))).all()
    for brand_id, months in policies:
        cutoff = rules.add_months(at, -months)
        candidates = list(db.session.scalars(_expiry_candidates(brand_id, cutoff)))
        db.session.rollback()  # end the read; each account gets its own transaction
        for membership_id in candidates:
            with transaction():
                expired = _expire_account(membership_id, brand_id, cutoff, at)
            if expired:
                accounts += 1
                points += expired
    return ExpiryReport(accounts, points)


def _expiry_candidates(brand_id: uuid.UUID, cutoff: dt.datetime) -> Select[tuple[uuid.UUID]]:
    old_credits = func.sum(case((and_(LedgerEntry.points > 0, LedgerEntry.created_at <= cutoff), LedgerEntry.points),
                                else_=0))
    debits = func.sum(case((LedgerEntry.points < 0, -LedgerEntry.points), else_=0))
    return (select(LedgerEntry.membership_id).where(LedgerEntry.brand_id == brand_id)
            .group_by(LedgerEntry.membership_id).having(old_credits > debits).order_by(LedgerEntry.membership_id))


def _expiring(membership_id: uuid.UUID, cutoff: dt.datetime) -> int:
    old_credits, debits = db.session.execute(
        select(
            func.coalesce(func.sum(case((and_(LedgerEntry.points > 0, LedgerEntry.created_at <= cutoff),
                                         LedgerEntry.points), else_=0)), 0),
            func.coalesce(func.sum(case((LedgerEntry.points < 0, -LedgerEntry.points), else_=0)), 0),
        ).where(LedgerEntry.membership_id == membership_id)
    ).one()
    return rules.expiring_points(credits_earned_by_cutoff=int(old_credits), debits_so_far=int(debits))


def _expire_account(membership_id: uuid.UUID, brand_id: uuid.UUID, cutoff: dt.datetime, at: dt.datetime) -> int:
    account = db.session.get(LoyaltyAccount, membership_id, with_for_update=True, populate_existing=True)
    if account is None:
        return 0
    expiring = min(_expiring(membership_id, cutoff), account.balance)
    if expiring <= 0:
        return 0
    _take_points(membership_id, expiring, at)
    _append(membership_id=membership_id, brand_id=brand_id, kind=EXPIRE, points=-expiring,
            reason=f"Points earned on or before {cutoff.date().isoformat()} expired", actor=Actor.system(), at=at)
    return expiring


# --- the ledger, inside the caller's transaction (these only flush) -----------------------


@dataclass(frozen=True)
class Actor:
    """Who moved points: a principal's role and id, or the system (the expiry job)."""

    kind: str
    id: uuid.UUID | None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(kind=str(principal.role), id=principal.id)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=SYSTEM, id=None)


@dataclass(frozen=True)
class Earned:
    points: int
    balance: int
    stamps: int
    stamped: bool
    tier: standing.TierStanding
    rewards: list[Coupon]


def earn_for_purchase(
    *, program: LoyaltyProgram, purchase_id: uuid.UUID, membership_id: uuid.UUID, shopper_id: uuid.UUID,
    amount_minor: int, points: int, store_id: uuid.UUID, order_reference: str, actor: Actor, at: dt.datetime,
) -> Earned:
    """Credit a purchase's points (and its stamp) to the member; a full stamp card issues its reward.
    Also says the member's tier once the points are in (for the till's answer)."""
    brand_id = program.brand_id
    stamped = program.stamp_card_size is not None and amount_minor >= program.stamp_min_amount_minor
    account = _add_points(membership_id, brand_id, points, at, stamps=1 if stamped else 0)
    stamps = account.stamps
    if points:
        _append(membership_id=membership_id, brand_id=brand_id, kind=EARN, points=points, reason="Purchase",
                actor=actor, store_id=store_id, order_reference=order_reference, purchase_id=purchase_id, at=at)
    rewards: list[Coupon] = []
    if stamped and program.stamp_card_size is not None and stamps >= program.stamp_card_size:
        assert program.stamp_reward_id is not None
        stamps = db.session.execute(
            update(LoyaltyAccount).where(LoyaltyAccount.membership_id == membership_id)
            .values(stamps=LoyaltyAccount.stamps - program.stamp_card_size).returning(LoyaltyAccount.stamps)
        ).scalar_one()
        reward = db.session.get(LoyaltyReward, program.stamp_reward_id)
        assert reward is not None
        rewards.append(offers.issue_reward_coupon(offer_id=reward.offer_id, shopper_id=shopper_id, at=at, owed=True))
    tier = standing.tier_of(membership_id, at, tiers=standing.tiers_of(brand_id),
                            override_id=account.tier_override_id, override_until=account.tier_override_until)
    return Earned(points, account.balance, stamps, stamped, tier, rewards)


def points_for_purchase(program: LoyaltyProgram, amount_minor: int) -> int:
    return rules.points_for(amount_minor, points_per_unit=program.points_per_unit, unit_minor=program.unit_minor)


@dataclass(frozen=True)
class Reversed:
    points_reversed: int
    points_unrecovered: int
    balance: int


def reverse_for_refund(
    *, purchase: Purchase, amount_minor: int, program: LoyaltyProgram | None, actor: Actor,
    store_id: uuid.UUID | None, at: dt.datetime,
) -> Reversed:
    """Take back the points of the refunded part of a purchase, in proportion; never below zero.

    Points the member already spent are not clawed back: the shortfall is reported as
    ``points_unrecovered``. A stamp is withdrawn when the refunds take the purchase below the
    stamp card's minimum (if a stamp is still on the card).
    """
    due = rules.reversal_due(purchase.points, purchase.amount_minor, purchase.refunded_amount_minor, amount_minor)
    account = db.session.get(LoyaltyAccount, purchase.membership_id, with_for_update=True, populate_existing=True)
    available = account.balance if account is not None else 0
    taken = min(due, available)
    balance = available
    if taken > 0:
        balance = _take_points(purchase.membership_id, taken, at)
        _append(membership_id=purchase.membership_id, brand_id=purchase.brand_id, kind=REFUND, points=-taken,
                reason="Refund", actor=actor, store_id=store_id, order_reference=purchase.order_reference,
                purchase_id=purchase.id, at=at)
    purchase.refunded_amount_minor += amount_minor
    purchase.points_reversed += taken
    net = purchase.amount_minor - purchase.refunded_amount_minor
    if purchase.stamped and (program is None or program.stamp_card_size is None
                             or net < program.stamp_min_amount_minor):
        db.session.execute(update(LoyaltyAccount).where(LoyaltyAccount.membership_id == purchase.membership_id,
                                                        LoyaltyAccount.stamps > 0)
                           .values(stamps=LoyaltyAccount.stamps - 1))
        purchase.stamped = False
    db.session.flush()
    return Reversed(taken, due - taken, balance)


def award_bonus(
    *, membership_id: uuid.UUID, brand_id: uuid.UUID, points: int, coupon_id: uuid.UUID, actor: Actor,
    store_id: uuid.UUID, order_reference: str, at: dt.datetime,
) -> int:
    """Credit the points of a redeemed bonus_points coupon; the new balance."""
    balance = _add_points(membership_id, brand_id, points, at).balance
    _append(membership_id=membership_id, brand_id=brand_id, kind=BONUS, points=points, reason="Bonus points coupon",
            actor=actor, store_id=store_id, order_reference=order_reference, coupon_id=coupon_id, at=at)
    return balance


def _ensure_account(membership_id: uuid.UUID, brand_id: uuid.UUID, at: dt.datetime) -> None:
    _add_points(membership_id, brand_id, 0, at)


def _add_points(
    membership_id: uuid.UUID, brand_id: uuid.UUID, points: int, at: dt.datetime, *, stamps: int = 0
) -> Any:
    """Credit an account, creating it with its first points: one statement, the row then locked.
    The account as it is now (balance, stamps, tier override)."""
    statement = _credit_statement(db.session.get_bind().dialect.name)
    return db.session.execute(statement, {"membership_id": membership_id, "brand_id": brand_id, "balance": points,
                                          "stamps": stamps, "created_at": at, "updated_at": at}).one()


@functools.cache
def _credit_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (membership_id) DO UPDATE SET balance = balance + excluded.balance, ...
    built once and executed with parameters (it runs on every purchase)."""
    accounts = LoyaltyAccount.__table__
    insert_ = insert_for(dialect)(accounts)
    return insert_.on_conflict_do_update(
        index_elements=[accounts.c.membership_id],
        set_={"balance": accounts.c.balance + insert_.excluded.balance,
              "stamps": accounts.c.stamps + insert_.excluded.stamps,
              "updated_at": insert_.excluded.updated_at},
    ).returning(accounts.c.balance, accounts.c.stamps, accounts.c.tier_override_id, accounts.c.tier_override_until)


def _take_points(membership_id: uuid.UUID, points: int, at: dt.datetime) -> int:
    """Debit an account if it holds enough, in one conditional statement; the new balance."""
    balance = db.session.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.membership_id == membership_id, LoyaltyAccount.balance >= points)
        .values(balance=LoyaltyAccount.balance - points, updated_at=at)
        .returning(LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar()
    if balance is None:
        raise InsufficientPoints("Not enough points.")
    return int(balance)


def _append(
    *, membership_id: uuid.UUID, brand_id: uuid.UUID, kind: str, points: int, reason: str, actor: Actor,
    at: dt.datetime, store_id: uuid.UUID | None = None, order_reference: str | None = None,
    purchase_id: uuid.UUID | None = None, coupon_id: uuid.UUID | None = None,
) -> LedgerEntry:
    """Append an entry (a plain INSERT: entries are never loaded back to be changed)."""
    values = {"id": uuid.uuid4(), "membership_id": membership_id, "brand_id": brand_id, "kind": kind,
              "points": points, "reason": reason, "store_id": store_id, "order_reference": order_reference,
              "purchase_id": purchase_id, "coupon_id": coupon_id, "actor_kind": actor.kind, "actor_id": actor.id,
              "created_at": at}
    db.session.execute(_APPEND, values)
    return LedgerEntry(**values)


_APPEND = insert(LedgerEntry.__table__)

