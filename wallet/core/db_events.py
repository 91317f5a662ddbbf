"""Per-connection settings: SQLite needs foreign keys, WAL and a busy timeout switched on; a pooled
PostgreSQL connection that sat idle is checked before use."""

import time
from typing import Any

from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

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


def register_engine_events(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _configure_sqlite):
            event.listen(engine, "connect", _configure_sqlite)
        idle = app.config.get("DATABASE_PING_IDLE_SECONDS")
        if engine.dialect.name == "postgresql" and idle is not None and float(idle) >= 0:
            event.listen(engine, "checkin", _remember_checkin)
            event.listen(engine, "checkout", _ping_when_idle(float(idle)))
