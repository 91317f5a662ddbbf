"""gunicorn with wallet.workers.ExclusiveSyncWorker, as the till would be served: it answers many
connections arriving at once and one by one, and stops cleanly on SIGTERM."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Http, Process, free_port, wait_until


@pytest.fixture
def exclusive_server(e2e_env: dict[str, str], tmp_path: Path):
    port = free_port()
    process = Process("exclusive-server", [str(BIN / "gunicorn"), "wallet:create_app()", "--bind", f"127.0.0.1:{port}",
                                           "--workers", "3", "--worker-class", "wallet.workers.ExclusiveSyncWorker"],
                      e2e_env, tmp_path)

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"server exited:\n{process.output}")
        try:
            return Http(f"http://127.0.0.1:{port}").call("GET", "/readyz")[0] == 200
        except OSError:
            return False

    wait_until(ready, timeout=30, what="the server to answer /readyz")
    yield process, Http(f"http://127.0.0.1:{port}")
    process.stop()


def test_the_exclusive_sync_workers_serve_every_connection_and_stop_cleanly(exclusive_server):
    process, api = exclusive_server
    # A burst (more connections at once than workers) ...
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: api.call("GET", "/readyz")[0], range(120)))
    assert statuses == [200] * 120
    # ... then requests one by one, with idle workers in between (each wakes one of them).
    for _ in range(20):
        assert api.call("GET", "/healthz")[0] == 200
        time.sleep(0.01)
    assert process.stop() == 0
    assert "Traceback" not in process.output
