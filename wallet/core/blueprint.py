"""The API's blueprint: flask-smorest's, with the request rules every route shares. A JSON body is
an object and is required wherever a route takes one (an empty PATCH is not "nothing to change"),
and a page of a list must lie within 64-bit row offsets."""

from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser

from wallet.core.pagination import check_page_bounds

BODY_REQUIRED = "A JSON object is required as the request body (Content-Type: application/json)."
BODY_NOT_OBJECT = "The request body must be a JSON object."


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser; a ``json`` argument must be a JSON object, present."""

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        data = super().load_json(req, schema)
        if data is core.missing:
            raise ma.ValidationError(BODY_REQUIRED)
        if not isinstance(data, dict):
            raise ma.ValidationError(BODY_NOT_OBJECT)
        return data


class PaginationArgumentsParser(FlaskParser):
    """webargs' Flask parser, refusing pages beyond what the databases can count to."""

    def parse(self, argmap: Any, req: Any = None, *, validate: Any = None, **kwargs: Any) -> Any:
        validators = [check_page_bounds, *core._ensure_list_of_callables(validate)]
        return super().parse(argmap, req, validate=validators, **kwargs)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ArgumentsParser()
    PAGINATION_ARGUMENTS_PARSER = PaginationArgumentsParser()
