"""gunicorn settings for production: ``gunicorn -c python:wallet.gunicorn_conf 'wallet:create_app()'``
(docs/operations.md explains each one and what must stand in front). Command-line options and
``GUNICORN_CMD_ARGS`` override them; the environment variables below tune the common ones."""

from __future__ import annotations

import os
from typing import Any

from wallet.workers import install_json_error_replies

# Behind a buffering reverse proxy on the same host (see docs/operations.md): sync workers hold one
# request at a time, so they must only ever see whole requests, delivered at loopback speed.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "wallet.workers.ExclusiveSyncWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1)))

# A worker silent this long (stuck request) is killed and replaced; its client sees the connection
# close (the proxy answers 502). Our slowest requests (a funnel CSV, a 120-fix batch) take well under
# a second.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30  # SIGTERM: requests in flight get this long to finish
keepalive = 2  # (the sync worker closes after each request; the proxy keeps clients' connections)

# What gunicorn refuses before the app sees it (answered as JSON, see wallet.workers). The proxy's
# limits sit at or below these, so a request it passes on is one the app reads.
limit_request_line = 4094  # bytes of "METHOD /path?query HTTP/1.1": 414 beyond
limit_request_fields = 100  # headers: 431 beyond
limit_request_field_size = 8190  # bytes per header: 431 beyond

# The client's address as the proxy saw it, trusted from the proxy on loopback only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Access log without the query string (positions, searches), the referrer or the user agent; the
# request body and headers (tokens, keys) are never logged.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
errorlog = "-"


def post_worker_init(worker: Any) -> None:
    install_json_error_replies()  # for worker classes other than ours too
