"""Request and response schemas of loyalty programs (staff) and of the shopper's points."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from wallet.auth.schemas import LOCALE
from wallet.cards.schemas import CardBrandSchema
from wallet.core.fields import AwareDateTime, Boolean, Line, QueryBoolean
from wallet.core.schemas import StrictSchema
from wallet.offers.schemas import (
    CURRENCY,
    MAX_AMOUNT_MINOR,
    MAX_COUNT,
    MAX_COUPON_TTL_MINUTES,
    MIN_COUPON_TTL_MINUTES,
    CouponSchema,
    OfferTextSchema,
    RewardSchema,
    REQUIRED_LOCALES_RULE,
    REWARD_TYPES,
    _one_of_the_reward_types,
)
from wallet.offers.models import BONUS_POINTS

MAX_POINTS = 10**12
MAX_ADJUSTMENT = 10**9


def _points(minimum: int = 0, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=minimum, max=MAX_POINTS), **kwargs)


# --- program ------------------------------------------------------------------------------


class StampCardSchema(StrictSchema):
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=2, max=100),
                          metadata={"description": "Stamps that fill the card"})
    min_amount_minor = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=MAX_AMOUNT_MINOR),
                                      metadata={"description": "A purchase of at least this much adds a stamp"})
    reward_id = fields.UUID(required=True, metadata={"description": "The catalogue reward a full card gives, free"})


class LoyaltyProgramWriteSchema(StrictSchema):
    """The whole program: a PUT replaces every rule."""

    currency = Line(required=True, validate=CURRENCY,
                             metadata={"description": "ISO 4217: purchases in it earn"})
    points_per_unit = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    unit_minor = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=1, max=1_000_000),
                                metadata={"description": "points = floor(amount_minor × points_per_unit / unit_minor), "
                                                         "on the order's total; 1 point per euro: 1 and 100"})
    points_expiry_months = fields.Integer(strict=True, allow_none=True, load_default=None,
                                          validate=validate.Range(min=1, max=120),
                                          metadata={"description": "Points expire this many months after they were "
                                                                   "earned, oldest first; null: never"})
    stamp_card = fields.Nested(StampCardSchema, allow_none=True, load_default=None)


class LoyaltyProgramSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    currency = fields.String(dump_only=True)
    points_per_unit = fields.Integer(dump_only=True)
    unit_minor = fields.Integer(dump_only=True)
    points_expiry_months = fields.Integer(dump_only=True, allow_none=True)
    stamp_card = fields.Method("_stamp_card", dump_only=True, allow_none=True,
                               metadata={"description": "size, min_amount_minor, reward_id; null: none"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _stamp_card(self, program: Any) -> dict[str, Any] | None:
        if program.stamp_card_size is None:
            return None
        return {"size": program.stamp_card_size, "min_amount_minor": program.stamp_min_amount_minor,
                "reward_id": str(program.stamp_reward_id)}


# --- tiers --------------------------------------------------------------------------------


class _TierFields(StrictSchema):
    name = Line(validate=validate.Length(min=1, max=60))
    threshold_points = _points(metadata={"description": "Points earned over the last 12 months to be in this tier"})


class TierCreateSchema(_TierFields):
    name = Line(required=True, validate=validate.Length(min=1, max=60))
    threshold_points = _points(required=True)


class TierUpdateSchema(_TierFields):
    pass


class TierSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    threshold_points = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TierBriefSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    threshold_points = fields.Integer(dump_only=True)


# --- rewards ------------------------------------------------------------------------------


class CatalogueRewardSchema(RewardSchema):
    """What the reward coupon gives (not bonus points: points for points)."""

    OPENAPI_RULES = _one_of_the_reward_types([kind for kind in REWARD_TYPES if kind != BONUS_POINTS])

    @validates_schema
    def _not_points(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("type") == BONUS_POINTS:
            raise ValidationError("A reward for points cannot give points.", "type")


def _content(**kwargs: Any) -> fields.Dict:
    return fields.Dict(keys=Line(validate=LOCALE), values=fields.Nested(OfferTextSchema),
                       validate=REQUIRED_LOCALES_RULE,
                       metadata={"description": "Texts by locale; fr and en are required"}, **kwargs)


class _RewardFields(StrictSchema):
    points_cost = _points(1)
    reward = fields.Nested(CatalogueRewardSchema)
    content = _content()
    default_locale = Line(validate=LOCALE)
    coupon_ttl_minutes = fields.Integer(
        strict=True, validate=validate.Range(min=MIN_COUPON_TTL_MINUTES, max=MAX_COUPON_TTL_MINUTES),
        metadata={"description": "How long a claimed coupon stays usable"})
    stock = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=MAX_COUNT),
                           metadata={"description": "Coupons that may be claimed in all; null: unlimited"})
    max_per_shopper = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_COUNT))
    tier_ids = fields.List(fields.UUID(), validate=validate.Length(max=20),
                           metadata={"description": "Only members of these tiers may claim it; empty: any member"})
    available_until = AwareDateTime(allow_none=True, metadata={"description": "null: no end"})


class RewardCreateSchema(_RewardFields):
    points_cost = _points(1, required=True)
    reward = fields.Nested(CatalogueRewardSchema, required=True)
    content = _content(required=True)
    default_locale = Line(load_default="fr", validate=LOCALE)
    coupon_ttl_minutes = fields.Integer(
        strict=True, load_default=MAX_COUPON_TTL_MINUTES,
        validate=validate.Range(min=MIN_COUPON_TTL_MINUTES, max=MAX_COUPON_TTL_MINUTES))
    stock = fields.Integer(strict=True, allow_none=True, load_default=None,
                           validate=validate.Range(min=0, max=MAX_COUNT))
    tier_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=20))


class RewardUpdateSchema(_RewardFields):
    active = Boolean(metadata={"description": "false pauses claims, true resumes them"})


class RewardQueryArgsSchema(StrictSchema):
    include_retired = QueryBoolean(load_default=False)


class RewardStaffSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    offer_id = fields.UUID(dump_only=True, metadata={"description": "The offer its coupons belong to"})
    status = fields.String(dump_only=True, metadata={"description": "active, paused or retired"})
    points_cost = fields.Integer(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True, attribute="reward_spec")
    content = fields.Dict(keys=Line(), values=fields.Nested(OfferTextSchema), dump_only=True)
    default_locale = fields.String(dump_only=True)
    coupon_ttl_minutes = fields.Integer(dump_only=True)
    stock = fields.Integer(dump_only=True, allow_none=True)
    claimed = fields.Integer(dump_only=True, metadata={"description": "Coupons issued so far"})
    max_per_shopper = fields.Integer(dump_only=True, allow_none=True)
    tier_ids = fields.List(fields.UUID(), dump_only=True)
    available_until = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


# --- members and the ledger ---------------------------------------------------------------


class _StandingFields(StrictSchema):
    balance = fields.Integer(dump_only=True, metadata={"description": "Points to spend (the sum of the ledger)"})
    qualifying_points = fields.Integer(dump_only=True, metadata={"description": "Earned over the last 12 months"})
    tier = fields.Nested(TierBriefSchema, dump_only=True, allow_none=True)
    tier_source = fields.String(dump_only=True, allow_none=True, metadata={"description": "computed or override"})
    tier_override_until = fields.DateTime(dump_only=True, allow_none=True)
    next_tier = fields.Nested(TierBriefSchema, dump_only=True, allow_none=True)
    points_to_next_tier = fields.Integer(dump_only=True, allow_none=True)
    stamps = fields.Integer(dump_only=True)
    stamp_card_size = fields.Integer(dump_only=True, allow_none=True)


class MemberSchema(_StandingFields):
    membership_id = fields.UUID(dump_only=True)
    member_number = fields.String(dump_only=True)
    display_name = fields.String(dump_only=True)
    enrolled_at = fields.DateTime(dump_only=True)


class MemberQueryArgsSchema(StrictSchema):
    member_number = Line(validate=validate.Regexp(r"^\d{6,32}$", error="Digits only."))


class LedgerEntrySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"description": "earn, refund, redeem_reward, bonus, expire, adjust"})
    points = fields.Integer(dump_only=True, metadata={"description": "Positive: credited; negative: debited"})
    reason = fields.String(dump_only=True)
    store_id = fields.UUID(dump_only=True, allow_none=True)
    order_reference = fields.String(dump_only=True, allow_none=True)
    purchase_id = fields.UUID(dump_only=True, allow_none=True)
    coupon_id = fields.UUID(dump_only=True, allow_none=True)
    actor_kind = fields.String(dump_only=True, metadata={"description": "Role of who did it, or system"})
    actor_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class TierOverrideSchema(StrictSchema):
    tier_id = fields.UUID(required=True, allow_none=True, metadata={"description": "null lifts the override"})
    until = AwareDateTime(allow_none=True, load_default=None, metadata={"description": "null: until lifted"})
    reason = Line(validate=validate.Length(min=1, max=200), load_default=None,
                metadata={"description": "Required with a tier_id: why the member gets this tier"})

    @validates_schema
    def _reason_for_an_override(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("tier_id") is not None and not data.get("reason"):
            raise ValidationError("Say why the member gets this tier.", "reason")


class AdjustmentCreateSchema(StrictSchema):
    points = fields.Integer(required=True, strict=True,
                            validate=[validate.Range(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT),
                                      validate.NoneOf([0], error="Must not be 0.")],
                            metadata={"description": "Non-zero; a negative adjustment never takes the balance below 0"})
    reason = Line(required=True, validate=validate.Length(min=1, max=200))


class AdjustmentSchema(StrictSchema):
    entry = fields.Nested(LedgerEntrySchema, dump_only=True)
    balance = fields.Integer(dump_only=True)


# --- the shopper's side -------------------------------------------------------------------


class MyLoyaltySchema(_StandingFields):
    brand = fields.Nested(CardBrandSchema, dump_only=True)
    membership_id = fields.UUID(dump_only=True)
    member_number = fields.String(dump_only=True, attribute="membership.member_number")
    has_program = Boolean(dump_only=True, metadata={"description": "false: the brand gives no points yet"})
    expiring_points = fields.Integer(dump_only=True,
                                     metadata={"description": "Points that expire before expiring_by"})
    expiring_by = fields.DateTime(dump_only=True, allow_none=True)


class MyLedgerEntrySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"description": "earn, refund, redeem_reward, bonus, expire, adjust"})
    points = fields.Integer(dump_only=True)
    reason = fields.String(dump_only=True)
    store_id = fields.UUID(dump_only=True, allow_none=True)
    order_reference = fields.String(dump_only=True, allow_none=True)
    coupon_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class MyRewardQueryArgsSchema(StrictSchema):
    affordable = QueryBoolean(load_default=False,
                                metadata={"description": "Only rewards the member can claim now"})


class MyRewardSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    locale = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    terms = fields.String(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True, attribute="reward_spec")
    points_cost = fields.Integer(dump_only=True)
    coupon_ttl_minutes = fields.Integer(dump_only=True)
    affordable = Boolean(dump_only=True, metadata={"description": "The balance pays for it"})
    eligible = Boolean(dump_only=True, metadata={"description": "The member's tier may claim it"})
    available = Boolean(dump_only=True, metadata={"description": "In stock"})


class ClaimSchema(StrictSchema):
    coupon = fields.Nested(CouponSchema, dump_only=True)
    points_spent = fields.Integer(dump_only=True)
    balance = fields.Integer(dump_only=True)
