"""Version stamps: one row per kind of configuration (geofences, offers) whose number grows on every
change, in the changing transaction. Each process keeps its own view of that configuration (the
geofence index, the offers' triggers per fence) and compares the stamp now and then to know when
to refresh it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from wallet.core.time import utcnow
from wallet.extensions import db


def bump(model: Any) -> None:
    """Add one to ``model``'s stamp (row id 1, made if missing); the caller commits."""
    session = db.session
    increment = update(model).where(model.id == 1).values(version=model.version + 1, updated_at=utcnow())
    if session.execute(increment).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(model(id=1, version=1))
    except IntegrityError:  # created concurrently: bump that one
        session.execute(increment)
