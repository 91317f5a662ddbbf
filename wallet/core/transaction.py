"""The unit of work: one commit point per use case, rolled back unless it reaches the end."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from wallet.extensions import db


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if the block raises."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
