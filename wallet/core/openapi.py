"""What the OpenAPI document says about the rules our schemas enforce beyond what apispec reads from
marshmallow by itself: exclusive ranges, excluded values, validators combined with ``And``, custom
fields and validators that carry their JSON Schema in an ``openapi`` attribute, and schema-wide rules
(``OPENAPI_RULES`` on a schema class: ``oneOf`` and the like)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema, fields, validate


def _validators(validators: Any) -> Iterator[Any]:
    for validator in validators:
        if isinstance(validator, validate.And):
            yield from _validators(validator.validators)
        else:
            yield validator


def field_rules(converter: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
    """An apispec attribute function: the JSON Schema of ``field``'s rules apispec does not know."""
    extra: dict[str, Any] = dict(getattr(field, "openapi", None) or {})
    nested_in_and = any(isinstance(v, validate.And) for v in field.validators)
    for validator in _validators(field.validators):
        extra.update(getattr(validator, "openapi", None) or {})
        if isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                extra["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                extra["exclusiveMaximum"] = True
            if nested_in_and:
                extra.update({k: v for k, v in (("minimum", validator.min), ("maximum", validator.max)) if v is not None})
        elif isinstance(validator, validate.NoneOf):
            extra["not"] = {"enum": list(validator.iterable)}
        elif isinstance(validator, validate.URL) and nested_in_and:
            extra["format"] = "uri"
            if validator.schemes:
                extra["pattern"] = "^(" + "|".join(sorted(validator.schemes)) + ")://"
        elif isinstance(validator, validate.Length) and nested_in_and:
            extra.update({k: v for k, v in (("minLength", validator.min), ("maxLength", validator.max)) if v is not None})
        elif isinstance(validator, validate.OneOf) and nested_in_and:
            extra["enum"] = list(validator.choices)
        elif isinstance(validator, validate.Regexp) and nested_in_and:
            extra["pattern"] = validator.regex.pattern
    return extra


class SchemaRulesPlugin(BasePlugin):
    """Adds a schema class's ``OPENAPI_RULES`` (rules across its fields) to its component."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        schema = kwargs.get("schema")
        if schema is None:
            return None
        schema_class = resolve_schema_cls(schema)
        if not (isinstance(schema_class, type) and issubclass(schema_class, Schema)):
            return None
        return dict(getattr(schema_class, "OPENAPI_RULES", None) or {}) or None


class Documented:
    """A validator function with the JSON Schema that states its rule, e.g.
    ``Documented(_has_required_locales, required=["fr", "en"])``."""

    def __init__(self, check: Any, **openapi: Any) -> None:
        self.check = check
        self.openapi = openapi

    def __call__(self, value: Any) -> Any:
        return self.check(value)
