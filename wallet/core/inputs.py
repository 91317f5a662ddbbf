"""The gate every request passes before any view reads it: text that no database can store (NUL,
unpaired surrogates) in the query string, the path or a JSON body at any depth (keys included),
bodies that are not UTF-8, and JSON nested deeper than ``JSON_MAX_DEPTH``. It runs before the
schemas and before the hot paths' msgspec readers (``wallet.core.wire``), so each of them only
ever sees input that can be stored, and every refusal is in the one error format."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, request

from wallet.core.errors import BadRequest, ValidationFailed

UNSTORABLE_MESSAGE = "Text must not contain NUL characters or unpaired surrogates."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In JSON text these characters can only come from escapes (\u0000, \ud800...\udfff): a body
# without such an escape is checked without being decoded a second time.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class MalformedJson(BadRequest):
    reason = "malformed_json"


def init_app(app: Flask) -> None:
    app.before_request(check_request)


def check_request() -> None:
    """Refuse what no view should read (see the module's docstring)."""
    errors: dict[str, Any] = {}
    query = {key: [UNSTORABLE_MESSAGE] for key, values in request.args.lists()
             if _unstorable(key) or any(_unstorable(value) for value in values)}
    if query:
        errors["query"] = query
    path = {key: [UNSTORABLE_MESSAGE] for key, value in (request.view_args or {}).items()
            if isinstance(value, str) and _unstorable(value)}
    if path:
        errors["path"] = path
    if request.is_json:
        body = request.get_data(cache=True)
        if body:
            json_errors = check_json_body(body, max_depth=int(current_app.config["JSON_MAX_DEPTH"]))
            if json_errors:
                errors["json"] = json_errors
    if errors:
        raise ValidationFailed(UNSTORABLE_MESSAGE, errors=errors)


def check_json_body(body: bytes, *, max_depth: int) -> dict[str, Any] | list[str] | None:
    """Field messages for the unstorable text in the JSON ``body`` (None when there is none);
    MalformedJson when the body is not UTF-8 or nests deeper than ``max_depth``. A body that is
    not JSON at all is left to its reader, which says so."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJson("The request body is not valid UTF-8.",
                            errors={"json": ["The body must be JSON encoded in UTF-8."]}) from None
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        raise MalformedJson(f"The request body is nested more than {max_depth} levels deep.",
                            errors={"json": [f"JSON may nest at most {max_depth} levels of arrays and objects."]})
    if _UNSTORABLE_ESCAPE.search(body) is None:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None  # malformed: the schema's reader refuses it
    return _messages(_unstorable_paths(document, ()))


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in the JSON ``body`` (brackets inside strings do not count)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def _unstorable_paths(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if _unstorable(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if _unstorable(key):
                yield (*path, _UNSTORABLE.sub("\ufffd", key))
            else:
                yield from _unstorable_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_paths(item, (*path, index))


def _messages(paths: Iterator[tuple[str | int, ...]]) -> dict[str, Any] | list[str] | None:
    """marshmallow's shape of errors: nested by field name (and list index), a list of messages at the end."""
    messages: dict[Any, Any] = {}
    for path in paths:
        if not path:
            return [UNSTORABLE_MESSAGE]
        node = messages
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if isinstance(node, list):
                break
        else:
            node[path[-1]] = [UNSTORABLE_MESSAGE]
    return messages or None
