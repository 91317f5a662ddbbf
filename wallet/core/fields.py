"""Marshmallow fields shared by the API schemas: GeoJSON points and IANA time zones."""

from __future__ import annotations

import math
from typing import Any

import shapely
from marshmallow import ValidationError, fields

from wallet.core.time import is_valid_time_zone


def _coordinate(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number.")
    if not low <= value <= high:
        raise ValidationError(f"{name} {value} is out of range [{low:g}, {high:g}].")
    return float(value)


class GeoJSONPoint(fields.Field):
    """An RFC 7946 Point, ``{"type": "Point", "coordinates": [lon, lat]}``, as a Shapely Point."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return {"type": "Point", "coordinates": [value.x, value.y]}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> shapely.Point:
        if not isinstance(value, dict) or value.get("type") != "Point":
            raise ValidationError('Expected a GeoJSON Point: {"type": "Point", "coordinates": [lon, lat]}.')
        if set(value) - {"type", "coordinates", "bbox"}:
            raise ValidationError("Unknown members in GeoJSON Point.")
        coordinates = value.get("coordinates")
        if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
            raise ValidationError("coordinates must be [longitude, latitude].")
        lon = _coordinate(coordinates[0], "longitude", -180, 180)
        try:
            lat = _coordinate(coordinates[1], "latitude", -90, 90)
        except ValidationError as error:
            if isinstance(coordinates[1], (int, float)) and -180 <= coordinates[1] <= 180:
                raise ValidationError(f"{error.messages[0]} Coordinates are [longitude, latitude]: swapped?") from None
            raise
        return shapely.Point(lon, lat)


class TimeZone(fields.String):
    """An IANA time zone name such as ``Europe/Paris``."""

    # The names this machine's zone database knows are checked on load; the document states their shape.
    openapi = {"pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", "maxLength": 64}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_time_zone(name):
            raise ValidationError(f"'{name}' is not an IANA time zone (for example Europe/Paris).")
        return name


GEOJSON_POINT_SPEC = {
    "type": "object",
    "description": "GeoJSON Point (RFC 7946), coordinates in [longitude, latitude] order.",
    "required": ["type", "coordinates"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "bbox": {"type": "array", "items": {"type": "number"}},
        "coordinates": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 3,
            "example": [2.3522, 48.8566],
        },
    },
}


class Email(fields.Email):
    """An e-mail address, trimmed and lower-cased so that one person has one spelling."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)
