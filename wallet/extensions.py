"""Extension objects bound to an app in ``create_app`` (the API object is made per app)."""

from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface
from flask_migrate import Migrate
from flask_smorest import Api
from flask_smorest.pagination import PaginationMetadataSchema
from flask_sqlalchemy import SQLAlchemy

from wallet.core.db import Base
from wallet.core.errors import ErrorSchema
from wallet.core.openapi import SchemaRulesPlugin, field_rules


# What ``@blp.paginate()`` sends: a header whose value is the JSON text of an object.
PAGINATION_HEADER = {
    "description": (
        "Pagination metadata, as the JSON text of an object (schema PaginationMetadata): `total` and "
        "`total_pages` always; `first_page`, `last_page` when there are items; `page`, `previous_page`, "
        "`next_page` when the page exists and has neighbours."
    ),
    "schema": {"type": "string"},
    "example": '{"total": 42, "total_pages": 5, "first_page": 1, "last_page": 5, "page": 2, '
               '"previous_page": 1, "next_page": 3}',
    "x-json-schema": {"$ref": "#/components/schemas/PaginationMetadata"},
}


class WalletApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def _init_spec(self, *args: Any, extra_plugins: Any = None, **kwargs: Any) -> None:
        super()._init_spec(*args, extra_plugins=[SchemaRulesPlugin(), *(extra_plugins or ())], **kwargs)
        self.ma_plugin.converter.add_attribute_function(field_rules)

    def _register_pagination_header(self) -> None:
        # flask-smorest documents the header as an object, which no header can be on the wire.
        self.spec.components.schema("PaginationMetadata", schema=PaginationMetadataSchema)
        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class NoCookieSessions(SessionInterface):
    """The API is stateless (bearer tokens and API keys): no request opens, signs or saves a
    cookie session. Flask's default would build a signing serializer on every request."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then hands out its read-only null session

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None
