"""The unit of work: one commit point per use case, rolled back unless it reaches the end; and how
a request's reads end (with COMMIT, which keeps the connection's prepared statements)."""

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, exc, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from wallet.extensions import db

log = logging.getLogger(__name__)
_WROTE = "wallet.wrote"  # session.info: the session's transaction may have written


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


def init_app(app: Flask) -> None:
    """End a request's reads with COMMIT (``end_reads``). Registered after Flask-SQLAlchemy's own
    teardown, so it runs first (teardowns run in reverse order): what it leaves open, that one rolls back."""
    app.teardown_appcontext(end_reads)
    for name, listener in (("do_orm_execute", _note_statement), ("after_flush", _note_flush),
                           ("after_transaction_end", _forget_writes)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def end_reads(error: BaseException | None = None) -> None:
    """Commit the session's transaction if the request only read in it.

    Use cases write inside ``transaction()``, which commits or rolls back, so a transaction still
    open when the request ends holds reads: committing it changes nothing in the database. But a
    rollback would cost the next requests: psycopg deallocates every statement it has prepared on
    a connection when the connection rolls back, and the till's statements would be parsed and
    planned again (~1.1 ms more server CPU per purchase when none is prepared). A transaction that
    flushed or executed anything but a SELECT, or holds unsaved changes, or a request that failed,
    is left to be rolled back. With ``CHECK_READS_AT_TEARDOWN`` (the tests), PostgreSQL confirms
    first that the transaction wrote nothing.
    """
    registry = db.session.registry
    if error is not None or not registry.has():
        return
    session = registry()
    if (not session.in_transaction() or session.info.get(_WROTE) or session.new or session.dirty
            or session.deleted or session.get_bind().dialect.name != "postgresql"):
        return  # (elsewhere a rollback forgets nothing)
    try:
        if current_app.config.get("CHECK_READS_AT_TEARDOWN"):
            xid = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
            if xid is not None:
                raise RuntimeError("this request wrote outside transaction(): its writes would be committed at "
                                   "teardown; write inside `with transaction():`")
        session.commit()
    except exc.SQLAlchemyError:  # (a lost connection: the session's own teardown cleans up)
        log.warning("could not end a request's reads with COMMIT; rolling back", exc_info=True)
        with contextlib.suppress(exc.SQLAlchemyError):
            session.rollback()


def _note_statement(state: ORMExecuteState) -> None:
    if not state.is_select:  # (a text() statement may write too)
        state.session.info[_WROTE] = True


def _note_flush(session: Session, *_: Any) -> None:
    session.info[_WROTE] = True


def _forget_writes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)
