"""Schemas of offer funnels: the query (range, store) and the aggregated figures."""

from marshmallow import fields, validate

from wallet.core.fields import Boolean, Line
from wallet.core.schemas import StrictSchema

SUPPRESSED = "null when the row is suppressed (fewer distinct shoppers than min_shoppers)"


class FunnelQueryArgsSchema(StrictSchema):
    from_ = fields.Date(data_key="from", metadata={"description": "First UTC day (default: 29 days before 'to')"})
    to = fields.Date(metadata={"description": "Last UTC day, included (default: today)"})
    store_id = fields.UUID(metadata={"description": "Only this store of the brand"})


class FunnelChartQueryArgsSchema(FunnelQueryArgsSchema):
    kind = Line(load_default="funnel", validate=validate.OneOf(["funnel", "daily"]),
                         metadata={"description": "funnel: the stages over the range; daily: a series per day"})
    format = Line(load_default="png", validate=validate.OneOf(["png", "svg"]))




class RatesSchema(StrictSchema):
    issue_rate = fields.Float(allow_none=True, metadata={"description": "coupons / entries"})
    delivery_rate = fields.Float(allow_none=True, metadata={"description": "pushes sent / coupons"})
    open_rate = fields.Float(allow_none=True, metadata={"description": "opens / pushes sent"})
    redemption_rate = fields.Float(allow_none=True, metadata={"description": "redemptions / coupons"})
    entry_to_redemption_rate = fields.Float(allow_none=True, metadata={"description": "redemptions / entries"})


class FiguresSchema(StrictSchema):
    suppressed = Boolean(dump_only=True, metadata={"description": "Figures withheld: too few shoppers"})
    shoppers = fields.Integer(dump_only=True, allow_none=True,
                              metadata={"description": f"Distinct shoppers who entered; {SUPPRESSED}"})
    entries = fields.Integer(dump_only=True, allow_none=True)
    dwells = fields.Integer(dump_only=True, allow_none=True)
    coupons_issued = fields.Integer(dump_only=True, allow_none=True)
    pushes_sent = fields.Integer(dump_only=True, allow_none=True)
    pushes_failed = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "Dead-lettered"})
    pushes_pending = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "Not sent yet"})
    pushes_suppressed = fields.Dict(keys=Line(), values=fields.Integer(), dump_only=True, allow_none=True,
                                    metadata={"description": "Pushes held back, by reason (daily_cap, quiet_hours, "
                                                             "brand_opt_out, no_marketing_consent, ...)"})
    pushes_suppressed_total = fields.Integer(dump_only=True, allow_none=True)
    opens = fields.Integer(dump_only=True, allow_none=True)
    redemptions = fields.Integer(dump_only=True, allow_none=True)
    redeemed_value_minor = fields.Integer(dump_only=True, allow_none=True,
                                          metadata={"description": "amount_off offers: redemptions x amount"})
    currency = fields.String(dump_only=True, allow_none=True)
    rates = fields.Nested(RatesSchema, dump_only=True, allow_none=True)


class StoreFiguresSchema(FiguresSchema):
    store_id = fields.UUID(dump_only=True)
    store_name = fields.String(dump_only=True, allow_none=True)


class DayFiguresSchema(FiguresSchema):
    day = fields.Date(dump_only=True)


class FunnelRowSchema(FiguresSchema):
    day = fields.Date(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    store_name = fields.String(dump_only=True, allow_none=True)


class FunnelSchema(StrictSchema):
    offer_id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    from_ = fields.Date(data_key="from", dump_only=True)
    to = fields.Date(dump_only=True)
    time_zone = fields.String(dump_only=True, metadata={"description": "Days are UTC calendar days"})
    min_shoppers = fields.Integer(dump_only=True,
                                  metadata={"description": "Figures about fewer distinct shoppers are withheld"})
    totals = fields.Nested(FiguresSchema, dump_only=True)
    by_store = fields.List(fields.Nested(StoreFiguresSchema), dump_only=True)
    by_day = fields.List(fields.Nested(DayFiguresSchema), dump_only=True,
                         metadata={"description": "Every day of the range, all stores together"})
