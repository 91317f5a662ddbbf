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
from sqlalchemy import Connection, Dialect, Executable, Result, event
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


def alone() -> Connection:
    """The request's autocommit connection, for a statement that is a whole unit of work by itself (an
    upsert, say): one round trip, where a transaction would add a ``BEGIN`` and a ``COMMIT``. Not
    inside an open transaction, whose atomicity it would escape."""
    if db.session().in_transaction():
        raise RuntimeError("a statement on its own inside a transaction: execute it in the session instead")
    return _connection()


class DriverStatement:
    """A statement that a hot path runs on every request (or every position report near a fence), run
    on PostgreSQL straight on the driver's connection: SQLAlchemy's execution machinery (execution
    context, cursor description, result object) costs more CPU than psycopg's whole round trip, ~0.17
    ms against ~0.15 on this machine. The statement is compiled once per dialect; its bind and result
    processors still apply, so rows read as through SQLAlchemy, and the engine's cursor events still
    fire (context ``None``, as SQLAlchemy allows), so statement logging and counting see it. A
    connection the driver reports broken is invalidated, as SQLAlchemy would. On other databases
    (SQLite) the statement goes through SQLAlchemy as usual.

    ``statement`` is the statement, or a function of the dialect's name that builds it (an upsert's
    INSERT is the dialect's own); it runs on the SQLAlchemy ``Connection`` given, so in whatever
    transaction that connection is in.
    """

    def __init__(self, statement: Executable | Callable[[str], Executable]) -> None:
        self._build = statement if callable(statement) else (lambda _: statement)
        self._compiled: dict[str, _Compiled] = {}
        self._statements: dict[str, Executable] = {}
        self._lock = threading.Lock()

    def statement(self, dialect: str) -> Executable:
        found = self._statements.get(dialect)
        if found is None:
            found = self._statements[dialect] = self._build(dialect)
        return found

    def rows(self, connection: Connection, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows the statement returns (all of them)."""
        return self._run(connection, parameters, fetch=True)

    def run(self, connection: Connection, parameters: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Execute it, for one set of parameters or (executemany) for each of a list."""
        self._run(connection, parameters, fetch=False)

    def _run(self, connection: Connection, parameters: dict[str, Any] | list[dict[str, Any]], *,
             fetch: bool) -> list[tuple[Any, ...]]:
        dialect = connection.dialect
        if dialect.name != "postgresql":
            result = connection.execute(self.statement(dialect.name), parameters)
            return [tuple(row) for row in result] if fetch else []
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        many = isinstance(parameters, list)
        bound: Any = [compiled.bind(p) for p in parameters] if many else compiled.bind(parameters)  # type: ignore[union-attr]
        driver = connection.connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            events = connection._has_events or connection.engine._has_events
            if events:
                connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, bound, None, many)
            if many:
                cursor.executemany(compiled.sql, bound)
            else:
                cursor.execute(compiled.sql, bound)
            if events:
                connection.dispatch.after_cursor_execute(connection, cursor, compiled.sql, bound, None, many)
            if not fetch:
                return []
            rows = cursor.fetchall()
            if compiled.results is None:  # the processors depend on the driver's column types: known now
                compiled.results = _result_processors(compiled.types, dialect, cursor.description)
        except Exception:
            if driver.closed or driver.broken:  # type: ignore[union-attr]
                connection.invalidate()  # not back to the pool: it will open a new one
            raise
        finally:
            if not cursor.closed:
                cursor.close()
        if not compiled.results:
            return rows
        processors = compiled.results
        return [tuple(process(value) if process else value for process, value in zip(processors, row))
                for row in rows]

    def _compile(self, dialect: Dialect) -> _Compiled:
        with self._lock:
            compiled = self.statement(dialect.name).compile(dialect=dialect)
            if "POSTCOMPILE" in compiled.string:
                raise ValueError("a DriverStatement takes no expanding parameters (IN lists): use = ANY(array)")
            binds = tuple((name, compiled._bind_processors.get(name)) for name in compiled.params)
            types = tuple(column.type for column in compiled._result_columns)
            result = _Compiled(compiled.string, binds, types)
            self._compiled[dialect.name] = result
            return result


class DriverRead(DriverStatement):
    """A one-row read that (nearly) every request runs — the caller's session — as a ``DriverStatement``.
    It runs where ``read`` would: the session's transaction if one is open, else the request's
    autocommit connection."""

    def one_or_none(self, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        session = db.session()
        connection = session.connection() if session.in_transaction() else _connection()
        rows = self.rows(connection, parameters)
        if len(rows) > 1:
            raise ValueError("DriverRead found more than one row")
        return rows[0] if rows else None


class _Compiled:
    __slots__ = ("sql", "binds", "types", "results")

    def __init__(self, sql: str, binds: tuple[tuple[str, Callable[[Any], Any] | None], ...],
                 types: tuple[Any, ...]) -> None:
        self.sql, self.binds, self.types = sql, binds, types
        self.results: tuple[Callable[[Any], Any] | None, ...] | None = None

    def bind(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {name: (process(parameters[name]) if process else parameters[name]) for name, process in self.binds}


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
