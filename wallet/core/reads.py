"""Reads that need no transaction: who is calling, what a position report needs to know first.

The request's ORM session opens a transaction on its first statement, which with psycopg costs a
``BEGIN`` and, at the end of the request, a ``ROLLBACK``: two round trips to the database around
every request, even one that only reads a row or two. The hot paths (every position report, every
till request) read their first facts here instead, on one autocommit connection per request: a
position far from every fence then costs its two reads and nothing else. Anything that writes, or
needs its reads to agree with its writes, stays in the session's transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from sqlalchemy import Connection, Executable, Result

from wallet.extensions import db

_G_KEY = "_wallet_read_connection"


def read(statement: Executable, parameters: dict[str, Any] | None = None) -> Result[Any]:
    """Execute a read on this request's autocommit connection (checked out on first use)."""
    connection: Connection | None = g.get(_G_KEY)
    if connection is None or connection.closed:
        connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        setattr(g, _G_KEY, connection)
    return connection.execute(statement, parameters)


def _release(_: BaseException | None = None) -> None:
    connection: Connection | None = g.pop(_G_KEY, None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    """Give the read connection back to the pool when the request (the app context) ends."""
    app.teardown_appcontext(_release)
