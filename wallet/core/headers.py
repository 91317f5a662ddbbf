"""Headers every answer carries: no caching unless an answer allows it, no MIME sniffing, no
referrer, never inside a frame."""

from __future__ import annotations

from flask import Flask, Response

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # older browsers; current ones read the CSP below
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def add_security_headers(response: Response) -> Response:
    # Answers carry tokens, pass secrets, personal data and exports: neither a shared cache nor the
    # browser's disk may keep them. An answer that may be kept (a barcode image: private, with an
    # ETag) says so itself, and keeps what it says.
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
