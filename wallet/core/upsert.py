"""INSERT … ON CONFLICT for the two backends we run on (PostgreSQL in production, SQLite in the demo)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from wallet.extensions import db


def upsert(model: Any) -> Any:
    """The bound dialect's INSERT for ``model``: both have ``on_conflict_do_update(..., where=...)``
    and ``on_conflict_do_nothing``."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
