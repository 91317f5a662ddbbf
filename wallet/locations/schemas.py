"""Schemas of position batches, OS region events, and what the pipeline answers."""

from __future__ import annotations

from marshmallow import fields, validate

from wallet.core.fields import AwareDateTime, Boolean, Line
from wallet.core.schemas import StrictSchema
from wallet.geo.schemas import MonitorSchema
from wallet.offers.schemas import RewardSchema

MAX_BATCH = 120


class _Position(StrictSchema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    accuracy_m = fields.Float(required=True, validate=validate.Range(0, 100_000, min_inclusive=False),
                              metadata={"description": "Horizontal accuracy (68 %), metres"})
    recorded_at = AwareDateTime(required=True, metadata={"description": "When the phone took the fix, with offset"})
    mocked = Boolean(load_default=False, metadata={"description": "The OS flagged a mock location"})


class FixSchema(_Position):
    speed_mps = fields.Float(allow_none=True, validate=validate.Range(0, 1_000),
                             metadata={"description": "m/s; null or absent: unknown"})


class FixBatchSchema(StrictSchema):
    fixes = fields.List(fields.Nested(FixSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class RegionEventSchema(_Position):
    geofence_id = fields.UUID(required=True, metadata={"description": "The monitored region the OS reported"})
    type = Line(required=True, validate=validate.OneOf(["enter", "exit"]))


class RegionEventBatchSchema(StrictSchema):
    events = fields.List(fields.Nested(RegionEventSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_BATCH))


class PresenceEventSchema(StrictSchema):
    type = fields.String(dump_only=True, metadata={"description": "enter, dwell or exit"})
    geofence_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    at = fields.DateTime(dump_only=True)


class IssuedCouponSchema(StrictSchema):
    """A coupon just issued: what a notification shows, in the shopper's language (as the coupon list)."""

    id = fields.UUID(dump_only=True)
    offer_id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True, allow_none=True)
    trigger = fields.String(dump_only=True)
    issued_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    locale = fields.String(dump_only=True, metadata={"description": "Language of the texts"})
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    terms = fields.String(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True)


class RejectedFixesSchema(StrictSchema):
    """Refused fixes, by reason: every reason of ``filters.REASONS`` is present, at 0 when none."""

    future = fields.Integer(dump_only=True, metadata={"description": "Taken later than now, beyond the clock skew "
                                                                     "allowed (LOCATION_MAX_FUTURE)"})
    stale = fields.Integer(dump_only=True, metadata={"description": "Older than LOCATION_MAX_AGE"})
    inaccurate = fields.Integer(dump_only=True, metadata={"description": "Less accurate than "
                                                                         "LOCATION_MAX_ACCURACY_M"})
    mocked = fields.Integer(dump_only=True, metadata={"description": "Flagged by the OS as a mock location"})
    out_of_order = fields.Integer(dump_only=True, metadata={
        "description": "Taken before the shopper's last fix accepted by an earlier report (a batch itself is "
                       "screened oldest first, whatever its order): a fix must not be sent after newer ones"})
    impossible_speed = fields.Integer(dump_only=True, metadata={
        "description": "A jump from the last accepted fix faster than LOCATION_MAX_SPEED_MPS, beyond both accuracies"})
    unknown_region = fields.Integer(dump_only=True, metadata={
        "description": "Region events only, and only when some: events about no active fence"})


class RecordedSchema(StrictSchema):
    accepted = fields.Integer(dump_only=True)
    rejected = fields.Nested(RejectedFixesSchema, dump_only=True,
                             metadata={"description": "Refused fixes by reason, each reason present (0 when none)"})
    events = fields.List(fields.Nested(PresenceEventSchema), dump_only=True)
    coupons = fields.List(fields.Nested(IssuedCouponSchema), dump_only=True)
    monitor = fields.Nested(MonitorSchema, dump_only=True, allow_none=True)


