"""Request and response schemas of brands, stores, staff and POS keys."""

from marshmallow import ValidationError, fields, validate, validates

from wallet.auth.models import Role
from wallet.auth.schemas import PASSWORD_MAX, password_field
from wallet.brands.patterns import MAX_PATTERN_LENGTH, InvalidPattern, check_card_pattern
from wallet.core.fields import Boolean, Email, GeoJSONPoint, Line, Password, QueryBoolean, Text, TimeZone
from wallet.core.schemas import StrictSchema, name_field

SYMBOLOGIES = ("qr", "ean13", "ean8", "upca", "code128", "code39", "itf")
COLOR = validate.Regexp(r"^#[0-9A-Fa-f]{6}$", error="Not a colour such as '#E30613'.")
URL = validate.And(validate.URL(schemes={"https"}, require_tld=True), validate.Length(max=500))
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error="Not an ISO 3166-1 alpha-2 country code such as 'FR'.")


class _BrandFields(StrictSchema):
    name = name_field(120)
    description = Text(allow_none=True, validate=validate.Length(max=2000))
    category = Line(allow_none=True, validate=validate.Length(max=60))
    website_url = Line(allow_none=True, validate=URL)
    logo_url = Line(allow_none=True, validate=URL)
    primary_color = Line(validate=COLOR)
    secondary_color = Line(validate=COLOR)
    card_number_pattern = Line(
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_PATTERN_LENGTH),
        metadata={"description": "Regular expression (RE2 syntax: no backreferences or lookarounds) a loyalty "
                                 "card number must fully match, e.g. ^\\d{13}$"},
    )
    default_symbology = Line(validate=validate.OneOf(SYMBOLOGIES))
    listed = Boolean(metadata={"description": "Shown in the public catalogue"})

    @validates("card_number_pattern")
    def _compiles(self, value: str | None, **kwargs: object) -> None:
        if value is None:
            return
        try:
            check_card_pattern(value)
        except InvalidPattern as error:
            raise ValidationError(str(error)) from None


class BrandCreateSchema(_BrandFields):
    name = name_field(120, required=True)


class BrandUpdateSchema(_BrandFields):
    pass


class CatalogueBrandSchema(StrictSchema):
    """What any shopper may see of a brand."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True, allow_none=True)
    category = fields.String(dump_only=True, allow_none=True)
    website_url = fields.String(dump_only=True, allow_none=True)
    logo_url = fields.String(dump_only=True, allow_none=True)
    primary_color = fields.String(dump_only=True)
    secondary_color = fields.String(dump_only=True)
    card_number_pattern = fields.String(dump_only=True, allow_none=True)
    default_symbology = fields.String(dump_only=True)


class BrandSchema(CatalogueBrandSchema):
    listed = Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CatalogueQueryArgsSchema(StrictSchema):
    q = Line(validate=validate.Length(min=1, max=100), metadata={"description": "Name contains"})


class _StoreFields(StrictSchema):
    name = name_field(120)
    street = name_field(200)
    postal_code = Line(validate=validate.Length(min=1, max=16))
    city = name_field(100)
    country_code = Line(validate=COUNTRY)
    location = GeoJSONPoint()
    time_zone = TimeZone()


class StoreCreateSchema(_StoreFields):
    name = name_field(120, required=True)
    street = name_field(200, required=True)
    postal_code = Line(required=True, validate=validate.Length(min=1, max=16))
    city = name_field(100, required=True)
    country_code = Line(load_default="FR", validate=COUNTRY)
    location = GeoJSONPoint(required=True)
    time_zone = TimeZone(load_default="Europe/Paris")


class StoreUpdateSchema(_StoreFields):
    pass


class StoreSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    street = fields.String(dump_only=True)
    postal_code = fields.String(dump_only=True)
    city = fields.String(dump_only=True)
    country_code = fields.String(dump_only=True)
    location = GeoJSONPoint(dump_only=True)
    time_zone = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


BRAND_STAFF_ROLES = (Role.BRAND_ADMIN.value, Role.MARKETER.value, Role.CASHIER.value)


class StaffCreateSchema(StrictSchema):
    email = Email(required=True, validate=validate.Length(max=254))
    password = password_field(required=True)
    display_name = name_field(100, required=True)
    role = Line(required=True, validate=validate.OneOf(BRAND_STAFF_ROLES))
    store_ids = fields.List(
        fields.UUID(), load_default=list, validate=validate.Length(max=500),
        metadata={"description": "Stores a cashier acts for (cashiers only; at least one)"},
    )


class StaffUpdateSchema(StrictSchema):
    display_name = name_field(100)
    password = password_field()
    current_password = Password(
        load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX),
        metadata={"description": "Your current password: required to change your own password (not another's)"},
    )
    role = Line(validate=validate.OneOf(BRAND_STAFF_ROLES))
    store_ids = fields.List(fields.UUID(), validate=validate.Length(max=500))
    is_active = Boolean(metadata={"description": "False signs the member out everywhere"})


class PosKeyCreateSchema(StrictSchema):
    name = name_field(100, required=True)
    store_id = fields.UUID(required=True)


class PosKeySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True, metadata={"description": "First characters of the key, to recognise it"})
    brand_id = fields.UUID(dump_only=True)
    store_id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class PosKeyCreatedSchema(PosKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "The secret key; shown this once only"})


class PosKeyQueryArgsSchema(StrictSchema):
    include_revoked = QueryBoolean(load_default=False)
