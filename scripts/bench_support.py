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


def encode_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request as it goes on the wire (built before the clock starts: the client measures the
    server, not its own HTTP formatting)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Channel:
    """One keep-alive HTTP/1.1 connection, reopened whenever the server closes it (gunicorn's sync
    workers close after every answer). Leaner than http.client: the load generator shares the
    machine with what it measures, so every microsecond it spends is one the server cannot."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.reconnects = 0  # connections the server closed under a request, reopened and retried

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, wire: bytes) -> tuple[int, bytes]:
        """Send a request, read its whole answer: its status and body."""
        for attempt in range(2):
            fresh = self.sock is None
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(wire)
                return self._read()
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, EOFError):
                self.close()
                if fresh or attempt == 1:  # a new connection that fails is a real failure
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def _read(self) -> tuple[int, bytes]:
        assert self.sock is not None
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not read here")
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            body += chunk
        if close:
            self.close()
        return status, body


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
