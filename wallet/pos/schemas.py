"""Schemas of the point-of-sale API."""

from marshmallow import EXCLUDE, Schema, fields, validate

from wallet.core.schemas import StrictSchema
from wallet.loyalty.schemas import TierBriefSchema
from wallet.offers.schemas import CURRENCY, MAX_AMOUNT_MINOR, RewardSchema, ScannedCouponSchema

ORDER_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"
ORDER_REFERENCE = validate.Regexp(
    ORDER_REFERENCE_PATTERN,
    error="1 to 64 characters: letters, digits and . _ : / # - (starting with a letter or digit).",
)
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
IDEMPOTENCY_KEY = validate.Regexp(IDEMPOTENCY_KEY_PATTERN, error="1 to 255 printable ASCII characters.")
TOKEN_MAX_LENGTH = 512
TOKEN = validate.Length(min=1, max=TOKEN_MAX_LENGTH)


def _amount(**kwargs: object) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT_MINOR),  # type: ignore[arg-type]
                          **kwargs)


class PosContextSchema(StrictSchema):
    actor_id = fields.UUID(dump_only=True)
    actor_kind = fields.String(dump_only=True, metadata={"description": "cashier or pos_key"})
    brand_id = fields.UUID(dump_only=True)
    brand_name = fields.String(dump_only=True)
    store_ids = fields.List(fields.UUID(), dump_only=True)


class ScanSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=512),
                         metadata={"description": "The decoded text of what was scanned, or the typed fallback code"})
    store_id = fields.UUID(metadata={"description": "The till's store; needed when a cashier works in several"})


class ScannedMemberSchema(StrictSchema):
    membership_id = fields.UUID(dump_only=True)
    member_number = fields.String(dump_only=True)
    display_name = fields.String(dump_only=True)
    enrolled_at = fields.DateTime(dump_only=True)


class TillLoyaltySchema(StrictSchema):
    """Where the member stands in the brand's program."""

    balance = fields.Integer(dump_only=True, metadata={"description": "Points to spend"})
    tier = fields.Nested(TierBriefSchema, dump_only=True, allow_none=True)
    tier_source = fields.String(dump_only=True, allow_none=True, metadata={"description": "computed or override"})
    qualifying_points = fields.Integer(dump_only=True, metadata={"description": "Earned over the last 12 months"})
    stamps = fields.Integer(dump_only=True)
    stamp_card_size = fields.Integer(dump_only=True, allow_none=True)


class TillCouponSchema(ScannedCouponSchema):
    """A coupon at the till, with the token that redeems it while it is usable here."""

    kind = fields.String(dump_only=True, metadata={"description": "offer (geofenced) or reward (loyalty)"})
    why_not = fields.String(dump_only=True, metadata={
        "description": "When not usable: expired, redeemed, void, or other_store (the offer is limited to others)"})
    redemption_token = fields.String(dump_only=True, metadata={
        "description": "For POST /v1/pos/redemptions at this store, within token_expires_at"})


class AffordableRewardSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    points_cost = fields.Integer(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True)


class ScanResultSchema(StrictSchema):
    kind = fields.String(dump_only=True, metadata={"description": "member_card or coupon"})
    brand_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    member = fields.Nested(ScannedMemberSchema, dump_only=True, metadata={"description": "For a member card"})
    member_token = fields.String(dump_only=True, metadata={
        "description": "For a member card: names the member in POST /v1/pos/purchases at this store"})
    loyalty = fields.Nested(TillLoyaltySchema, dump_only=True, allow_none=True,
                            metadata={"description": "For a member card: null if the brand has no program"})
    coupons = fields.List(fields.Nested(TillCouponSchema), dump_only=True, metadata={
        "description": "For a member card: the member's offer coupons usable at this store now"})
    rewards = fields.List(fields.Nested(TillCouponSchema), dump_only=True, metadata={
        "description": "For a member card: the member's reward coupons (claimed or from the stamp card) usable now"})
    affordable_rewards = fields.List(fields.Nested(AffordableRewardSchema), dump_only=True, metadata={
        "description": "For a member card: catalogue rewards the member's points pay for (claimed in the app)"})
    coupon = fields.Nested(TillCouponSchema, dump_only=True,
                           metadata={"description": "For a coupon: what it gives, and whether it is usable here now"})
    token_expires_at = fields.DateTime(dump_only=True, metadata={"description": "When the tokens above lapse"})


# --- purchases and refunds ----------------------------------------------------------------


class PurchaseCreateSchema(StrictSchema):
    member_token = fields.String(required=True, validate=TOKEN,
                                 metadata={"description": "member_token of the scan of the member's card"})
    amount_minor = _amount(required=True, metadata={"description": "What the member paid, in minor units"})
    currency = fields.String(required=True, validate=CURRENCY, metadata={"description": "ISO 4217, the program's"})
    order_reference = fields.String(required=True, validate=ORDER_REFERENCE, metadata={
        "description": "The POS order id: one purchase per reference and brand (a replay gets the first answer)"})
    store_id = fields.UUID(metadata={"description": "The till's store; needed when a cashier works in several"})


class PurchaseResultSchema(StrictSchema):
    purchase_id = fields.UUID(dump_only=True)
    order_reference = fields.String(dump_only=True)
    membership_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    amount_minor = fields.Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    points_earned = fields.Integer(dump_only=True, metadata={
        "description": "floor(amount_minor × points_per_unit / unit_minor)"})
    balance = fields.Integer(dump_only=True)
    tier = fields.Nested(TierBriefSchema, dump_only=True, allow_none=True)
    stamps = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "On the card after this"})
    stamp_card_size = fields.Integer(dump_only=True, allow_none=True)
    rewards_issued = fields.List(fields.Nested(TillCouponSchema), dump_only=True, metadata={
        "description": "Reward coupons this purchase earned (a full stamp card), redeemable at once"})
    created_at = fields.DateTime(dump_only=True)


class RefundCreateSchema(StrictSchema):
    order_reference = fields.String(required=True, validate=ORDER_REFERENCE,
                                    metadata={"description": "The purchase's order reference"})
    refund_reference = fields.String(required=True, validate=ORDER_REFERENCE, metadata={
        "description": "The POS refund id: one refund per reference and brand (a replay gets the first answer)"})
    amount_minor = _amount(required=True, metadata={"description": "What is given back; refunds add up to at most "
                                                                   "the purchase's amount"})
    currency = fields.String(required=True, validate=CURRENCY, metadata={"description": "The purchase's"})
    store_id = fields.UUID(metadata={"description": "The till's store; needed when a cashier works in several"})


class RefundedPurchaseSchema(StrictSchema):
    purchase_id = fields.UUID(dump_only=True)
    amount_minor = fields.Integer(dump_only=True)
    refunded_amount_minor = fields.Integer(dump_only=True)
    points = fields.Integer(dump_only=True)
    points_reversed = fields.Integer(dump_only=True)


class RefundResultSchema(StrictSchema):
    refund_id = fields.UUID(dump_only=True)
    refund_reference = fields.String(dump_only=True)
    order_reference = fields.String(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    amount_minor = fields.Integer(dump_only=True)
    currency = fields.String(dump_only=True)
    points_reversed = fields.Integer(dump_only=True, metadata={"description": "Taken back from the balance"})
    points_unrecovered = fields.Integer(dump_only=True, metadata={
        "description": "Due but already spent by the member: not clawed back (the balance never goes negative)"})
    balance = fields.Integer(dump_only=True)
    purchase = fields.Nested(RefundedPurchaseSchema, dump_only=True)
    created_at = fields.DateTime(dump_only=True)


# --- redemptions --------------------------------------------------------------------------


class IdempotencyHeaderSchema(Schema):
    """The header that makes a retried redemption harmless (other headers are ignored)."""

    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(required=True, data_key="Idempotency-Key", validate=IDEMPOTENCY_KEY, metadata={
        "description": "Unique per redemption attempt (e.g. a UUID); a replay with the same key gets the first answer"})


class RedemptionCreateSchema(StrictSchema):
    redemption_token = fields.String(required=True, validate=TOKEN, metadata={
        "description": "redemption_token of the scan (of the coupon, or of the member's card)"})
    order_reference = fields.String(required=True, validate=ORDER_REFERENCE,
                                    metadata={"description": "The POS order the coupon is used on"})
    store_id = fields.UUID(metadata={"description": "The till's store; needed when a cashier works in several"})


class RedemptionResultSchema(StrictSchema):
    redemption_id = fields.UUID(dump_only=True)
    coupon = fields.Nested(TillCouponSchema, dump_only=True)
    order_reference = fields.String(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    redeemed_at = fields.DateTime(dump_only=True)
    bonus_points = fields.Integer(dump_only=True, allow_none=True,
                                  metadata={"description": "For a bonus_points coupon: points credited"})
    balance = fields.Integer(dump_only=True, allow_none=True,
                             metadata={"description": "For a bonus_points coupon: the member's balance after"})
