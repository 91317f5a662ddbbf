"""Waking dispatchers promptly: on PostgreSQL, inserting an outbox row issues ``pg_notify`` in the
same transaction (so it is delivered at commit, and never for a rolled-back coupon) and the
dispatcher LISTENs; elsewhere, or if the LISTEN connection fails, it polls."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Mapper

from wallet.push.models import PushOutbox

CHANNEL = "wallet_push_outbox"
log = logging.getLogger(__name__)

_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


@event.listens_for(PushOutbox, "after_insert")
def _notify_dispatchers(mapper: Mapper[Any], connection: Connection, target: PushOutbox) -> None:
    # PostgreSQL folds identical notifications of one transaction into one.
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY)


class Waiter:
    """Blocks until there may be work, a timeout passes, or ``stop`` is set."""

    def __init__(self, url: URL, *, stop: threading.Event, poll_seconds: float, listen_seconds: float) -> None:
        self.url = url
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.listen_seconds = listen_seconds
        self._connection: Any = None
        self._retry_listen_at = 0.0
        self.listening = False

    @property
    def can_listen(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def start(self) -> None:
        """LISTEN now (before the first look at the outbox), if the database can notify."""
        if self.can_listen:
            self._listen()

    def wait(self, at_most: float | None = None) -> None:
        """Return at the next notification, after ``at_most`` seconds, or at once when stopping."""
        if self.can_listen and self._connection is None and time.monotonic() >= self._retry_listen_at:
            if self._listen():
                return  # listening again: look at the outbox, rows may have come while we were deaf
        limit = self.listen_seconds if self._connection is not None else self.poll_seconds
        deadline = time.monotonic() + (limit if at_most is None else max(0.0, min(limit, at_most)))
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # In slices, so that a stop request (SIGTERM) is honoured within half a second.
            if self._connection is None:
                self.stop.wait(min(remaining, 0.5))
            elif self._notified(min(remaining, 0.5)):
                return

    def _listen(self) -> bool:
        import psycopg

        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
            self._connection.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            log.info("listening on %s: new pushes wake the dispatcher", CHANNEL)
            return True
        except psycopg.Error as error:
            log.warning("LISTEN unavailable (%s); polling every %.1f s", error, self.poll_seconds)
            self._drop(retry_in=30.0)
            return False

    def _notified(self, timeout: float) -> bool:
        import psycopg

        try:
            received = False
            for _ in self._connection.notifies(timeout=timeout, stop_after=1):
                received = True
            if received:  # take what else has queued up: one look at the outbox serves them all
                for _ in self._connection.notifies(timeout=0):
                    pass
            return received
        except psycopg.Error as error:
            log.warning("LISTEN connection lost (%s); polling until it comes back", error)
            self._drop(retry_in=5.0)
            return True  # look at the outbox now: a notification may have been lost

    def _drop(self, *, retry_in: float) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way
                pass
        self._connection = None
        self.listening = False
        self._retry_listen_at = time.monotonic() + retry_in

    def close(self) -> None:
        self._drop(retry_in=0.0)
