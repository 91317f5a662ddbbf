"""Per-connection settings: SQLite needs foreign keys, WAL and a busy timeout switched on; a pooled
PostgreSQL connection that sat idle is checked before use; database errors carry no row values."""

import time
from typing import Any

from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, ExceptionContext

from wallet.extensions import db


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


_CHECKED_IN_AT = "wallet_checked_in_at"


def _remember_checkin(dbapi_connection: Any, connection_record: Any) -> None:
    connection_record.info[_CHECKED_IN_AT] = time.monotonic()


def _ping_when_idle(idle_seconds: float) -> Any:
    """A checkout check like ``pool_pre_ping``, but only for a connection idle ``idle_seconds`` or
    more: one in use a moment ago is alive (a round trip saved on every busy request), one that sat
    idle may have been closed by the server, a proxy or a restart, and is replaced if so. A restart
    while the pool is busy still fails the requests on the connections it cut (as it would anyway),
    after which SQLAlchemy replaces the whole pool."""

    def check(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        checked_in_at = connection_record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # a new connection, or one just used
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()  # leave no transaction open behind the check
        except Exception as error:  # noqa: BLE001 - whatever the driver raises, the connection is gone
            raise exc.DisconnectionError(f"pooled connection failed its check: {error}") from error

    return check


def withhold_row_values(error: BaseException | None) -> None:
    """Cut what PostgreSQL quotes of the rows from ``error`` and the errors it was raised from, so
    that a logged database error shows no e-mail, password or key hash, push token, position.

    The engine's ``hide_parameters`` leaves the statement's parameters out of SQLAlchemy's message,
    but PostgreSQL's own message has a DETAIL (``Key (email)=(…) already exists``, ``Failing row
    contains (…)``) that both psycopg's and SQLAlchemy's messages repeat. The diagnostic fields
    (``error.diag``: constraint, table, SQLSTATE) are left as they are for the code that reads them.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        driver_error = error.orig if isinstance(error, exc.StatementError) else error
        diag = getattr(driver_error, "diag", None)
        primary = getattr(diag, "message_primary", None)
        if driver_error is not None and primary and driver_error.args:
            full = str(driver_error.args[0])
            if full != primary:
                driver_error.args = (primary, *driver_error.args[1:])
                if driver_error is not error and error.args:  # SQLAlchemy copied the message when it wrapped it
                    error.args = (str(error.args[0]).replace(full, primary), *error.args[1:])
        error = error.__cause__ or error.__context__


def _withhold_row_values(context: ExceptionContext) -> None:
    withhold_row_values(context.sqlalchemy_exception or context.original_exception)


def register_engine_events(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if not event.contains(engine, "handle_error", _withhold_row_values):
            event.listen(engine, "handle_error", _withhold_row_values)
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _configure_sqlite):
            event.listen(engine, "connect", _configure_sqlite)
        idle = app.config.get("DATABASE_PING_IDLE_SECONDS")
        if engine.dialect.name == "postgresql" and idle is not None and float(idle) >= 0:
            event.listen(engine, "checkin", _remember_checkin)
            event.listen(engine, "checkout", _ping_when_idle(float(idle)))
