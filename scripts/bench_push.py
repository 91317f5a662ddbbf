#!/usr/bin/env python3
"""Benchmark of real-time push on PostgreSQL + PostGIS, FCM faked on loopback.

1. **Latency**: shoppers report a fix inside a store's fence (``POST /v1/me/locations`` to a
   gunicorn server); the coupon's outbox row commits with it and NOTIFY wakes a ``wallet worker``
   process, which sends through the real firebase-admin client to the fake FCM. Measured: from
   the moment the location request is sent to the moment FCM receives the push (p50/p95/p99),
   next to the location request's own response time. Requests arrive open-loop at ``--rate``.
2. **Throughput**: ``--rows`` pushes committed at once to the outbox, drained by 1 and then
   ``--workers`` dispatcher processes in parallel (FOR UPDATE SKIP LOCKED): pushes per second
   from the commit to the last one received by FCM.

Nothing is asserted; figures are printed with the issue's target beside them (p95 <= 200 ms).

    .venv/bin/python scripts/bench_push.py            # about a minute
    .venv/bin/python scripts/bench_push.py --quick    # a few seconds of each phase

Only loopback is used: PostgreSQL on 127.0.0.1:5432 (``--admin-url``, default
$WALLET_TEST_DATABASE_URL), gunicorn, the workers and the fake FCM/OAuth endpoints on free
127.0.0.1 ports; HTTP(S) to anywhere else is pointed at a closed loopback port. The throwaway
database ``wallet_bench_push_<pid>`` is dropped at the end (``--keep-db`` keeps it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_support import free_port, wait_ready  # noqa: E402  (scripts/ is on sys.path: the script's own folder)

import sqlalchemy as sa  # noqa: E402

from tests.fakes.fcm_server import FakeFcm, Received  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_ADMIN_URL = os.environ.get("WALLET_TEST_DATABASE_URL",
                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-key-0123456789-0123456789-0123"
PASSWORD = "correct-horse-battery"
STORE = (2.35104, 48.85745)  # lon, lat
TARGET_P95_MS = 200.0


def log(message: str = "") -> None:
    print(message, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine_busy(interval: float = 1.0) -> float:
    """The share of the machine's CPU time spent busy over ``interval`` seconds (/proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total_before, idle_before = sample()
    time.sleep(interval)
    total_after, idle_after = sample()
    return 1 - (idle_after - idle_before) / max(1, total_after - total_before)


def wait_for_quiet(limit: float) -> str:
    """Wait up to ``limit`` seconds for other work to use under 15 % of the machine; say how busy it was."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    while busy > 0.15 and time.monotonic() < deadline:
        busy = machine_busy()
    return f"machine {busy:.0%} busy before the phase"


def loopback_only() -> dict[str, str]:
    jail = f"http://127.0.0.1:{free_port()}"
    return {"HTTPS_PROXY": jail, "HTTP_PROXY": jail, "NO_PROXY": "127.0.0.1,localhost",
            "https_proxy": jail, "http_proxy": jail, "no_proxy": "127.0.0.1,localhost"}


@contextlib.contextmanager
def bench_database(admin_url: str, keep: bool) -> Iterator[str]:
    name = f"wallet_bench_push_{os.getpid()}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self._file = self.log.open("ab")
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not say {text!r}:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self._file.close()


def post(port: int, path: str, body: Any, token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


# --- the world ------------------------------------------------------------------------------


def seed(app: Any, shoppers: int) -> tuple[list[str], list[uuid.UUID]]:
    """A brand with a fenced store and an active offer; opted-in shoppers with a phone each.
    Returns their access tokens and ids."""
    import shapely

    from wallet.auth import services as auth
    from wallet.auth.tokens import SHOPPER_AUDIENCE
    from wallet.brands.models import Brand, Store
    from wallet.core.time import utcnow
    from wallet.core.transaction import transaction
    from wallet.geo import geometry
    from wallet.geo.models import CIRCLE, Geofence, GeofenceVersion
    from wallet.offers.models import ACTIVE, FREE_ITEM, Offer
    from wallet.privacy.models import BrandConsent
    from wallet.push.models import PushDevice

    now = utcnow()
    with app.app_context(), transaction() as session:
        brand = Brand(name="Lumière", name_key="lumière")
        session.add(brand)
        session.flush()
        store = Store(brand_id=brand.id, name="Châtelet", location=shapely.Point(*STORE), street="1 rue de Rivoli",
                      postal_code="75001", city="Paris", country_code="FR", time_zone="Europe/Paris")
        session.add(store)
        session.flush()
        session.add(Geofence(brand_id=brand.id, store_id=store.id, name="Door", kind=CIRCLE,
                             center=store.location, radius_m=60.0,
                             area=geometry.circle(STORE[1], STORE[0], 60.0).to_polygon()))
        session.add(GeofenceVersion(id=1, version=1))
        session.add(Offer(brand_id=brand.id, status=ACTIVE, reward_type=FREE_ITEM, reward_item="Croissant",
                          content={"fr": {"title": "Un croissant offert", "description": "Ce matin"},
                                   "en": {"title": "A free croissant", "description": "This morning"}},
                          default_locale="fr", valid_from=now - dt.timedelta(hours=1),
                          valid_until=now + dt.timedelta(days=1), schedule=[], trigger="enter", all_stores=True,
                          audience="opted_in", coupon_ttl_minutes=15, issued_count=0))
        brand_id = brand.id
    tokens, ids = [], []
    with app.app_context():
        for i in range(shoppers):
            shopper, pair = auth.sign_up_shopper(email=f"bench-{i}@example.com", password=PASSWORD,
                                                 display_name=f"Shopper {i}",
                                                 consents={"location": True, "marketing": True})
            tokens.append(pair.access_token)
            ids.append(shopper.id)
        with transaction() as session:
            for shopper_id in ids:
                session.add(BrandConsent(shopper_id=shopper_id, brand_id=brand_id, opted_in=True, source="bench"))
                session.add(PushDevice(shopper_id=shopper_id, token=f"bench-{shopper_id}", platform="android",
                                       app_version="3.2.0", locale="fr-FR"))
        assert auth.sign_in(audience=SHOPPER_AUDIENCE, email="bench-0@example.com", password=PASSWORD)
    return tokens, ids


# --- phases ---------------------------------------------------------------------------------


def latency_phase(port: int, tokens: list[str], fake: FakeFcm, rate: float) -> dict[str, Any]:
    """Open loop at ``rate`` requests/s, one fix inside the fence per (fresh) shopper."""
    arrivals: dict[str, float] = {}
    arrived = threading.Condition()

    def on_receive(received: Received) -> None:
        with arrived:
            arrivals[received.message.get("data", {}).get("coupon_id", "")] = received.at
            arrived.notify_all()

    fake.on_receive(on_receive)
    sends: dict[str, tuple[float, float]] = {}  # coupon id -> (sent, answered)
    errors = []

    def one(token: str, at: float) -> None:
        delay = at - time.time()
        if delay > 0:
            time.sleep(delay)
        sent = time.time()
        fix = {"lon": STORE[0], "lat": STORE[1], "accuracy_m": 5,
               "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
        status, answer = post(port, "/v1/me/locations", {"fixes": [fix]}, token)
        answered = time.time()
        if status != 200 or len(answer["coupons"]) != 1:
            errors.append((status, answer))
            return
        sends[answer["coupons"][0]["id"]] = (sent, answered)

    start = time.time() + 0.2
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i, token in enumerate(tokens):
            pool.submit(one, token, start + i / rate)
    with arrived:
        arrived.wait_for(lambda: set(sends) <= set(arrivals), timeout=30)
    fake.on_receive(None)
    delivered = {c: times for c, times in sends.items() if c in arrivals}
    latencies = [(arrivals[c] - sent) * 1000 for c, (sent, _) in delivered.items()]
    responses = [(answered - sent) * 1000 for sent, answered in sends.values()]
    after_response = [(arrivals[c] - answered) * 1000 for c, (_, answered) in delivered.items()]

    def summary(values: list[float]) -> list[float]:
        return [percentile(values, q) for q in (50, 95, 99)] + [max(values, default=float("nan"))]

    return {"requests": len(tokens), "errors": len(errors), "missing": len(set(sends) - set(arrivals)),
            "push": summary(latencies), "http": summary(responses), "after": summary(after_response)}


def throughput_phase(app: Any, fake: FakeFcm, shopper_ids: list[uuid.UUID], rows: int) -> float:
    """Commit ``rows`` pushes at once; pushes per second until FCM has received them all."""
    from wallet.core.transaction import transaction
    from wallet.extensions import db
    from wallet.push.models import PushOutbox

    fake.reset()
    with app.app_context():
        table = PushOutbox.__table__
        values = [{"id": uuid.uuid4(), "shopper_id": shopper_ids[i % len(shopper_ids)], "kind": "coupon",
                   "collapse_key": "offer-bench", "ttl_seconds": 900, "status": "pending", "attempts": 0,
                   "payload": {"title": "T", "body": "B", "data": {}},
                   "next_attempt_at": dt.datetime.now(dt.UTC), "created_at": dt.datetime.now(dt.UTC)}
                  for i in range(rows)]
        with transaction() as session:
            session.execute(table.insert(), values)
            session.execute(sa.text("SELECT pg_notify('wallet_push_outbox', '')"))  # as the ORM hook does
            committing = time.time()
        db.session.remove()
    deadline = time.monotonic() + 300
    while len(fake.received) < rows:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(fake.received)} of {rows} pushes arrived")
        time.sleep(0.01)
    last = max(r.at for r in fake.received)
    return rows / (last - committing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--requests", type=int, default=500, help="location requests of the latency phase")
    parser.add_argument("--rate", type=float, default=10.0, help="location requests per second (open loop)")
    parser.add_argument("--rows", type=int, default=6000, help="pushes of the throughput phase")
    parser.add_argument("--workers", type=int, default=4, help="parallel dispatchers in the second throughput run")
    parser.add_argument("--quick", action="store_true", help="fewer requests and rows")
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="before each phase, wait up to this long (s) for other work on the machine to drop "
                             "below 15 %% of it; 0 not to wait")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rows = 150, 1500

    from flask_migrate import upgrade

    from wallet import create_app
    from wallet.extensions import db

    logs = Path(tempfile.mkdtemp(prefix="bench_push_"))
    children: list[Child] = []
    with FakeFcm("wallet-bench") as fake, bench_database(args.admin_url, args.keep_db) as url:
        config = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024,
                  "ARGON2_PARALLELISM": 1}
        app = create_app(config)
        with app.app_context():
            upgrade()
        log(f"seeding {args.requests} shoppers ...")
        tokens, shopper_ids = seed(app, args.requests)
        credentials = fake.write_service_account(logs / "service-account.json")
        env = {**os.environ, **loopback_only(), "PYTHONUNBUFFERED": "1", "WALLET_DATABASE_URL": url,
               "WALLET_SECRET_KEY": SECRET, "WALLET_GEOFENCE_INDEX_CHECK_SECONDS": "2",
               "GOOGLE_APPLICATION_CREDENTIALS": str(credentials), "WALLET_FCM_ENDPOINT": fake.url,
               "WALLET_PUSH_QUIET_HOURS": "", "WALLET_PUSH_DAILY_CAP": "1000000",
               "WALLET_RATELIMIT_ENABLED": "false"}  # the load comes from one address
        try:
            port = free_port()
            server = Child("server", [str(BIN / "gunicorn"), "wallet:create_app()", "--bind", f"127.0.0.1:{port}",
                                      "--workers", "4"], env, logs)
            children.append(server)
            server.wait_for("Booting worker")
            worker = Child("worker-0", [str(BIN / "wallet"), "worker"], env, logs)
            children.append(worker)
            worker.wait_for("new pushes wake the dispatcher")
            wait_ready(port, 30)

            log(f"latency: {args.requests} location requests at {args.rate:g}/s, one coupon and one push each "
                f"({wait_for_quiet(args.wait_idle)})")
            latency = latency_phase(port, tokens, fake, args.rate)
            worker.stop()
            server.stop()

            rates = {}
            for count in sorted({1, args.workers}):
                log(f"throughput: {args.rows} pushes committed at once, {count} worker process(es) "
                    f"({wait_for_quiet(args.wait_idle)})")
                workers = [Child(f"worker-x{count}-{i}", [str(BIN / "wallet"), "worker"], env, logs)
                           for i in range(count)]
                children.extend(workers)
                for each in workers:
                    each.wait_for("new pushes wake the dispatcher")
                rates[count] = throughput_phase(app, fake, shopper_ids, args.rows)
                for each in workers:
                    each.stop()
        finally:
            for child in children:
                child.stop()
            with app.app_context():
                db.engine.dispose()

    log()
    log(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; gunicorn 4 workers; batch size 100; FCM and PostgreSQL on loopback")
    log(f"{'':42} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    push_ms, http_ms = latency["push"], latency["http"]
    log(f"{'location request -> FCM receives push (ms)':42} " + " ".join(f"{v:8.1f}" for v in push_ms))
    log(f"{'location request -> HTTP response (ms)':42} " + " ".join(f"{v:8.1f}" for v in http_ms))
    log(f"{'HTTP response -> FCM receives push (ms)':42} " + " ".join(f"{v:8.1f}" for v in latency["after"]))
    verdict = "met" if push_ms[1] <= TARGET_P95_MS else "NOT met"
    log(f"target p95 <= {TARGET_P95_MS:.0f} ms: {verdict}   "
        f"({latency['requests']} requests, {latency['errors']} errors, {latency['missing']} pushes missing)")
    for count, rate in rates.items():
        log(f"dispatcher throughput, {count} worker process{'es' if count > 1 else ''}: {rate:8.0f} pushes/s")
    log(f"logs: {logs}")


if __name__ == "__main__":
    main()
