"""Marshmallow fields shared by the API schemas: GeoJSON points, IANA time zones, single- and multi-line
text, strict booleans and aware times. Every request schema takes its text, flags and times from here."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import msgspec
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


# --- text ------------------------------------------------------------------------------------

# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators: invisible, and in a
# name or a reference they make "abc\n" a different value from "abc". Unpaired surrogates cannot be
# stored as UTF-8 at all (the request gate refuses them before any schema; see wallet.core.inputs).
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NOT_IN_A_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")  # \t \n \r allowed


def is_single_line(value: str) -> bool:
    """True for text without control characters (the rule of ``Line``, for readers without marshmallow)."""
    return _NOT_IN_A_LINE.search(value) is None


class Line(fields.String):
    """Single-line text: names, identifiers, references, codes, e-mails. No control characters
    (tab and line breaks included), so that what a person sees is what is compared and stored."""

    default_error_messages = {"control": "Must be a single line of text, without control characters."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_single_line(text):
            raise self.make_error("control")
        return text


class Text(fields.String):
    """Multi-line text (descriptions, terms): tabs and line breaks are kept, other control characters refused."""

    default_error_messages = {"control": "Must not contain control characters other than tab and line breaks."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _NOT_IN_A_TEXT.search(text) is not None:
            raise self.make_error("control")
        return text


class TimeZone(Line):
    """An IANA time zone name such as ``Europe/Paris``."""

    # The names this machine's zone database knows are checked on load; the document states their shape.
    openapi = {"pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", "maxLength": 64}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_time_zone(name):
            raise ValidationError(f"'{name}' is not an IANA time zone (for example Europe/Paris).")
        return name


class Password(fields.String):
    """A password or a secret: any characters (only NUL and unpaired surrogates are refused, by the
    request gate), never trimmed, never shown."""


class Email(fields.Email):
    """An e-mail address, trimmed and lower-cased so that one person has one spelling; one line."""

    default_error_messages = {"control": Line.default_error_messages["control"]}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip().lower()
            if not is_single_line(value):
                raise self.make_error("control")
        return super()._deserialize(value, attr, data, **kwargs)


# --- booleans --------------------------------------------------------------------------------


class Boolean(fields.Boolean):
    """JSON ``true`` or ``false``, nothing else: a consent given as ``"yes"`` or ``1`` is not a consent."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise self.make_error("invalid", input=value)
        return value


class QueryBoolean(fields.Boolean):
    """A flag in the query string, where every value is text: ``true`` or ``false``."""

    _VALUES = {"true": True, "false": False}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not str or value not in self._VALUES:
            raise self.make_error("invalid", input=value)
        return self._VALUES[value]


# --- times -----------------------------------------------------------------------------------


class AwareDateTime(fields.AwareDateTime):
    """An RFC 3339 time with its offset (a naive time is refused), converted to UTC, which must stay
    within years 1 to 9999 (``0001-01-01T00:00:00+14:00`` does not). Read by msgspec's parser, the one
    the hot paths decode with (``wallet.locations.wire``), so that both accept the same times."""

    default_error_messages = {"range": "Out of range: in UTC the time must fall within years 1 to 9999."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if type(value) is not str:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        try:
            result = msgspec.convert(value, dt.datetime)
        except msgspec.ValidationError as error:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from error
        if result.tzinfo is None:
            raise self.make_error("invalid_awareness", awareness=self.AWARENESS, obj_type=self.OBJ_TYPE)
        in_utc = to_utc(result)
        if in_utc is None:
            raise self.make_error("range")
        return in_utc


def to_utc(moment: dt.datetime) -> dt.datetime | None:
    """``moment`` (aware) in UTC, or None when UTC has no such time (before year 1 or after 9999)."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        return None
