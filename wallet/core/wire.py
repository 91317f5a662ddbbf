"""The hot paths' own reading and writing (position reports, the till's purchases and redemptions):
requests in their plain shape read without marshmallow, answers written by msgspec, a few µs where
webargs, marshmallow and Flask's JSON provider take tens."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec
from flask import Request, Response, current_app, request

_ENCODER = msgspec.json.Encoder(order="sorted")  # keys sorted, as Flask's own JSON provider writes them


def json_response(payload: dict[str, Any], status: int = 200) -> Response:
    """``current_app.json.response(payload)`` for plain data (str, numbers, None, lists, dicts), written
    by msgspec (non-ASCII characters as UTF-8 rather than escaped: the same JSON)."""
    return current_app.response_class(_ENCODER.encode(payload) + b"\n", status=status, mimetype="application/json")


def decode_plain(decoder: msgspec.json.Decoder[Any], request: Request) -> Any:
    """The request's JSON body as ``decoder`` reads it, or None when it is not JSON, is malformed, or is
    not what the decoder's types accept: then the schema reads it, and says why it refuses it."""
    if not request.is_json:
        return None
    try:
        return decoder.decode(request.get_data(cache=True))
    except msgspec.DecodeError:
        return None


def plain_arguments(parse: Callable[[Request], tuple[Any, ...] | None],
                    *schemas: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[..., Any]:
    """The flask-smorest ``blp.arguments(...)`` decorators ``schemas`` (same document, same errors) for
    a request that ``parse`` reads without marshmallow, into the view's positional arguments;
    when ``parse`` returns None (anything unusual) the schemas read it, and refuse what they refuse."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        documented = view
        for schema in reversed(schemas):
            documented = schema(documented)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            arguments = parse(request)
            if arguments is None:
                return documented(*args, **kwargs)
            return view(*args, *arguments, **kwargs)

        wrapper._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return wrapper

    return decorator
