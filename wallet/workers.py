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
"""

from __future__ import annotations

import errno
import os
import select
import socket
from typing import Any

from gunicorn.workers.sync import StopWaiting, SyncWorker

EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", None)


class ExclusiveSyncWorker(SyncWorker):
    """The sync worker, woken alone for each new connection (see the module's docstring)."""

    _poller: Any = None
    _listeners: dict[int, socket.socket]

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
