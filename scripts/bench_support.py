"""What the benchmark scripts share: free loopback ports and a gunicorn server they start and stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, timeout: float, *, alive: "subprocess.Popen[bytes] | None" = None,
               describe: str = "the server") -> None:
    """Until ``GET /readyz`` answers 200 on the port (or ``alive`` exits, or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{describe} exited with {alive.returncode}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            ready = connection.getresponse().status == 200
            connection.close()
            if ready:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{describe} did not become ready in {timeout:.0f} s")


class GunicornServer:
    """A gunicorn process on a free loopback port, in a process group of its own, logging to a file."""

    def __init__(self, logdir: Path, name: str) -> None:
        self.port = free_port()
        self.log_path = logdir / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, command: list[str], env: dict[str, str], ready_timeout: float = 60.0) -> None:
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_ready(self.port, ready_timeout, alive=self.proc, describe="gunicorn")
        except RuntimeError as error:
            raise RuntimeError(f"{error}:\n{self.log_tail()}") from None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started, by its id
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""
