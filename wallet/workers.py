"""gunicorn worker classes for production: ``gunicorn -k wallet.workers.ExclusiveSyncWorker 'wallet:create_app()'``.

gunicorn's sync workers, while idle, wait for a connection in ``select()`` on the shared listening
socket, and ``select()`` wakes every waiter: with four idle workers, each new connection wakes all
four, one accepts it and three find nothing (``EAGAIN``) and go back to sleep. Under a steady stream
of requests that arrive one by one (a till, a phone: an open loop, not a benchmark's closed loop) that
is most of the CPU a worker spends outside the application, and it grows with the number of idle
workers. ``ExclusiveSyncWorker`` waits in an epoll set that holds the listening sockets with
``EPOLLEXCLUSIVE`` (Linux 4.5+), so the kernel wakes one idle worker per connection. Everything else
(heartbeat, timeouts, signals, graceful shutdown) is gunicorn's sync worker, unchanged. Elsewhere
(no ``EPOLLEXCLUSIVE``) it is exactly the sync worker.

gunicorn answers some requests itself, before the application sees them (a request line or headers
beyond its limits, a malformed request), with an HTML page. :func:`install_json_error_replies`
makes those answers the API's JSON error body; the worker installs it, and so does
``wallet.gunicorn_conf`` for any other worker class.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.workers.sync import StopWaiting, SyncWorker

# What gunicorn's own refusals mean to a client, in the words of the API's other errors (gunicorn's
# message may quote the request back: it is not repeated).
_GUNICORN_REFUSALS = {
    400: ("bad_request", "The request is malformed (request line or headers)."),
    403: ("forbidden", "The request is forbidden."),
    414: ("uri_too_long", "The request line is longer than the server accepts."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: ("request_header_fields_too_large", "The request's headers are more or larger than the server accepts."),
    500: ("internal_error", "An unexpected error occurred."),
    501: ("not_implemented", "The request uses a transfer coding the server does not support."),
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` (same arguments), answering the API's JSON error body."""
    from wallet.core.errors import error_body  # (not at import: gunicorn imports workers before the app)

    word, message = _GUNICORN_REFUSALS.get(status_int, ("bad_request", "The request cannot be handled."))
    body = json.dumps(error_body(status_int, message, word)).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


def install_json_error_replies() -> None:
    """Make gunicorn's own error answers JSON in this process (a worker; idempotent). gunicorn has no
    setting for them: its worker calls ``util.write_error``, which is replaced here."""
    gunicorn_util.write_error = write_json_error

EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", None)


class ExclusiveSyncWorker(SyncWorker):
    """The sync worker, woken alone for each new connection (see the module's docstring)."""

    _poller: Any = None
    _listeners: dict[int, socket.socket]

    def init_process(self) -> None:
        install_json_error_replies()
        super().init_process()

    def run(self) -> None:
        self._open_poller()
        try:
            super().run()
        finally:
            if self._poller is not None:
                self._poller.close()

    def _open_poller(self) -> None:
        """The worker's own epoll set (made in the worker, after the fork: a set must not be shared)."""
        if EXCLUSIVE is None:
            return
        self._poller = select.epoll()
        self._listeners = {}
        for listener in self.sockets:
            self._poller.register(listener.fileno(), select.EPOLLIN | EXCLUSIVE)
            self._listeners[listener.fileno()] = listener
        self._poller.register(self.PIPE[0], select.EPOLLIN)  # gunicorn's signal wake-up pipe

    def wait(self, timeout: float) -> list[Any] | None:
        """What ``SyncWorker.wait`` returns (the ready listeners, and the pipe's descriptor if it was
        written to), from the epoll set."""
        if self._poller is None:
            return super().wait(timeout)  # type: ignore[no-any-return]
        try:
            self.notify()
            events = self._poller.poll(timeout)
        except OSError as error:
            if error.errno == errno.EBADF:  # the sockets were closed under us: gunicorn is shutting down
                if self.nr < 0:
                    return list(self.sockets)
                raise StopWaiting from None
            raise
        ready: list[Any] = []
        for fd, _ in events:
            if fd == self.PIPE[0]:
                os.read(self.PIPE[0], 1)
                ready.append(fd)
            elif fd in self._listeners:
                ready.append(self._listeners[fd])
        return ready
