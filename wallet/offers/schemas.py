"""Request and response schemas of offers (staff) and coupons (shoppers)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from wallet.auth.schemas import LOCALE
from wallet.cards.schemas import CardBrandSchema
from wallet.core.fields import AwareDateTime, Boolean, GeoJSONPoint, Line, Text
from wallet.core.openapi import Documented
from wallet.core.schemas import StrictSchema
from wallet.offers.models import (
    ACTIVE,
    AMOUNT_OFF,
    BIRTHDAY_MONTH,
    BONUS_POINTS,
    DRAFT,
    DWELL,
    ENDED,
    ENTER,
    FREE_ITEM,
    MEMBERS,
    OPTED_IN,
    PAUSED,
    PERCENT_OFF,
)
from wallet.offers.schedule import minute_of_day

OFFER_STATUSES = (DRAFT, ACTIVE, PAUSED, ENDED)
REWARD_TYPES = (PERCENT_OFF, AMOUNT_OFF, FREE_ITEM, BONUS_POINTS)
TRIGGERS = (ENTER, DWELL)
AUDIENCES = (OPTED_IN, MEMBERS, BIRTHDAY_MONTH)
COUPON_STATUSES = ("active", "redeemed", "expired")
REQUIRED_LOCALES = ("fr", "en")

# The fields each reward type takes, and only those.
REWARD_FIELDS = {
    PERCENT_OFF: {"percent"},
    AMOUNT_OFF: {"amount_minor", "currency"},
    FREE_ITEM: {"item"},
    BONUS_POINTS: {"points"},
}

# Upper bounds keep every count inside the 32-bit integer columns (a 422, never a database error).
MAX_COUNT = 10_000_000
MAX_AMOUNT_MINOR = 100_000_000
MAX_COOLDOWN_MINUTES = 366 * 24 * 60
MIN_COUPON_TTL_MINUTES, MAX_COUPON_TTL_MINUTES = 5, 30 * 24 * 60

# ISO 4217 currencies in circulation (funds, metals and testing codes excluded).
CURRENCIES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG
""".split())

CLOCK = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Not a time of day such as '09:30'.")
CLOCK_OR_MIDNIGHT = validate.Regexp(
    r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", error="Not a time of day such as '18:30' (or '24:00')."
)


def _count(maximum: int = MAX_COUNT, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=maximum), **kwargs)


CURRENCY = validate.OneOf(sorted(CURRENCIES), error="Not an ISO 4217 currency code such as 'EUR'.")


def _one_of_the_reward_types(types: list[str]) -> dict[str, Any]:
    """The JSON Schema of ``_fields_of_its_type``: each type with its fields, and only those."""
    every_field = set().union(*REWARD_FIELDS.values())
    return {"oneOf": [{
        "properties": {"type": {"enum": [kind]}},
        "required": ["type", *sorted(REWARD_FIELDS[kind])],
        "not": {"anyOf": [{"required": [name]} for name in sorted(every_field - REWARD_FIELDS[kind])]},
    } for kind in types]}


class RewardSchema(StrictSchema):
    """What the coupon gives; exactly the fields of its type."""

    OPENAPI_RULES = _one_of_the_reward_types(list(REWARD_TYPES))

    type = Line(required=True, validate=validate.OneOf(REWARD_TYPES))
    percent = fields.Integer(strict=True, validate=validate.Range(min=1, max=100),
                             metadata={"description": "percent_off: 1–100"})
    amount_minor = _count(MAX_AMOUNT_MINOR, metadata={"description": "amount_off: in minor units (cents)"})
    currency = Line(validate=CURRENCY, metadata={"description": "amount_off: ISO 4217, e.g. EUR"})
    item = Line(validate=validate.Length(min=1, max=120), metadata={"description": "free_item: what"})
    points = _count(metadata={"description": "bonus_points: how many"})

    @validates_schema
    def _fields_of_its_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data["type"]
        wanted = REWARD_FIELDS[kind]
        given = set(data) - {"type"}
        errors = {name: [f"Required for the {kind} reward type."] for name in sorted(wanted - given)}
        errors |= {name: [f"Not a field of the {kind} reward type."] for name in sorted(given - wanted)}
        if errors:
            raise ValidationError(errors)


class OfferTextSchema(StrictSchema):
    """The offer's words in one language."""

    title = Line(required=True, validate=validate.Length(min=1, max=80))
    description = Text(required=True, validate=validate.Length(min=1, max=500))
    terms = Text(load_default="", validate=validate.Length(max=2000))


def _has_required_locales(content: dict[str, Any]) -> None:
    missing = [locale for locale in REQUIRED_LOCALES if locale not in content]
    if missing:
        raise ValidationError(f"Texts in {' and '.join(REQUIRED_LOCALES)} are required; missing: {', '.join(missing)}.")
    if len(content) > 20:
        raise ValidationError("At most 20 languages.")


# The JSON Schema of _has_required_locales.
REQUIRED_LOCALES_RULE = Documented(_has_required_locales, required=list(REQUIRED_LOCALES), maxProperties=20)


def _content_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=Line(validate=LOCALE), values=fields.Nested(OfferTextSchema), validate=REQUIRED_LOCALES_RULE,
        metadata={"description": "Texts by locale ('fr', 'en', 'fr-CA', ...); fr and en are required"}, **kwargs,
    )


class ScheduleWindowSchema(StrictSchema):
    """Days and hours, in the store's local time, when the offer triggers."""

    days = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=0, max=6)), required=True,
        validate=validate.Length(min=1, max=7), metadata={"description": "0 = Monday … 6 = Sunday", "uniqueItems": True},
    )
    start = Line(required=True, validate=CLOCK, metadata={"description": "HH:MM, included"})
    end = Line(required=True, validate=CLOCK_OR_MIDNIGHT,
                        metadata={"description": "HH:MM, excluded; after start ('24:00' for midnight)"})

    @validates_schema
    def _one_day_forward(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(set(data["days"])) != len(data["days"]):
            raise ValidationError("A day is listed twice.", "days")
        if minute_of_day(data["end"]) <= minute_of_day(data["start"]):
            raise ValidationError(
                "Must be after start: a window may not cross midnight; use two windows "
                "(e.g. 22:00–24:00, and 00:00–02:00 on the next day).", "end",
            )


def _tier_ids_field(**kwargs: Any) -> fields.List:
    return fields.List(
        fields.UUID(), validate=validate.Length(max=20),
        metadata={"description": "Loyalty tiers of the brand's program the shopper must be in (besides the "
                                 "audience); empty: any shopper of the audience"},
        **kwargs,
    )


class _OfferFields(StrictSchema):
    reward = fields.Nested(RewardSchema)
    content = _content_field()
    default_locale = Line(validate=LOCALE, metadata={"description": "One of the content's locales"})
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(metadata={"description": "After valid_from (excluded)"})
    schedule = fields.List(fields.Nested(ScheduleWindowSchema), validate=validate.Length(max=50),
                           metadata={"description": "Weekly windows in the store's time zone; empty: any time"})
    trigger = Line(validate=validate.OneOf(TRIGGERS))
    dwell_minutes = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=240),
                                   metadata={"description": "Minutes inside before a dwell offer triggers"})
    geofence_ids = fields.List(fields.UUID(), validate=validate.Length(max=500),
                               metadata={"description": "Fences of this brand the offer listens to"})
    all_stores = Boolean(metadata={"description": "Listen to every fence of the brand instead"})
    audience = Line(validate=validate.OneOf(AUDIENCES),
                             metadata={"description": "Always among shoppers opted in to the brand"})
    tier_ids = _tier_ids_field()
    max_per_shopper = _count(allow_none=True)
    cooldown_minutes = _count(MAX_COOLDOWN_MINUTES, allow_none=True,
                              metadata={"description": "Minimum time between two coupons to one shopper"})
    global_budget = _count(allow_none=True, metadata={"description": "Coupons in all"})
    daily_budget = _count(allow_none=True, metadata={"description": "Coupons per day (UTC)"})
    coupon_ttl_minutes = fields.Integer(
        strict=True, validate=validate.Range(min=MIN_COUPON_TTL_MINUTES, max=MAX_COUPON_TTL_MINUTES),
        metadata={"description": "How long a coupon stays usable (never beyond valid_until)"},
    )


class OfferCreateSchema(_OfferFields):
    reward = fields.Nested(RewardSchema, required=True)
    content = _content_field(required=True)
    default_locale = Line(load_default="fr", validate=LOCALE)
    valid_from = AwareDateTime(required=True)
    valid_until = AwareDateTime(required=True)
    schedule = fields.List(fields.Nested(ScheduleWindowSchema), load_default=list, validate=validate.Length(max=50))
    trigger = Line(load_default=ENTER, validate=validate.OneOf(TRIGGERS))
    geofence_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=500))
    all_stores = Boolean(load_default=False)
    audience = Line(load_default=OPTED_IN, validate=validate.OneOf(AUDIENCES))
    tier_ids = _tier_ids_field(load_default=list)
    coupon_ttl_minutes = fields.Integer(
        strict=True, load_default=120,
        validate=validate.Range(min=MIN_COUPON_TTL_MINUTES, max=MAX_COUPON_TTL_MINUTES),
    )


class OfferUpdateSchema(_OfferFields):
    """Fields to change; reward, content, schedule and geofence_ids are replaced as a whole."""


class OfferSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "draft, active, paused or ended"})
    reward = fields.Nested(RewardSchema, dump_only=True)
    content = fields.Dict(keys=Line(), values=fields.Nested(OfferTextSchema), dump_only=True)
    default_locale = fields.String(dump_only=True)
    valid_from = fields.DateTime(dump_only=True)
    valid_until = fields.DateTime(dump_only=True)
    schedule = fields.List(fields.Nested(ScheduleWindowSchema), dump_only=True)
    trigger = fields.String(dump_only=True)
    dwell_minutes = fields.Integer(dump_only=True, allow_none=True)
    geofence_ids = fields.List(fields.UUID(), dump_only=True)
    all_stores = Boolean(dump_only=True)
    audience = fields.String(dump_only=True)
    tier_ids = fields.List(fields.UUID(), dump_only=True)
    max_per_shopper = fields.Integer(dump_only=True, allow_none=True)
    cooldown_minutes = fields.Integer(dump_only=True, allow_none=True)
    global_budget = fields.Integer(dump_only=True, allow_none=True)
    daily_budget = fields.Integer(dump_only=True, allow_none=True)
    coupon_ttl_minutes = fields.Integer(dump_only=True)
    issued_count = fields.Integer(dump_only=True, metadata={"description": "Coupons issued so far"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OfferQueryArgsSchema(StrictSchema):
    status = Line(validate=validate.OneOf(OFFER_STATUSES))


# --- coupons (shoppers) -------------------------------------------------------------------------


class CouponStoreSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    street = fields.String(dump_only=True)
    postal_code = fields.String(dump_only=True)
    city = fields.String(dump_only=True)
    location = GeoJSONPoint(dump_only=True)


class CouponSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    offer_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "active, redeemed, expired or void"})
    locale = fields.String(dump_only=True, metadata={"description": "Language of the texts"})
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    terms = fields.String(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True)
    brand = fields.Nested(CardBrandSchema, dump_only=True)
    store = fields.Nested(CouponStoreSchema, dump_only=True, allow_none=True,
                          metadata={"description": "Where the coupon was issued"})
    issued_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    redeemed_at = fields.DateTime(dump_only=True, allow_none=True)


class CouponQueryArgsSchema(StrictSchema):
    status = Line(validate=validate.OneOf(COUPON_STATUSES),
                           metadata={"description": "active (usable now), redeemed or expired"})


class ScannedCouponSchema(StrictSchema):
    """A coupon as the till sees it: what it gives and whether it may be honoured now."""

    id = fields.UUID(dump_only=True)
    offer_id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    reward = fields.Nested(RewardSchema, dump_only=True)
    status = fields.String(dump_only=True, metadata={"description": "active, redeemed, expired or void"})
    issued_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    usable = Boolean(dump_only=True)
    why_not = fields.String(dump_only=True, metadata={"description": "When not usable: expired, redeemed or void"})
