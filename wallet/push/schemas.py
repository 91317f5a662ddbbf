"""Request and response schemas of the shopper's devices (push tokens)."""

from marshmallow import fields, validate

from wallet.auth.schemas import LOCALE
from wallet.core.fields import Line
from wallet.core.schemas import StrictSchema
from wallet.push.models import PLATFORMS, REGISTRATION_TOKEN, TOKEN_KINDS


class DeviceCreateSchema(StrictSchema):
    token = Line(required=True, validate=validate.Length(min=1, max=1024),
                          metadata={"description": "What Firebase gave the app on this phone to receive pushes"})
    token_kind = Line(
        load_default=REGISTRATION_TOKEN, validate=validate.OneOf(TOKEN_KINDS),
        metadata={"description": "registration_token (FirebaseMessaging getToken) or fid (a Firebase installation "
                                 "ID, for apps in FID mode)"})
    platform = Line(required=True, validate=validate.OneOf(PLATFORMS))
    app_version = Line(required=True, validate=validate.Length(min=1, max=32))
    locale = Line(required=True, validate=LOCALE, metadata={"description": "e.g. fr-FR"})


class DeviceSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    platform = fields.String(dump_only=True)
    token_kind = fields.String(dump_only=True)
    app_version = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_seen_at = fields.DateTime(dump_only=True, metadata={"description": "Last registration of the token"})
