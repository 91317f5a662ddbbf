"""Reads that need no transaction (who is calling, what a position report needs to know first),
and single statements that are a unit of work by themselves.

The request's ORM session opens a transaction on its first statement, which with psycopg costs a
``BEGIN`` and, at the end of the request, a ``ROLLBACK``: two round trips to the database around
every request, even one that only reads a row or two. The hot paths (every position report, every
till request) read their first facts here instead, on one autocommit connection per request: a
position far from every fence then costs its two reads and nothing else. Anything that writes, or
needs its reads to agree with its writes, stays in the session's transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_app_context
from sqlalchemy import Connection, Executable, Result, event
from sqlalchemy.orm import Session

from wallet.extensions import db

_G_KEY = "_wallet_read_connection"


def read(statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
    """Execute a read on this request's autocommit connection (checked out on first use), or in
    the session's transaction if one is already open: a request never holds two connections, so
    that many requests at once cannot deadlock on the pool (each holding one, waiting for another)."""
    session = db.session()  # this request's session (the scoped session's current one)
    if session.in_transaction():
        return session.execute(statement, parameters)
    return _connection().execute(statement, parameters)


def write_alone(statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
    """Execute one statement that is a whole unit of work by itself (an upsert, say) on the same
    autocommit connection: one round trip, where a transaction would add a ``BEGIN`` and a
    ``COMMIT``. Not inside an open transaction, whose atomicity it would escape."""
    if db.session().in_transaction():
        raise RuntimeError("write_alone() inside a transaction: execute the statement in the session instead")
    return _connection().execute(statement, parameters)


def _connection() -> Connection:
    connection: Connection | None = g.get(_G_KEY)
    if connection is None or connection.closed:
        connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        setattr(g, _G_KEY, connection)
    return connection


def _release(_: BaseException | None = None) -> None:
    connection: Connection | None = g.pop(_G_KEY, None)
    if connection is not None:
        connection.close()


def _release_before_the_session(*_: Any) -> None:
    """The session is starting a transaction (before it takes a connection): give ours back first."""
    if has_app_context():
        _release()


def init_app(app: Flask) -> None:
    """Give the read connection back when the session starts a transaction, or at the end of the
    request (the app context) at the latest."""
    app.teardown_appcontext(_release)
    if not event.contains(Session, "after_transaction_create", _release_before_the_session):
        event.listen(Session, "after_transaction_create", _release_before_the_session)
