"""Use cases of the till: who is at it, what a scanned code is, purchases that earn points,
refunds that take them back, and coupons redeemed exactly once.

Every answer that changes something is stored with the row that makes the request unique (the
purchase by its order reference, the refund by its refund reference, the redemption by its
idempotency key), in the same transaction: a retried request gets the first answer, verbatim.
On PostgreSQL, a purchase and a redemption first try ``fast``: the common case in one statement;
what it leaves undone, the use cases below do.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from wallet.auth.models import Role, Shopper
from wallet.auth.principal import POS_KEY, Principal, check_store_access
from wallet.brands.models import Brand
from wallet.cards.models import Membership
from wallet.core import reads
from wallet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import insert_for
from wallet.extensions import db
from wallet.loyalty import services as loyalty
from wallet.loyalty import standing
from wallet.loyalty.models import LoyaltyProgram, LoyaltyReward, Purchase, Refund
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, BONUS_POINTS, Coupon, Offer
from wallet.passes import services as passes
from wallet.passes.models import COUPON, MEMBER_CARD
from wallet.pos import fast, tokens
from wallet.pos.models import Redemption
from wallet.pos.schemas import PurchaseResultSchema, RedemptionResultSchema, RefundResultSchema

TILL_ROLES = (Role.CASHIER, POS_KEY)
SCAN_LIST_LIMIT = 50
# The program and the member a purchase names, in one query (built once: it runs with every purchase).
_PROGRAM_AND_MEMBER = (
    select(LoyaltyProgram, Membership.shopper_id)
    .join(Membership, Membership.brand_id == LoyaltyProgram.brand_id)
    .where(LoyaltyProgram.brand_id == bindparam("brand"), Membership.id == bindparam("membership"))
)
_BRAND_NAME = select(Brand.name).where(Brand.id == bindparam("brand"))
# The answers are stored as the till saw them: dumped once, here, inside the transaction.
_PURCHASE_ANSWER = PurchaseResultSchema()
_REFUND_ANSWER = RefundResultSchema()
_REDEMPTION_ANSWER = RedemptionResultSchema()


@dataclass(frozen=True)
class Answer:
    """A till's answer as first given (JSON-ready), and whether this request replayed it."""

    body: dict[str, Any]
    replayed: bool


class CurrencyMismatch(ValidationFailed):
    reason = "currency_mismatch"


class ReferenceReused(Conflict):
    """The same order, refund or idempotency key with another request."""


def describe_till(*, principal: Principal) -> dict[str, Any]:
    """Which brand and stores a cashier or POS key acts for."""
    _check_till(principal)
    brand_name = reads.read(_BRAND_NAME, {"brand": principal.brand_id}).scalar()
    if brand_name is None:
        raise NotFound("Brand not found.")
    return {
        "actor_id": principal.id,
        "actor_kind": "cashier" if principal.role == Role.CASHIER else POS_KEY,
        "brand_id": principal.brand_id,
        "brand_name": brand_name,
        "store_ids": sorted(principal.store_ids, key=str),
    }


# --- scan -----------------------------------------------------------------------------------


def scan(*, principal: Principal, code: str, store_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Say what a scanned code is, for this till's brand; a genuine rotating code is then spent.

    A member card tells the member's points, tier and stamps, and lists the coupons and rewards
    usable at this store, each with the token that redeems it; a coupon says whether it is usable
    here. The tokens stand for the spent code in the purchase and redemption that follow.
    """
    brand_id, store_id = _till(principal, store_id)
    pass_ = passes.resolve_code(code, brand_id=brand_id)
    now = utcnow()
    expires = now + dt.timedelta(seconds=tokens.TOKEN_TTL)
    if pass_.kind == COUPON:
        # Reported whatever its state: the cashier tells the shopper why an expired one is refused.
        coupon = offers.describe_coupon_for_till(pass_id=pass_.id, store_id=store_id, now=now)
        return {"kind": "coupon", "brand_id": brand_id, "store_id": store_id,
                "coupon": _with_token(coupon, brand_id, store_id), "token_expires_at": expires}
    if pass_.kind != MEMBER_CARD:
        raise ValidationFailed.on("code", "This code is neither a member card nor a coupon.")
    membership, display_name = db.session.execute(
        select(Membership, Shopper.display_name)
        .join(Shopper, Shopper.id == Membership.shopper_id)
        .where(Membership.pass_id == pass_.id)
    ).one()
    usable = [_with_token(coupon, brand_id, store_id) for coupon in offers.usable_coupons_for_till(
        shopper_id=membership.shopper_id, brand_id=brand_id, store_id=store_id, now=now, limit=SCAN_LIST_LIMIT)]
    program = standing.program_of(brand_id)
    loyalty_view, affordable = None, []
    if program is not None:
        member = standing.standing_of(membership.id, brand_id, now, program=program)
        loyalty_view = {"balance": member.balance, "tier": member.tier, "tier_source": member.tier_source,
                        "qualifying_points": member.qualifying_points, "stamps": member.stamps,
                        "stamp_card_size": member.stamp_card_size}
        affordable = _affordable_rewards(brand_id, member, now)
    return {
        "kind": "member_card",
        "brand_id": brand_id,
        "store_id": store_id,
        "member": {
            "membership_id": membership.id,
            "member_number": membership.member_number,
            "display_name": display_name,
            "enrolled_at": membership.enrolled_at,
        },
        "member_token": tokens.issue_token(tokens.MEMBER, subject_id=membership.id, brand_id=brand_id,
                                           store_id=store_id),
        "loyalty": loyalty_view,
        "coupons": [coupon for coupon in usable if coupon["kind"] == "offer"],
        "rewards": [coupon for coupon in usable if coupon["kind"] == "reward"],
        "affordable_rewards": affordable,
        "token_expires_at": expires,
    }


def _with_token(coupon: dict[str, Any], brand_id: uuid.UUID, store_id: uuid.UUID) -> dict[str, Any]:
    if coupon["usable"]:
        coupon["redemption_token"] = tokens.issue_token(tokens.REDEMPTION, subject_id=coupon["id"],
                                                        brand_id=brand_id, store_id=store_id)
    return coupon


def _affordable_rewards(brand_id: uuid.UUID, member: standing.Standing, now: dt.datetime) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(LoyaltyReward, Offer)
        .join(Offer, Offer.id == LoyaltyReward.offer_id)
        .where(LoyaltyReward.brand_id == brand_id, LoyaltyReward.retired_at.is_(None),
               LoyaltyReward.points_cost <= member.balance, Offer.status == ACTIVE, Offer.valid_until > now)
        .order_by(LoyaltyReward.points_cost, LoyaltyReward.id)
        .limit(SCAN_LIST_LIMIT)
    )
    tier_id = str(member.tier.id) if member.tier is not None else None
    return [
        {"id": reward.id, "title": offers.localized(offer, None)[1]["title"], "points_cost": reward.points_cost,
         "reward": offers.reward_of(offer)}
        for reward, offer in rows
        if (not offer.tier_ids or tier_id in offer.tier_ids)
        and (offer.global_budget is None or offer.issued_count < offer.global_budget)
    ]


# --- purchases and refunds ------------------------------------------------------------------


def record_purchase(
    *, principal: Principal, member_token: str, amount_minor: int, currency: str, order_reference: str,
    store_id: uuid.UUID | None = None,
) -> Answer:
    """Credit a member's purchase once per (brand, order reference); a replay gets the first answer.

    The purchase row is inserted first (``ON CONFLICT DO NOTHING``): of many copies of one
    request, one inserts and earns, the others wait on the unique key until it commits, then
    find it and answer what it answered. The same reference with another amount, member,
    currency or store is a 409.
    """
    brand_id, store_id = _till(principal, store_id)
    membership_id = tokens.read_token(tokens.MEMBER, member_token, brand_id=brand_id, store_id=store_id)
    now = utcnow()
    actor = loyalty.Actor.of(principal)
    if fast.available():
        done = fast.record_purchase(brand_id=brand_id, store_id=store_id, membership_id=membership_id,
                                    amount_minor=amount_minor, currency=currency, order_reference=order_reference,
                                    actor_kind=actor.kind, actor_id=actor.id, now=now)
        if isinstance(done, dict):
            return Answer(done, replayed=False)
        if (isinstance(done, fast.PriorPurchase) and done.response is not None
                and (done.membership_id, done.amount_minor, done.currency, done.store_id)
                == (membership_id, amount_minor, currency, store_id)):
            return Answer(done.response, replayed=True)
        # Anything else (a refusal, a card reward the statements leave alone, a race): the general path.
    with transaction() as session:
        found = session.execute(_PROGRAM_AND_MEMBER, {"brand": brand_id, "membership": membership_id}).first()
        if found is None:
            if standing.program_of(brand_id) is None:
                raise loyalty.NoProgram("This brand has no loyalty program: purchases earn nothing.")
            raise NotFound("This member has left the program.")
        program, shopper_id = found
        if currency != program.currency:
            raise CurrencyMismatch(f"The program counts in {program.currency}.",
                                   errors={"json": {"currency": [f"Must be {program.currency}."]}})
        points = loyalty.points_for_purchase(program, amount_minor)
        purchase_id = _insert_once(Purchase, id=uuid.uuid4(), brand_id=brand_id, membership_id=membership_id,
                                   store_id=store_id, order_reference=order_reference, amount_minor=amount_minor,
                                   currency=currency, points=points, refunded_amount_minor=0, points_reversed=0,
                                   stamped=False, actor_kind=actor.kind, actor_id=actor.id, created_at=now)
        if purchase_id is None:
            first = session.execute(
                select(Purchase.membership_id, Purchase.amount_minor, Purchase.currency, Purchase.store_id,
                       Purchase.response)
                .where(Purchase.brand_id == brand_id, Purchase.order_reference == order_reference)).one()
            if (first.membership_id, first.amount_minor, first.currency, first.store_id) != (
                    membership_id, amount_minor, currency, store_id):
                raise ReferenceReused("This order reference was used for another purchase.",
                                      reason="order_reference_reused")
            return Answer(_stored(first.response), replayed=True)
        earned = loyalty.earn_for_purchase(program=program, purchase_id=purchase_id, membership_id=membership_id,
                                           shopper_id=shopper_id, amount_minor=amount_minor, points=points,
                                           store_id=store_id, order_reference=order_reference, actor=actor, at=now)
        body = _PURCHASE_ANSWER.dump({
            "purchase_id": purchase_id, "order_reference": order_reference, "membership_id": membership_id,
            "store_id": store_id, "amount_minor": amount_minor, "currency": currency, "points_earned": earned.points,
            "balance": earned.balance, "tier": earned.tier.tier,
            "stamps": earned.stamps if program.stamp_card_size is not None else None,
            "stamp_card_size": program.stamp_card_size,
            "rewards_issued": [_with_token(offers.describe_coupon_for_till(pass_id=coupon.pass_id, now=now),
                                           brand_id, store_id) for coupon in earned.rewards],
            "created_at": now,
        })
        purchases = Purchase.__table__
        session.execute(update(purchases).where(purchases.c.id == purchase_id).values(
            response=body, stamped=earned.stamped))
    return Answer(body, replayed=False)


def record_refund(
    *, principal: Principal, order_reference: str, refund_reference: str, amount_minor: int, currency: str,
    store_id: uuid.UUID | None = None,
) -> Answer:
    """Give back part or all of a purchase and take back its points in proportion, once per refund
    reference (a replay gets the first answer). Any store of the till's may take the return."""
    brand_id, store_id = _till(principal, store_id)
    now = utcnow()
    actor = loyalty.Actor.of(principal)
    with transaction() as session:
        # Locked: refunds of one purchase queue, so that they never add up beyond its amount.
        purchase = session.scalars(select(Purchase).where(
            Purchase.brand_id == brand_id, Purchase.order_reference == order_reference).with_for_update()).first()
        if purchase is None:
            raise NotFound("No purchase of this brand has this order reference.")
        refund_id = _insert_once(Refund, id=uuid.uuid4(), brand_id=brand_id, purchase_id=purchase.id,
                                 refund_reference=refund_reference, store_id=store_id, amount_minor=amount_minor,
                                 currency=currency, points_reversed=0, points_unrecovered=0, actor_kind=actor.kind,
                                 actor_id=actor.id, created_at=now)
        if refund_id is None:
            first = session.scalars(select(Refund).where(
                Refund.brand_id == brand_id, Refund.refund_reference == refund_reference)).one()
            if (first.purchase_id, first.amount_minor, first.currency, first.store_id) != (
                    purchase.id, amount_minor, currency, store_id):
                raise ReferenceReused("This refund reference was used for another refund.",
                                      reason="refund_reference_reused")
            return Answer(_stored(first.response), replayed=True)
        if currency != purchase.currency:
            raise CurrencyMismatch(f"The purchase was in {purchase.currency}.",
                                   errors={"json": {"currency": [f"Must be {purchase.currency}."]}})
        left = purchase.amount_minor - purchase.refunded_amount_minor
        if amount_minor > left:
            raise ValidationFailed(f"Only {left} of this purchase is left to refund.", reason="refund_exceeds_purchase",
                                   errors={"json": {"amount_minor": [f"At most {left}."]}})
        reversed_ = loyalty.reverse_for_refund(purchase=purchase, amount_minor=amount_minor,
                                               program=standing.program_of(brand_id), actor=actor, store_id=store_id,
                                               at=now)
        refund = session.get(Refund, refund_id)
        assert refund is not None
        refund.points_reversed = reversed_.points_reversed
        refund.points_unrecovered = reversed_.points_unrecovered
        body = _REFUND_ANSWER.dump({
            "refund_id": refund_id, "refund_reference": refund_reference, "order_reference": order_reference,
            "store_id": store_id, "amount_minor": amount_minor, "currency": currency,
            "points_reversed": reversed_.points_reversed, "points_unrecovered": reversed_.points_unrecovered,
            "balance": reversed_.balance,
            "purchase": {"purchase_id": purchase.id, "amount_minor": purchase.amount_minor,
                         "refunded_amount_minor": purchase.refunded_amount_minor, "points": purchase.points,
                         "points_reversed": purchase.points_reversed},
            "created_at": now,
        })
        refund.response = body
    return Answer(body, replayed=False)


# --- redemptions ----------------------------------------------------------------------------


def redeem(
    *, principal: Principal, idempotency_key: str, redemption_token: str, order_reference: str,
    store_id: uuid.UUID | None = None,
) -> Answer:
    """Redeem the coupon a scan vouched for, exactly once, on an order; the key makes retries harmless.

    In one transaction: the redemption row is inserted first, claiming the key (and the coupon:
    the row is unique per coupon too); then one conditional update moves the coupon from issued
    to redeemed if it is still valid; a bonus_points coupon credits its points; the answer is
    stored on the row. The same key again gets that answer; with another request, a 409.
    """
    brand_id, store_id = _till(principal, store_id)
    coupon_id = tokens.read_token(tokens.REDEMPTION, redemption_token, brand_id=brand_id, store_id=store_id)
    request_hash = hashlib.sha256(f"{coupon_id}|{store_id}|{order_reference}".encode()).hexdigest()
    now = utcnow()
    actor = loyalty.Actor.of(principal)
    if fast.available():
        body = fast.redeem(brand_id=brand_id, store_id=store_id, coupon_id=coupon_id, idempotency_key=idempotency_key,
                           request_hash=request_hash, order_reference=order_reference, actor_kind=actor.kind,
                           actor_id=actor.id, now=now)
        if body is not None:
            return Answer(body, replayed=False)
        # Not redeemed by the one statement (a replay, a refusal, bonus points): the general path.
    with transaction() as session:
        redemption_id = _insert_once(Redemption, id=uuid.uuid4(), brand_id=brand_id,
                                     idempotency_key=idempotency_key, request_hash=request_hash, coupon_id=coupon_id,
                                     store_id=store_id, order_reference=order_reference, actor_kind=actor.kind,
                                     actor_id=actor.id, created_at=now)
        if redemption_id is None:
            first = session.execute(select(Redemption.request_hash, Redemption.response).where(
                Redemption.brand_id == brand_id, Redemption.idempotency_key == idempotency_key)).first()
            if first is None:  # not this key: the coupon's own redemption, under another key
                raise offers.CouponAlreadyRedeemed("This coupon was already redeemed.")
            if first.request_hash != request_hash:
                raise ReferenceReused("This idempotency key was used for another redemption.",
                                      reason="idempotency_key_reused")
            return Answer(_stored(first.response), replayed=True)
        coupon, offer = offers.redeem_coupon(coupon_id=coupon_id, brand_id=brand_id, store_id=store_id, at=now)
        bonus, balance = None, None
        if offer.reward_type == BONUS_POINTS and offer.reward_points:
            bonus = offer.reward_points
            balance = _credit_bonus(coupon, bonus, actor=actor, store_id=store_id, order_reference=order_reference,
                                    at=now)
        body = _REDEMPTION_ANSWER.dump({
            "redemption_id": redemption_id, "order_reference": order_reference, "store_id": store_id,
            "redeemed_at": now, "bonus_points": bonus, "balance": balance,
            "coupon": offers.describe_for_till(coupon, offer, now),
        })
        redemptions = Redemption.__table__
        session.execute(update(redemptions).where(redemptions.c.id == redemption_id).values(response=body))
    return Answer(body, replayed=False)


def _credit_bonus(coupon: Coupon, points: int, *, actor: loyalty.Actor, store_id: uuid.UUID, order_reference: str,
                  at: dt.datetime) -> int:
    """A bonus_points coupon is worth points only to a member of a program: refused otherwise, so
    that the coupon stays issued for when the shopper joins."""
    if standing.program_of(coupon.brand_id) is None:
        raise loyalty.NoProgram("This brand has no loyalty program to credit the bonus points to.")
    membership_id = db.session.scalar(select(Membership.id).where(
        Membership.shopper_id == coupon.shopper_id, Membership.brand_id == coupon.brand_id))
    if membership_id is None:
        raise Conflict("The shopper must join the brand's program to receive bonus points.",
                       reason="membership_required")
    return loyalty.award_bonus(membership_id=membership_id, brand_id=coupon.brand_id, points=points,
                               coupon_id=coupon.id, actor=actor, store_id=store_id, order_reference=order_reference,
                               at=at)


# --- helpers --------------------------------------------------------------------------------


def _insert_once(model: Any, **values: Any) -> uuid.UUID | None:
    """Insert a row unless one of its unique keys is taken (then None). The database decides:
    a concurrent insert of the same key makes this one wait until it commits or rolls back."""
    statement = _insert_once_statement(model.__table__, db.session.get_bind().dialect.name)
    return db.session.execute(statement, values).scalar()


@functools.cache
def _insert_once_statement(table: Any, dialect: str) -> Any:
    # Built once per table and executed with parameters: the till's hottest statements skip
    # per-request construction (the rows' columns are the parameters' keys).
    return insert_for(dialect)(table).on_conflict_do_nothing().returning(table.c.id)


def _stored(response: dict[str, Any] | None) -> dict[str, Any]:
    assert response is not None, "a committed request always has its answer"
    return response


def _check_till(principal: Principal) -> None:
    if principal.role not in TILL_ROLES:
        raise PermissionDenied("Only cashiers and POS keys act at the till.")


def _till(principal: Principal, store_id: uuid.UUID | None) -> tuple[uuid.UUID, uuid.UUID]:
    """The till's brand and store: the store named (one of the caller's), or the caller's only one."""
    _check_till(principal)
    assert principal.brand_id is not None
    if store_id is None:
        if len(principal.store_ids) != 1:
            raise ValidationFailed.on("store_id", "Say which of your stores this till is in.")
        return principal.brand_id, next(iter(principal.store_ids))
    check_store_access(principal, principal.brand_id, store_id)
    return principal.brand_id, store_id
