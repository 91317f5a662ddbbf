"""Schemas of the shopper's privacy: per-brand consent, consent history, export and erasure."""

from marshmallow import Schema, fields, validate

from wallet.core.fields import Boolean, Line, Password
from wallet.core.schemas import StrictSchema
from wallet.privacy.export import SECTIONS


class BrandConsentSchema(StrictSchema):
    brand_id = fields.UUID(dump_only=True)
    brand_name = fields.String(dump_only=True)
    opted_in = Boolean(dump_only=True)
    source = fields.String(dump_only=True, metadata={"description": "Where it was given: enrolment, profile, ..."})
    updated_at = fields.DateTime(dump_only=True)


class BrandConsentUpdateSchema(StrictSchema):
    opted_in = Boolean(required=True, metadata={"description": "Hear from this brand (offers, coupons)"})


class ConsentChangeSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    consent = fields.String(dump_only=True, metadata={"description": "location, marketing, or brand"})
    brand_id = fields.UUID(dump_only=True, allow_none=True)
    brand_name = fields.String(dump_only=True, allow_none=True)
    granted = Boolean(dump_only=True)
    source = fields.String(dump_only=True, metadata={"description": "sign_up, profile, enrolment, ..."})
    recorded_at = fields.DateTime(dump_only=True)


class ErasureSchema(StrictSchema):
    password = Password(required=True, load_only=True, validate=validate.Length(min=1, max=128),
                             metadata={"description": "The account's password, to confirm"})


def _export_schema() -> type[Schema]:
    """The whole export: one field per section of ``wallet.privacy.export.SECTIONS`` (rows as
    objects; ``profile`` is one object), and ``sections``: each one's table, description and the columns
    left out, each with its reason."""
    section_fields: dict[str, fields.Field] = {
        section.name: fields.List(fields.Dict(), metadata={"description": section.description})
        for section in SECTIONS if section.name != "profile"
    }
    return Schema.from_dict({
        "format_version": fields.Integer(),
        "exported_at": Line(),
        "shopper_id": Line(),
        "profile": fields.Dict(metadata={"description": "The account (the password hash is not exported)"}),
        **section_fields,
        "sections": fields.Dict(),
    }, name="ExportSchema")


ExportSchema = _export_schema()
