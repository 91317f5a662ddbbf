"""Schemas of the shopper's per-brand consent."""

from marshmallow import fields

from wallet.core.schemas import StrictSchema


class BrandConsentSchema(StrictSchema):
    brand_id = fields.UUID(dump_only=True)
    brand_name = fields.String(dump_only=True)
    opted_in = fields.Boolean(dump_only=True)
    source = fields.String(dump_only=True, metadata={"description": "Where it was given: enrolment, profile, ..."})
    updated_at = fields.DateTime(dump_only=True)


class BrandConsentUpdateSchema(StrictSchema):
    opted_in = fields.Boolean(required=True, metadata={"description": "Hear from this brand (offers, coupons)"})
