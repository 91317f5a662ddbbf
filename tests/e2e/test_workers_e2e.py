"""gunicorn with wallet.workers.ExclusiveSyncWorker, as the till would be served: it answers many
connections arriving at once and one by one, and stops cleanly on SIGTERM."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import Http, serve


def test_the_exclusive_sync_workers_serve_every_connection_and_stop_cleanly(e2e_env, tmp_path):
    process, url = serve("exclusive-server", ["--workers", "3", "--worker-class", "wallet.workers.ExclusiveSyncWorker"],
                         e2e_env, tmp_path)
    api = Http(url)
    try:
        # A burst (more connections at once than workers) ...
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(lambda _: api.call("GET", "/readyz")[0], range(120)))
        assert statuses == [200] * 120
        # ... then requests one by one, with idle workers in between (each wakes one of them).
        for _ in range(20):
            assert api.call("GET", "/healthz")[0] == 200
            time.sleep(0.01)
    finally:
        assert process.stop() == 0
    assert "Traceback" not in process.output
