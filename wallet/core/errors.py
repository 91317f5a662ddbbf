"""Domain exceptions and the single JSON error format every failure is rendered in.

The body is flask-smorest's ``{code, status, message, errors}`` plus ``reason``, a stable
snake_case word that clients can branch on (``consent_required``, ``invalid_token``, ...).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, jsonify
from marshmallow import Schema, fields
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException


class WalletError(Exception):
    """Base of every error a use case reports to its caller; ``status`` is the HTTP status."""

    status: int = 400
    reason: str = "bad_request"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or HTTPStatus(self.status).description
        self.errors = errors
        self.headers = headers or {}
        if reason:
            self.reason = reason
        super().__init__(self.message)


class BadRequest(WalletError):
    """The request cannot be used as it is."""

    status = 400
    reason = "bad_request"


class AuthenticationRequired(WalletError):
    """No credentials: sign in, or send the POS API key."""

    status = 401
    reason = "authentication_required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="wallet"'})
        super().__init__(message or "Authentication is required.", **kwargs)


class InvalidCredentials(AuthenticationRequired):
    """E-mail or password is incorrect."""

    reason = "invalid_credentials"


class InvalidToken(AuthenticationRequired):
    """The bearer token is not one this service issued, or not in the Bearer scheme."""

    reason = "invalid_token"


class PermissionDenied(WalletError):
    """The caller's role or brand does not allow this."""

    status = 403
    reason = "permission_denied"


class ConsentRequired(PermissionDenied):
    """The shopper has not given the consent this needs."""

    reason = "consent_required"


class NotFound(WalletError):
    status = 404
    reason = "not_found"


class Conflict(WalletError):
    """The request collides with the current state (e.g. a concurrent change): read again and retry."""

    status = 409
    reason = "conflict"


class ValidationFailed(WalletError):
    """A request that is well-formed but breaks a business rule; ``errors`` names the fields."""

    status = 422
    reason = "validation_failed"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, errors={"json": {field: [message]}})


class TooManyRequests(WalletError):
    """Too many requests; the Retry-After header says when to try again."""

    status = 429
    reason = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))}, **kwargs)
        self.retry_after = retry_after


class DatabaseUnavailable(WalletError):
    """The database cannot be reached (refused, lost or saturated connections): retry later."""

    status = 503
    reason = "database_unavailable"


# The reasons of answers the HTTP layer gives on its own (no use case raised them), with their meaning.
HTTP_REASONS: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "The request body is not valid JSON"),
    "bad_request": (400, "The request cannot be read (e.g. a body that is not JSON where JSON is expected)"),
    "not_found": (404, "No such object, or no such URL"),
    "method_not_allowed": (405, "The URL does not take this method; the Allow header lists those it takes"),
    "request_entity_too_large": (413, "The request body exceeds the size limit"),
    "validation_failed": (422, "The request does not match the schema, or breaks a rule; errors names the fields"),
    "internal_error": (500, "An unexpected error; it is logged"),
}


class ErrorSchema(Schema):
    """The one error body of the API."""

    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status phrase"})
    reason = fields.String(metadata={"description": "Stable machine-readable error word; every reason, with its "
                                                    "status and meaning, is listed in docs/errors.md"})
    message = fields.String(metadata={"description": "What went wrong, for a human"})
    errors = fields.Dict(metadata={"description": "Field messages, by request location"})


def error_body(status: int, message: str, reason: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "status": HTTPStatus(status).phrase,
        "reason": reason,
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


def _respond(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = body["code"]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _reason_of(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def handle_wallet_error(error: WalletError) -> Response:
    return _respond(error_body(error.status, error.message, error.reason, error.errors), error.headers)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("messages")
    message = {
        400: "The request body is not valid JSON." if errors == {"json": ["Invalid JSON body."]} else None,
        413: f"The request body exceeds the limit of {current_app.config['MAX_CONTENT_LENGTH']} bytes.",
        422: "The request does not match the schema; see errors.",
    }.get(status) or error.description or HTTPStatus(status).description
    reason = _reason_of(status)
    if status == 400 and errors == {"json": ["Invalid JSON body."]}:
        reason = "malformed_json"
    elif status == 422:
        reason = "validation_failed"
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    return _respond(error_body(status, message, reason, errors), headers)


def handle_unexpected_error(error: Exception) -> Response:
    from wallet.core.db_events import withhold_row_values

    withhold_row_values(error)  # (also raised by the till's statements, which go to psycopg directly)
    current_app.logger.exception("unhandled error", exc_info=error)
    return _respond(error_body(500, "An unexpected error occurred.", "internal_error"))


# SQLSTATEs of a database that is there but will not serve: connection exceptions (class 08), a
# server shutting down or starting (57P01-57P03), no connection slot left (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
_SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked")


def is_database_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database cannot be reached now, rather than refusing a statement."""
    if isinstance(error, sa_exc.TimeoutError):  # every pooled connection busy for pool_timeout
        return True
    if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if type(original).__module__.startswith("sqlite3"):
        return any(text in str(original) for text in _SQLITE_UNAVAILABLE)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:  # psycopg's own: refused, closed or broken connections have no SQLSTATE
        return True
    return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def handle_database_error(error: sa_exc.SQLAlchemyError) -> Response:
    if not is_database_unavailable(error):
        return handle_unexpected_error(error)
    current_app.logger.warning("database unavailable: %s", type(error.__cause__ or error).__name__)
    retry_after = str(current_app.config["DATABASE_RETRY_AFTER"])
    return handle_wallet_error(DatabaseUnavailable("The database is unavailable; retry later.",
                                                   headers={"Retry-After": retry_after}))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(WalletError, handle_wallet_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
