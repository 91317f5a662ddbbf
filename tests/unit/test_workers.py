"""The sync worker that idles in an EPOLLEXCLUSIVE epoll set: what its wait() returns, and that a new
connection does not wake every idle worker (as the select() of gunicorn's sync worker does)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from wallet.workers import EXCLUSIVE, ExclusiveSyncWorker

pytestmark = pytest.mark.skipif(EXCLUSIVE is None, reason="EPOLLEXCLUSIVE is Linux-only (elsewhere: the sync worker)")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        yield sock


def _idle_worker(listener: socket.socket) -> ExclusiveSyncWorker:
    """A worker as gunicorn sets one up after the fork, without the arbiter around it."""
    worker = ExclusiveSyncWorker.__new__(ExclusiveSyncWorker)
    worker.sockets = [listener]
    worker.PIPE = list(os.pipe())
    worker.nr = 0
    worker.notify = lambda: None  # the heartbeat file
    worker._open_poller()
    return worker


def _connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname(), timeout=5)


def test_an_idle_worker_waits_out_its_timeout_when_nothing_comes(listener):
    worker = _idle_worker(listener)
    started = time.monotonic()
    assert worker.wait(0.05) == []
    assert time.monotonic() - started >= 0.04


def test_a_pending_connection_makes_the_listener_ready(listener):
    worker = _idle_worker(listener)
    with _connect(listener):
        assert worker.wait(2.0) == [listener]
        client, _ = listener.accept()
        client.close()
    assert worker.wait(0.01) == []  # accepted: nothing left


def test_a_signal_written_to_the_pipe_wakes_the_worker_once(listener):
    worker = _idle_worker(listener)
    os.write(worker.PIPE[1], b"1")
    assert worker.wait(2.0) == [worker.PIPE[0]]
    assert worker.wait(0.01) == []  # the byte was read


def test_a_new_connection_does_not_wake_every_idle_worker(listener):
    waiters = 4
    workers = [_idle_worker(listener) for _ in range(waiters)]
    woken: list[int] = []
    blocked = threading.Barrier(waiters + 1)

    def idle(number: int) -> None:
        blocked.wait()
        if workers[number].wait(1.0):
            woken.append(number)

    threads = [threading.Thread(target=idle, args=(n,)) for n in range(waiters)]
    for thread in threads:
        thread.start()
    blocked.wait()
    time.sleep(0.2)  # every waiter is inside epoll_wait by now
    with _connect(listener):
        for thread in threads:
            thread.join(timeout=5)
    assert 1 <= len(woken) < waiters

