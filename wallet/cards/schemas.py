"""Request and response schemas of the wallet, member cards, rendered codes and passes."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import ValidationError, fields, validate

from wallet.core.fields import Boolean, GeoJSONPoint, Line, QueryBoolean
from wallet.core.schemas import StrictSchema, name_field
from wallet.passes.symbologies import Symbology

SYMBOLOGY = validate.OneOf([s.value for s in Symbology])


class LatLon(Line):
    """``lat,lon`` in decimal degrees, as a query string value."""

    openapi = {"pattern": r"^[+-]?[0-9]+(\.[0-9]+)?,[+-]?[0-9]+(\.[0-9]+)?$", "example": "48.8575,2.3510"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[float, float]:
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = text.split(",")
        try:
            lat, lon = (float(part) for part in parts)
        except ValueError:
            raise ValidationError("Expected 'lat,lon' in decimal degrees, e.g. 48.8575,2.3510.") from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ValidationError("Coordinates must be finite numbers.")
        if not -90 <= lat <= 90:
            raise ValidationError(f"Latitude {lat} is out of range [-90, 90] (the order is lat,lon).")
        if not -180 <= lon <= 180:
            raise ValidationError(f"Longitude {lon} is out of range [-180, 180].")
        return lat, lon


class CardCreateSchema(StrictSchema):
    # add_card's rule: a catalogue brand, or a shop outside the catalogue with its barcode type.
    OPENAPI_RULES = {"oneOf": [{"required": ["brand_id"], "not": {"required": ["shop_name"]}},
                               {"required": ["shop_name", "symbology"], "not": {"required": ["brand_id"]}}]}
    brand_id = fields.UUID(metadata={"description": "A catalogue brand; its number format and barcode apply"})
    shop_name = name_field(120, metadata={"description": "A shop outside the catalogue (instead of brand_id)"})
    number = Line(required=True, validate=validate.Length(min=1, max=128),
                           metadata={"description": "The number as printed or scanned from the card"})
    symbology = Line(validate=SYMBOLOGY,
                              metadata={"description": "Required for shops outside the catalogue"})
    label = Line(allow_none=True, validate=validate.Length(max=120))


class CardUpdateSchema(StrictSchema):
    label = Line(allow_none=True, validate=validate.Length(max=120))
    shop_name = name_field(120)


class CardBrandSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    logo_url = fields.String(dump_only=True, allow_none=True)
    primary_color = fields.String(dump_only=True)
    secondary_color = fields.String(dump_only=True)


class NearestStoreSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    location = GeoJSONPoint(dump_only=True)


class CardSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"description": "byo (brought by the shopper) or member"})
    brand = fields.Nested(CardBrandSchema, dump_only=True, allow_none=True)
    shop_name = fields.String(dump_only=True, allow_none=True)
    label = fields.String(dump_only=True, allow_none=True)
    number = fields.String(dump_only=True)
    symbology = fields.String(dump_only=True)
    member_number = fields.Method("_member_number", dump_only=True, allow_none=True)
    distance_m = fields.Float(dump_only=True, allow_none=True,
                              metadata={"description": "To the nearest store of the brand (with ?near=)"})
    nearest_store = fields.Nested(NearestStoreSchema, dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def _member_number(self, card: Any) -> str | None:
        membership = getattr(card, "membership", None)
        return membership.member_number if membership is not None else None


class CardQueryArgsSchema(StrictSchema):
    near = LatLon(metadata={"description": "lat,lon: order the wallet by distance to each brand's nearest store"})


class BarcodeQueryArgsSchema(StrictSchema):
    format = Line(load_default="png", validate=validate.OneOf(["png", "svg"]))
    scale = fields.Integer(validate=validate.Range(1, 20), metadata={"description": "Pixels per module"})
    height = fields.Integer(validate=validate.Range(10, 600), metadata={"description": "Bar height (1D codes)"})
    text = QueryBoolean(load_default=True, metadata={"description": "Human-readable line under 1D codes"})
    quiet_zone = QueryBoolean(load_default=True)


class MembershipCreateSchema(StrictSchema):
    brand_id = fields.UUID(required=True)


class MembershipSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    member_number = fields.String(dump_only=True)
    card = fields.Nested(CardSchema, dump_only=True)
    enrolled_at = fields.DateTime(dump_only=True)


class PassSchema(StrictSchema):
    kind = fields.String(dump_only=True, metadata={"description": "M: member card"})
    short_id = fields.String(dump_only=True)
    secret_base32 = fields.String(dump_only=True, metadata={"description": "TOTP secret (RFC 4648 base32)"})
    algorithm = fields.String(dump_only=True)
    digits = fields.Integer(dump_only=True)
    fallback_digits = fields.Integer(dump_only=True)
    period = fields.Integer(dump_only=True)
    qr_format = fields.String(dump_only=True)
    current_code = fields.String(dump_only=True)
    fallback_code = fields.String(dump_only=True, metadata={"description": "For typing at the till"})
    valid_for_seconds = fields.Integer(dump_only=True)
