"""Schema conventions shared by every API schema."""

from marshmallow import RAISE, Schema, validate

from wallet.core.fields import Line


class StrictSchema(Schema):
    """Unknown fields are an error (422), not silently dropped."""

    class Meta:
        unknown = RAISE


def name_field(max_length: int = 120, **kwargs: object) -> Line:
    return Line(validate=validate.Length(min=1, max=max_length), **kwargs)  # type: ignore[arg-type]
