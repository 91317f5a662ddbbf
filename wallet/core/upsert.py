"""INSERT … ON CONFLICT for the two backends we run on (PostgreSQL in production, SQLite in the demo)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from wallet.extensions import db


def insert_for(dialect: str) -> Callable[[Any], Any]:
    """The INSERT construct of a dialect by name (for statements built once per dialect and cached):
    both have ``on_conflict_do_update(..., where=...)`` and ``on_conflict_do_nothing``."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def upsert(model: Any) -> Any:
    """The bound dialect's INSERT for ``model`` (see ``insert_for``)."""
    return insert_for(db.session.get_bind().dialect.name)(model)


def per_dialect(build: Callable[[Callable[[Any], Any]], Any]) -> Callable[[], Any]:
    """Decorates ``build(insert)``, which makes a statement with the dialect's INSERT (and bind
    parameters for its values), into a function that returns that statement built once per
    dialect: on a hot path, building an upsert costs more than running it.

    ``insert(Model)`` there inserts into the model's table as a Core statement: executed through
    the session it takes the plain executemany path, not the ORM's bulk INSERT machinery (which
    costs more CPU than the statement's round trip)."""
    built: dict[str, Any] = {}

    def statement() -> Any:
        name = db.engine.dialect.name
        found = built.get(name)
        if found is None:
            dialect_insert = insert_for(name)
            found = built[name] = build(lambda model: dialect_insert(getattr(model, "__table__", model)))
        return found

    statement.__doc__ = build.__doc__
    return statement
