"""gunicorn with the production settings (``-c python:wallet.gunicorn_conf``): what gunicorn refuses
before the app sees it is answered in the API's JSON error body, the access log leaves out query
strings, and every answer from the app carries the security headers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Process, serve

PRODUCTION_SETTINGS = ["-c", "python:wallet.gunicorn_conf", "--workers", "1"]


@pytest.fixture(scope="module")
def production_server(e2e_env, tmp_path_factory) -> Iterator[tuple[Process, str]]:
    process, url = serve("production-server", PRODUCTION_SETTINGS, e2e_env, tmp_path_factory.mktemp("logs"))
    yield process, url
    assert process.stop() == 0


def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes (what no HTTP client library would send) and read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"GET /v1/catalogue/brands?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(150)) + b"\r\n",
         431, "request_header_fields_too_large"),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431,
         "request_header_fields_too_large"),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Caf\xc3\xa9: v\r\n\r\n", 400, "bad_request"),
    ],
    ids=["request-line-too-long", "too-many-headers", "header-too-large", "non-ascii-header-name"],
)
def test_what_gunicorn_refuses_itself_is_answered_in_json(production_server, request_bytes, status, reason):
    _, url = production_server
    code, headers, body = exchange(url, request_bytes)
    assert code == status and headers["content-type"] == "application/json"
    error = json.loads(body)
    assert (error["code"], error["reason"]) == (status, reason) and error["message"]
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"


def test_the_access_log_leaves_out_query_strings(production_server):
    process, url = production_server
    code, headers, _ = exchange(url, b"GET /v1/me/geofences/nearby?lat=48.8583&lon=2.2945 HTTP/1.1\r\nHost: t\r\n"
                                     b"Connection: close\r\n\r\n")
    assert code == 401 and headers["x-frame-options"] == "DENY"
    process.wait_for_output('"GET /v1/me/geofences/nearby HTTP/1.1" 401')
    assert "48.8583" not in process.output
