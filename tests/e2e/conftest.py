"""End-to-end fixtures: a real server process (gunicorn) and real dispatcher processes
(``wallet worker``) on the worker's PostGIS test database, FCM and its OAuth endpoint faked on
loopback. Processes are waited on by condition (HTTP ready, a log line), never by sleeping."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_CONFIG
from tests.fakes.fcm_server import FakeFcm
from tests.push_support import fake_fcm, loopback_only_environment  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Process:
    """A child process whose combined output goes to a file the test can read."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._file = self.log.open("wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.output}")
            return text in self.output

        wait_until(seen, timeout=timeout, what=f"{text!r} from {self.name}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no outcome recorded, leases left to expire."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._file.close()
        return int(self.popen.returncode)


@pytest.fixture(scope="module")
def e2e_env(_migrated_app: Any, database_url: str, fake_fcm: FakeFcm,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the server and worker processes: the test database, the fake FCM."""
    credentials = fake_fcm.write_service_account(tmp_path_factory.mktemp("gcp") / "service-account.json")
    env = {**os.environ, **loopback_only_environment(), "PYTHONUNBUFFERED": "1",
           "WALLET_DATABASE_URL": database_url,
           "WALLET_SECRET_KEY": TEST_CONFIG["SECRET_KEY"],
           "WALLET_ARGON2_TIME_COST": "1", "WALLET_ARGON2_MEMORY_COST": "1024", "WALLET_ARGON2_PARALLELISM": "1",
           "WALLET_GEOFENCE_INDEX_CHECK_SECONDS": "0", "WALLET_OFFER_TRIGGERS_CHECK_SECONDS": "0",
           "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
           "WALLET_FCM_ENDPOINT": fake_fcm.url,
           "WALLET_FCM_TIMEOUT": "2",
           "WALLET_CHECK_READS_AT_TEARDOWN": "true",  # a request that wrote outside transaction() fails
           "WALLET_PUSH_QUIET_HOURS": "",  # the suite runs at any hour; quiet hours have their own tests
           "WALLET_PUSH_LISTEN_SECONDS": "60",  # prompt delivery can only come from NOTIFY
           "WALLET_RATELIMIT_ENABLED": "false"}  # one address, many sign-ins; limits have their own tests
    env.pop("WALLET_PUSH_DISPATCHER_THREAD", None)
    return env


def serve(name: str, options: list[str], env: dict[str, str], log_dir: Path) -> tuple[Process, str]:
    """``gunicorn 'wallet:create_app()'`` with ``options`` on a free loopback port, once it answers
    /readyz: the process and its base URL."""
    port = free_port()
    # (gunicorn's control socket has one path per user: servers running side by side would share it)
    process = Process(name, [str(BIN / "gunicorn"), "wallet:create_app()", "--bind", f"127.0.0.1:{port}",
                                     "--no-control-socket", *options],
                      env, log_dir)

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"{name} exited:\n{process.output}")
        try:
            return Http(f"http://127.0.0.1:{port}").call("GET", "/readyz")[0] == 200
        except OSError:
            return False

    try:  # a slow start on a loaded machine is waited for; a server that never answers is not left behind
        wait_until(ready, timeout=90, what=f"{name} to answer /readyz")
    except BaseException:
        process.stop()
        raise
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(e2e_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gunicorn 'wallet:create_app()'`` on a free loopback port; yields its base URL."""
    process, url = serve("server", ["--workers", "2", "--threads", "4"], e2e_env, tmp_path_factory.mktemp("logs"))
    yield url
    process.stop()


@pytest.fixture
def start_worker(e2e_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``wallet worker`` processes (settings as WALLET_* overrides); all stopped at the end."""
    started: list[Process] = []

    def start(**settings: str) -> Process:
        env = {**e2e_env, **{f"WALLET_{name.upper()}": str(value) for name, value in settings.items()}}
        worker = Process("worker", [str(BIN / "wallet"), "worker"], env, tmp_path)
        started.append(worker)
        worker.wait_for_output("new pushes wake the dispatcher")  # LISTENing: nothing can be missed now
        return worker

    yield start
    for worker in started:
        worker.stop()


class Http:
    """Just enough of an HTTP client for JSON APIs (standard library only)."""

    def __init__(self, base_url: str) -> None:
        self.host, self.port = base_url.removeprefix("http://").split(":")

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        return response.status, (json.loads(data) if data else None)

    def ok(self, method: str, path: str, body: Any = None, token: str | None = None, status: int = 200) -> Any:
        code, answer = self.call(method, path, body, token)
        assert code == status, (method, path, code, answer)
        return answer
