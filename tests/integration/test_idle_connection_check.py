"""A pooled connection the server closed while it sat idle is replaced before use, without error."""

from __future__ import annotations

import time

import sqlalchemy as sa

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.extensions import db


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    killer = sa.create_engine(url)
    with killer.connect() as connection:
        assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.dispose()


def _app(url: str, idle: float | None):
    return create_app({**TEST_CONFIG, "DATABASE_URL": url, "DATABASE_PING_IDLE_SECONDS": idle,
                       "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}})


def test_an_idle_connection_cut_by_the_server_is_checked_and_replaced(app):
    checked = _app(app.config["DATABASE_URL"], idle=0.05)
    with checked.app_context():
        engine = db.engine
        first = _backend_pid(engine)
        _terminate(app.config["DATABASE_URL"], first)
        time.sleep(0.1)  # idle past the threshold: the next checkout checks it
        assert _backend_pid(engine) != first  # no error: a fresh connection took its place
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_checked(app):
    unchecked = _app(app.config["DATABASE_URL"], idle=3600)
    with unchecked.app_context():
        engine = db.engine
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        _backend_pid(engine)
        _backend_pid(engine)
        assert statements == ["SELECT pg_backend_pid()"] * 2  # no "SELECT 1" before either
        engine.dispose()
