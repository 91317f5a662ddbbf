"""Schemas of the point-of-sale API."""

from marshmallow import fields

from wallet.core.schemas import StrictSchema


class PosContextSchema(StrictSchema):
    actor_id = fields.UUID(dump_only=True)
    actor_kind = fields.String(dump_only=True, metadata={"description": "cashier or pos_key"})
    brand_id = fields.UUID(dump_only=True)
    brand_name = fields.String(dump_only=True)
    store_ids = fields.List(fields.UUID(), dump_only=True)
