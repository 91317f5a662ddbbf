"""Schemas of the point-of-sale API."""

from marshmallow import fields, validate

from wallet.core.schemas import StrictSchema
from wallet.offers.schemas import ScannedCouponSchema


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


class ScanResultSchema(StrictSchema):
    kind = fields.String(dump_only=True, metadata={"description": "member_card or coupon"})
    brand_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    member = fields.Nested(ScannedMemberSchema, dump_only=True, metadata={"description": "For a member card"})
    coupon = fields.Nested(ScannedCouponSchema, dump_only=True,
                           metadata={"description": "For a coupon: what it gives, and whether it is usable now"})
