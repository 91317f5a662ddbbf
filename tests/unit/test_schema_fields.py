"""Every request schema takes its flags, times and texts from wallet.core.fields, and every route from
wallet.core.blueprint: the input rules hold on every route because there is one definition of each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from marshmallow import Schema, ValidationError, fields

from wallet import create_app
from wallet.core import fields as core
from wallet.core.blueprint import Blueprint
from wallet.core.inputs import json_depth

TEXT_FIELDS = (core.Line, core.Text, core.Password, core.Email)


@pytest.fixture(scope="module")
def app():
    return create_app({"DATABASE_URL": "sqlite://", "TESTING": True})


def _arguments(app) -> Iterator[tuple[str, str, Schema]]:
    """(route, location, schema) of every argument every view of the API declares."""
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = getattr(view_class, method.lower(), None)
            for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = parameter["schema"]
                yield f"{method} {rule.rule}", parameter["in"], schema() if isinstance(schema, type) else schema


def _loaded_fields(schema: Schema, path: str = "") -> Iterator[tuple[str, fields.Field]]:
    for name, field in schema.fields.items():
        if not field.dump_only:
            yield from _walk(field, f"{path}{name}")


def _walk(field: fields.Field, path: str) -> Iterator[tuple[str, fields.Field]]:
    yield path, field
    if isinstance(field, fields.Nested):
        yield from _loaded_fields(field.schema, f"{path}.")
    elif isinstance(field, fields.List):
        yield from _walk(field.inner, f"{path}[]")
    elif isinstance(field, fields.Dict):
        for part, inner in (("{key}", field.key_field), ("{value}", field.value_field)):
            if inner is not None:
                yield from _walk(inner, f"{path}.{part}")


def _every_loaded_field(app) -> Iterator[tuple[str, str, fields.Field]]:
    for route, location, schema in _arguments(app):
        for path, field in _loaded_fields(schema):
            yield f"{route} {location}:{path}", location, field


def test_the_walk_sees_the_schemas(app):
    walked = {where for where, _, _ in _every_loaded_field(app)}
    assert "POST /v1/auth/shoppers json:consents.marketing" in walked
    assert "POST /v1/brands/<uuid:brand_id>/offers json:content.{value}.terms" in walked
    assert len(walked) > 150


def test_every_flag_is_a_strict_json_boolean_or_a_query_word(app):
    wrong = [where for where, location, field in _every_loaded_field(app) if isinstance(field, fields.Boolean)
             and type(field) is not (core.QueryBoolean if location == "query" else core.Boolean)]
    assert wrong == []


def test_every_time_is_the_aware_utc_field(app):
    wrong = [where for where, _, field in _every_loaded_field(app)
             if isinstance(field, fields.DateTime) and not isinstance(field, fields.Date)
             and type(field) is not core.AwareDateTime]
    assert wrong == []


def test_every_text_says_whether_it_is_one_line_several_or_a_secret(app):
    wrong = [where for where, _, field in _every_loaded_field(app)
             if isinstance(field, fields.String) and not isinstance(field, TEXT_FIELDS)]
    assert wrong == []


def test_every_api_blueprint_is_the_wallet_blueprint(app):
    blueprints = {name: type(blueprint) for name, blueprint in app.blueprints.items()
                  if name not in ("api-docs", "health", "docs_assets")}
    assert blueprints and all(kind is Blueprint for kind in blueprints.values()), blueprints


@pytest.mark.parametrize("value", [True, False])
def test_booleans_take_json_booleans(value):
    assert core.Boolean().deserialize(value) is value


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None, 1.0])
def test_booleans_refuse_anything_else(value):
    with pytest.raises(ValidationError):
        core.Boolean(allow_none=False).deserialize(value)


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False)])
def test_query_flags_are_two_words(value, expected):
    assert core.QueryBoolean().deserialize(value) is expected
    with pytest.raises(ValidationError):
        core.QueryBoolean().deserialize(value.upper() if value == "true" else "1")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-00:01"])
def test_times_outside_the_utc_calendar_are_refused(text):
    with pytest.raises(ValidationError, match="years 1 to 9999"):
        core.AwareDateTime().deserialize(text)


def test_times_are_converted_to_utc():
    assert core.AwareDateTime().deserialize("0001-01-01T00:00:00-01:00") == dt.datetime(1, 1, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("text, line, multi", [
    ("abc", True, True), ("Crème brûlée 😀", True, True), ("a\nb", False, True), ("a\tb", False, True),
    ("a\r\nb", False, True), ("a\x00b", False, False), ("a\x1bb", False, False), ("a\x85b", False, False),
    ("a\u2028b", False, False),
])
def test_lines_refuse_control_characters_and_texts_keep_tabs_and_line_breaks(text, line, multi):
    for field, accepted in ((core.Line(), line), (core.Text(), multi)):
        if accepted:
            assert field.deserialize(text) == text
        else:
            with pytest.raises(ValidationError):
                field.deserialize(text)


@pytest.mark.parametrize("body, depth", [
    (b"{}", 1), (b"[[[]]]", 3), (b'{"a": "[[[[", "b": [{"c": "]]}"}]}', 3), (b'"\\"[["', 0), (b"5", 0),
    (b'{"a": [1, [2, [3]]], "b": {"c": {}}}', 4),
])
def test_json_depth_counts_arrays_and_objects_outside_strings(body, depth):
    assert json_depth(body) == depth
