"""Extension objects bound to an app in ``create_app`` (the API object is made per app)."""

from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from wallet.core.db import Base
from wallet.core.errors import ErrorSchema


class WalletApi(Api):
    ERROR_SCHEMA = ErrorSchema


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class NoCookieSessions(SessionInterface):
    """The API is stateless (bearer tokens and API keys): no request opens, signs or saves a
    cookie session. Flask's default would build a signing serializer on every request."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then hands out its read-only null session

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None
