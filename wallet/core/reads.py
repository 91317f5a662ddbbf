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

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, g, has_app_context
from sqlalchemy import Connection, Dialect, Executable, Result, Select, event
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


class DriverRead:
    """A one-row read that (nearly) every request runs — the caller's session — run on PostgreSQL
    straight on the driver's connection: SQLAlchemy's execution machinery (execution context, cursor
    description, result object) costs more CPU than psycopg's whole round trip, ~0.17 ms against
    ~0.15 on this machine. The statement is compiled once per dialect; its bind and result
    processors still apply, so a row reads as through ``read``, and the engine's cursor events still
    fire (context ``None``, as SQLAlchemy allows), so statement logging and counting see it. It runs
    where ``read`` would (the session's transaction if one is open, else the request's autocommit
    connection); a connection the driver reports broken is invalidated, as SQLAlchemy would. On
    other databases (SQLite) it is ``read``."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def one_or_none(self, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        session = db.session()
        connection = session.connection() if session.in_transaction() else _connection()
        dialect = connection.dialect
        if dialect.name != "postgresql":
            return connection.execute(self.statement, parameters).one_or_none()
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        bound = {name: (process(parameters[name]) if process else parameters[name])
                 for name, process in compiled.binds}
        driver = connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            events = connection._has_events or connection.engine._has_events
            if events:
                connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, bound, None, False)
            cursor.execute(compiled.sql, bound)
            if events:
                connection.dispatch.after_cursor_execute(connection, cursor, compiled.sql, bound, None, False)
            rows = cursor.fetchmany(2)
            if compiled.results is None:  # the processors depend on the driver's column types: known now
                compiled.results = _result_processors(compiled.types, dialect, cursor.description)
        except Exception:
            if driver.closed or driver.broken:  # type: ignore[union-attr]
                connection.invalidate()  # not back to the pool: it will open a new one
            raise
        finally:
            if not cursor.closed:
                cursor.close()
        if len(rows) > 1:
            raise ValueError("DriverRead found more than one row")
        if not rows:
            return None
        if not compiled.results:
            return rows[0]
        return tuple(process(value) if process else value for process, value in zip(compiled.results, rows[0]))

    def _compile(self, dialect: Dialect) -> _Compiled:
        with self._lock:
            compiled = self.statement.compile(dialect=dialect)
            binds = tuple((name, compiled._bind_processors.get(name)) for name in compiled.params)
            types = tuple(column.type for column in compiled._result_columns)
            result = _Compiled(compiled.string, binds, types)
            self._compiled[dialect.name] = result
            return result


class _Compiled:
    __slots__ = ("sql", "binds", "types", "results")

    def __init__(self, sql: str, binds: tuple[tuple[str, Callable[[Any], Any] | None], ...],
                 types: tuple[Any, ...]) -> None:
        self.sql, self.binds, self.types = sql, binds, types
        self.results: tuple[Callable[[Any], Any] | None, ...] | None = None


def _result_processors(types: tuple[Any, ...], dialect: Dialect, description: Any) -> tuple[Any, ...]:
    processors = tuple(type_.dialect_impl(dialect).result_processor(dialect, column.type_code)
                       for type_, column in zip(types, description))
    return processors if any(processors) else ()


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
