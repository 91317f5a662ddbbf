"""Request and response schemas of accounts and sign-in."""

from marshmallow import fields, validate

from wallet.core.fields import Boolean, Email, Line, Password, TimeZone
from wallet.core.schemas import StrictSchema, name_field

PASSWORD_MIN = 10
PASSWORD_MAX = 128  # Argon2 takes any length; a bound keeps hashing cost predictable
LOCALE = validate.Regexp(r"^[a-z]{2,3}(-[A-Z]{2})?$", error="Not a locale such as 'fr-FR' or 'en'.")


def password_field(**kwargs: object) -> Password:
    return Password(
        load_only=True,
        validate=validate.Length(
            min=PASSWORD_MIN, max=PASSWORD_MAX, error=f"Passwords have {PASSWORD_MIN} to {PASSWORD_MAX} characters."
        ),
        **kwargs,  # type: ignore[arg-type]
    )


class ConsentsSchema(StrictSchema):
    location = Boolean(metadata={"description": "May we use your position to offer coupons?"})
    marketing = Boolean(metadata={"description": "May brands send you marketing pushes?"})


class ShopperSignUpSchema(StrictSchema):
    email = Email(required=True, validate=validate.Length(max=254))
    password = password_field(required=True)
    display_name = name_field(100, required=True)
    locale = Line(load_default="fr-FR", validate=LOCALE)
    time_zone = TimeZone(load_default="Europe/Paris")
    birthday = fields.Date(load_default=None, allow_none=True)
    consents = fields.Nested(ConsentsSchema, load_default=dict)


class SignInSchema(StrictSchema):
    email = Email(required=True, validate=validate.Length(max=254))
    password = Password(required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX))


class RefreshSchema(StrictSchema):
    refresh_token = Line(required=True, validate=validate.Length(min=1, max=200))


class TokenPairSchema(StrictSchema):
    token_type = fields.String(dump_only=True)
    access_token = fields.String(dump_only=True)
    expires_in = fields.Integer(dump_only=True, metadata={"description": "Seconds"})
    refresh_token = fields.String(dump_only=True, metadata={"description": "Single use; rotate on refresh"})
    refresh_expires_in = fields.Integer(dump_only=True)


class ShopperSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    email = Email(dump_only=True)
    display_name = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    time_zone = fields.String(dump_only=True)
    birthday = fields.Date(dump_only=True, allow_none=True)
    consents = fields.Method("_consents", dump_only=True)
    created_at = fields.DateTime(dump_only=True)

    def _consents(self, shopper: object) -> dict[str, bool]:
        return {
            "location": bool(getattr(shopper, "consent_location")),
            "marketing": bool(getattr(shopper, "consent_marketing")),
        }


class ShopperUpdateSchema(StrictSchema):
    display_name = name_field(100)
    locale = Line(validate=LOCALE)
    time_zone = TimeZone()
    birthday = fields.Date(allow_none=True)
    consents = fields.Nested(ConsentsSchema)


class SignedUpSchema(TokenPairSchema):
    """The tokens where sign-in and refresh give them (top level), and the new account's profile."""

    shopper = fields.Nested(ShopperSchema, dump_only=True)


class StaffMemberSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    email = Email(dump_only=True)
    display_name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    brand_id = fields.UUID(dump_only=True, allow_none=True)
    store_ids = fields.List(fields.UUID(), dump_only=True)
    is_active = Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
