"""scripts/simulate_walk.py against a served demo (SQLite, as `make run`): the first walk enters and
earns coupons; the second, right after, says why it enters nothing; the server is found as README's
`make run PORT=…` implies."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.demo import seed_demo
from wallet.extensions import db

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "simulate_walk.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("simulate_walk", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served_demo(tmp_path) -> Iterator[int]:
    """The demo on a SQLite file, served over HTTP on a free loopback port (its number is yielded)."""
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}"})
    with app.app_context():
        upgrade()
        seed_demo()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()


def _walk(*args: str, env: dict[str, str] | None = None) -> str:
    environment = {key: value for key, value in os.environ.items() if key not in ("HOST", "PORT")}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], env={**environment, **(env or {})},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_second_walk_says_why_it_entered_nothing(served_demo):
    first = _walk(env={"PORT": str(served_demo), "HOST": "0.0.0.0"})  # as after `make run HOST=0.0.0.0 PORT=…`
    assert f"on http://127.0.0.1:{served_demo}" in first
    assert "ENTER" in first and "EXIT" in first
    assert "COUPON 'Un croissant offert' (enter)" in first
    assert "why no" not in first

    second = _walk("--url", f"http://127.0.0.1:{served_demo}")
    assert "ENTER" not in second and "COUPON" not in second
    [why] = [line for line in second.splitlines() if line.startswith("why no entry: ")]
    assert "the shopper left Lumière Châtelet at" in why
    assert "re-entering within 10 minutes of an exit is ignored" in why and "run it again after" in why
    assert "see the API docs" not in second  # each refused fix is explained (the replayed minutes: out of order)


def test_every_reason_a_fix_is_refused_for_is_explained():
    from wallet.locations import filters

    assert set(_script_module().REFUSED) == set(filters.REASONS)


def test_the_server_address_follows_make_runs_host_and_port():
    module = _script_module()
    assert module.default_url({}) == "http://127.0.0.1:5000"
    assert module.default_url({"PORT": "8000"}) == "http://127.0.0.1:8000"
    assert module.default_url({"HOST": "0.0.0.0", "PORT": "8000"}) == "http://127.0.0.1:8000"
    assert module.default_url({"HOST": "wallet.local"}) == "http://wallet.local:5000"
    assert module.default_url({"HOST": "::1", "PORT": "8000"}) == "http://[::1]:8000"


def test_no_server_at_the_address_is_said_plainly(unused_port):
    done = subprocess.run([sys.executable, str(SCRIPT), "--url", f"http://127.0.0.1:{unused_port}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"no server answers at http://127.0.0.1:{unused_port}" in done.stderr and "make run" in done.stderr


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
