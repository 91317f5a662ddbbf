"""Schema conventions shared by every API schema."""

from marshmallow import RAISE, Schema, fields, validate


class StrictSchema(Schema):
    """Unknown fields are an error (422), not silently dropped."""

    class Meta:
        unknown = RAISE


def name_field(max_length: int = 120, **kwargs: object) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)  # type: ignore[arg-type]
