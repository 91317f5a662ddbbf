#!/usr/bin/env python3
"""End-to-end benchmark of the till on PostgreSQL + PostGIS: purchases and redemptions over HTTP.

In a throwaway database of its own (migrated with the real revisions), the script loads a brand
with stores, a loyalty program with tiers and a stamp card, POS API keys (one per store), members
and coupons; starts ``gunicorn 'wallet:create_app()'`` on a loopback port; and measures, each phase
a closed loop (every connection sends its next request when the answer to the last one arrives):

- ``purchase``: POST /v1/pos/purchases, each a new order reference of a random member (points,
  the tier in the answer, a stamp on a card that starts part-filled: about one purchase in ten
  fills it and issues the reward coupon, its pass and its push, as in steady state);
- ``purchase replay``: the same requests again (each answered from the stored first answer);
- ``redemption``: POST /v1/pos/redemptions, each a different coupon under its own Idempotency-Key;
- ``checkout``: a till's sequence, a member card scanned (its live code, through the ORM session)
  then a purchase, alternating (not part of the target: it shows that the scan's reads leave the
  purchase's prepared statements alone);
- ``floor``, for scale: GET /v1/pos/context, authentication and one query (no till request costs less).

Then open loops, purchases and redemptions alternating: at the target rate (``--rate``, default
1,000 requests/s) if the closed loop reached it, and at 70 % of the capacity it did reach if that
is below the target rate. Their
latency is measured from each request's scheduled send time, so a server that falls behind
cannot hide it (no coordinated omission).

The machine may be shared (the load generator runs on it too, and maybe other work): each phase
also reports the CPU that gunicorn and the benchmark's PostgreSQL backends spent per operation,
and the CPU that anything else took meanwhile, so that the figures can be read for what they are.

Throughput counts successful answers only (any other status is reported); latency is the time
from sending a request to reading its whole answer, measured by the client on the same machine.
The client writes pre-encoded requests on plain sockets (no http.client), to take as little of
the shared CPU as it can.

The server runs as a sensible production deployment would on this machine: gunicorn's sync
workers (4, twice the cores: a worker waiting on PostgreSQL leaves its core to another), as
``wallet.workers.ExclusiveSyncWorker`` (an idle worker waits in an EPOLLEXCLUSIVE epoll set, so a
new connection wakes one of them, not all: ``--worker-class sync`` for gunicorn's own),
``WALLET_ENV=production``, the app's own database settings (a pooled connection idle 10 s or more
is checked before use, ``WALLET_DATABASE_PING_IDLE_SECONDS``) unless the environment says
otherwise, access log off.
Sync workers close the connection after each answer (a load balancer in front would keep its
own connections to the clients); gthread workers with keep-alive measured no cheaper here.
The tokens the till would get from a scan are issued by the script with the server's secret (the
scan itself is not in the measured path).

    .venv/bin/python scripts/bench_pos.py            # about 3 minutes
    .venv/bin/python scripts/bench_pos.py --quick    # about 1 minute

Only loopback is used: PostgreSQL on 127.0.0.1:5432 (``--admin-url``), gunicorn on a free port.
The database (``wallet_bench_pos_<pid>``) is dropped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import secrets
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_support import Channel, GunicornServer, encode_request  # noqa: E402  (scripts/ is on sys.path: the script's own folder)

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-pos-secret-key-0123456789abcdef-0123"  # the server and the token issuer share it
TARGET_RATE = 1000.0  # operations/s
TARGET_P99_MS = 30.0


def log(message: str = "") -> None:
    print(message, flush=True)



def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


# --- CPU accounting (the machine may be shared: throughput per CPU-second does not depend on it) --

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, name, user + system CPU seconds) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    name = text[text.find("(") + 1:text.rfind(")")]
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICKS


def _serves(pid: int, database: str) -> bool:
    """A PostgreSQL backend names its database in its process title."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f" {database} ".encode() in cmdline.read().replace(b"\0", b" ") + b" "
    except OSError:
        return False


@dataclass
class Cpu:
    server: float  # gunicorn master and workers
    postgres: float  # the backends serving the benchmark's database
    machine_busy: float
    machine_total: float


def cpu_now(server_pid: int, database: str) -> Cpu:
    server = postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        found = _proc_stat(int(entry))
        if found is None:
            continue
        ppid, name, seconds = found
        if int(entry) == server_pid or ppid == server_pid:
            server += seconds
        elif name.startswith("postgres") and _serves(int(entry), database):
            postgres += seconds
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return Cpu(server, postgres, (total - idle) / _TICKS, total / _TICKS)


# --- the database ------------------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def analyze(engine: Any) -> None:
    """What autovacuum would have done by now: the test server runs without it. Left alone, tables
    analyzed while nearly empty keep plans (sequential scans) that grow slower with every row, and
    every purchase leaves a dead version of its member's account row (every redemption, of its
    coupon) that later updates must step over."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@dataclass
class Dataset:
    pos_keys: list[tuple[str, str]]  # (raw key, store id)
    member_tokens: dict[str, list[str]]  # store id -> tokens of members scanned there
    coupon_tokens: dict[str, list[str]]  # store id -> tokens of coupons scanned there
    member_cards: list[tuple[str, bytes]]  # (short id, secret) of each member's card pass: live codes


def load_dataset(url: str, *, stores: int, members: int, coupons: int, history: int) -> Dataset:
    """Migrate, then load the brand, its program, keys, members with ``history`` past purchases each
    (over the last 18 months, with their ledger entries and balances) and coupons, in bulk."""
    import datetime as dt

    import shapely
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from wallet import create_app
    from wallet.auth import secrets as auth_secrets
    from wallet.auth.models import PosApiKey, Role, Shopper
    from wallet.auth.principal import Principal
    from wallet.brands.models import Brand, Store
    from wallet.cards.models import MEMBER, Card, Membership
    from wallet.core.time import utcnow
    from wallet.core.transaction import transaction
    from wallet.extensions import db
    from wallet.loyalty import services as loyalty
    from wallet.loyalty.models import EARN, LedgerEntry, LoyaltyAccount, Purchase
    from wallet.offers.models import ACTIVE, ENTER, ISSUED, Coupon, Offer
    from wallet.passes import codes
    from wallet.passes.models import COUPON, MEMBER_CARD, Pass
    from wallet.pos import tokens

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        upgrade()
        now = utcnow()
        with transaction() as session:
            brand = Brand(name="Bench", name_key="bench")
            session.add(brand)
            session.flush()
            store_rows = [Store(brand_id=brand.id, name=f"Store {i}", street="1 rue", postal_code="75001",
                                city="Paris", country_code="FR", time_zone="Europe/Paris",
                                location=shapely.Point(2.35 + i / 1000, 48.85)) for i in range(stores)]
            session.add_all(store_rows)
            session.flush()
            admin_id = uuid.uuid4()
            from wallet.auth.models import StaffMember

            session.add(StaffMember(id=admin_id, brand_id=brand.id, email="bench-admin@bench.test", password_hash="-",
                                    display_name="Bench admin", role=Role.BRAND_ADMIN))
        admin = Principal(id=admin_id, role=Role.BRAND_ADMIN, brand_id=brand.id)
        loyalty.set_program(principal=admin, brand_id=brand.id, data={
            "currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": 24,
            "stamp_card": None})
        for name, threshold in (("Silver", 500), ("Gold", 2000)):
            loyalty.create_tier(principal=admin, brand_id=brand.id, data={"name": name, "threshold_points": threshold})
        texts = {"fr": {"title": "Café offert", "description": "Au comptoir"},
                 "en": {"title": "Free coffee", "description": "At the counter"}}
        reward = loyalty.create_reward(principal=admin, brand_id=brand.id, data={
            "points_cost": 100, "reward": {"type": "free_item", "item": "Café"}, "content": texts,
            "default_locale": "fr", "coupon_ttl_minutes": 43200, "stock": None, "tier_ids": []})
        loyalty.set_program(principal=admin, brand_id=brand.id, data={
            "currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": 24,
            "stamp_card": {"size": 10, "min_amount_minor": 1000, "reward_id": reward.reward.id}})

        pos_keys = []
        with transaction() as session:
            for store in store_rows:
                key = f"wk_{uuid.uuid4().hex[:8]}_{auth_secrets.new_token()}"
                session.add(PosApiKey(brand_id=brand.id, store_id=store.id, name="bench till", prefix=key[:11],
                                      key_hash=auth_secrets.digest(key)))
                pos_keys.append((key, str(store.id)))

        # Members and coupons, in bulk: a shopper, pass, card and membership per member; a pass and
        # a coupon of an all-stores offer per coupon.
        shopper_rows, pass_rows, card_rows, membership_rows = [], [], [], []
        for i in range(members):
            shopper_id, pass_id, card_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            number = f"{i:012d}"
            shopper_rows.append({"id": shopper_id, "email": f"m{i}@bench.test", "password_hash": "-",
                                 "display_name": f"Member {i}", "locale": "fr-FR", "time_zone": "Europe/Paris",
                                 "consent_location": False, "consent_marketing": False, "is_active": True,
                                 "created_at": now, "updated_at": now})
            pass_rows.append({"id": pass_id, "kind": MEMBER_CARD, "short_id": codes.generate_short_id() + f"{i:X}"[-4:],
                              "secret": codes.generate_secret(), "brand_id": brand.id, "shopper_id": shopper_id,
                              "failed_attempts": 0, "created_at": now})
            card_rows.append({"id": card_id, "shopper_id": shopper_id, "kind": MEMBER, "brand_id": brand.id,
                              "number": number, "symbology": "qr", "dedupe_key": f"brand:{brand.id}:{number}",
                              "label": "Bench", "created_at": now, "updated_at": now})
            membership_rows.append({"id": uuid.uuid4(), "shopper_id": shopper_id, "brand_id": brand.id,
                                    "member_number": number, "card_id": card_id, "pass_id": pass_id,
                                    "enrolled_at": now})
        offer_id = uuid.uuid4()
        coupon_pass_rows, coupon_rows = [], []
        for i in range(coupons):
            pass_id = uuid.uuid4()
            shopper = shopper_rows[i % members]
            coupon_pass_rows.append({"id": pass_id, "kind": COUPON, "short_id": uuid.uuid4().hex[:16].upper(),
                                     "secret": codes.generate_secret(), "brand_id": brand.id,
                                     "shopper_id": shopper["id"], "failed_attempts": 0, "created_at": now})
            coupon_rows.append({"id": uuid.uuid4(), "offer_id": offer_id, "brand_id": brand.id,
                                "shopper_id": shopper["id"], "pass_id": pass_id, "trigger": ENTER, "status": ISSUED,
                                "issued_at": now, "expires_at": now + dt.timedelta(days=1)})
        rng = random.Random(7)
        purchase_rows, entry_rows, balances = [], [], {}
        for membership in membership_rows:
            for n in range(history):
                amount = rng.randint(150, 25_000)
                at = now - dt.timedelta(days=rng.uniform(1, 540))
                purchase_id = uuid.uuid4()
                store_id = store_rows[rng.randrange(stores)].id
                reference = f"H-{membership['member_number']}-{n}"
                purchase_rows.append({"id": purchase_id, "brand_id": brand.id, "membership_id": membership["id"],
                                      "store_id": store_id, "order_reference": reference, "amount_minor": amount,
                                      "currency": "EUR", "points": amount // 100, "refunded_amount_minor": 0,
                                      "points_reversed": 0, "stamped": False, "actor_kind": "pos_key",
                                      "actor_id": None, "created_at": at, "response": None})
                if amount >= 100:
                    entry_rows.append({"id": uuid.uuid4(), "membership_id": membership["id"], "brand_id": brand.id,
                                       "kind": EARN, "points": amount // 100, "reason": "Purchase",
                                       "store_id": store_id, "order_reference": reference,
                                       "purchase_id": purchase_id, "coupon_id": None, "actor_kind": "pos_key",
                                       "actor_id": None, "created_at": at})
                    balances[membership["id"]] = balances.get(membership["id"], 0) + amount // 100
        # Stamp cards part-filled at random, as in steady state: about one stamped purchase in ten
        # fills a card (and issues its reward) from the first phase on, not only once the run has
        # stamped every card up to full.
        account_rows = [{"membership_id": membership_id, "brand_id": brand.id, "balance": balance,
                         "stamps": rng.randrange(10), "created_at": now, "updated_at": now}
                        for membership_id, balance in balances.items()]
        with transaction() as session:
            session.execute(insert(Shopper), shopper_rows)
            session.execute(insert(Pass), pass_rows + coupon_pass_rows)
            session.execute(insert(Card), card_rows)
            session.execute(insert(Membership), membership_rows)
            session.add(Offer(id=offer_id, brand_id=brand.id, status=ACTIVE, reward_type="percent_off",
                              reward_percent=10, content=texts, default_locale="fr", valid_from=now,
                              valid_until=now + dt.timedelta(days=2), schedule=[], trigger=ENTER, all_stores=True,
                              audience="opted_in", coupon_ttl_minutes=120, issued_count=coupons))
            session.flush()
            session.execute(insert(Coupon), coupon_rows)
            if purchase_rows:
                session.execute(insert(Purchase), purchase_rows)
                session.execute(insert(LedgerEntry), entry_rows)
                session.execute(insert(LoyaltyAccount), account_rows)
        analyze(db.engine)

        member_tokens: dict[str, list[str]] = {store_id: [] for _, store_id in pos_keys}
        coupon_tokens: dict[str, list[str]] = {store_id: [] for _, store_id in pos_keys}
        for index, membership in enumerate(membership_rows):
            store_id = pos_keys[index % len(pos_keys)][1]
            member_tokens[store_id].append(tokens.issue_token(
                tokens.MEMBER, subject_id=membership["id"], brand_id=brand.id, store_id=uuid.UUID(store_id)))
        for index, coupon in enumerate(coupon_rows):
            store_id = pos_keys[index % len(pos_keys)][1]
            coupon_tokens[store_id].append(tokens.issue_token(
                tokens.REDEMPTION, subject_id=coupon["id"], brand_id=brand.id, store_id=uuid.UUID(store_id)))
        db.engine.dispose()
    return Dataset(pos_keys, member_tokens, coupon_tokens,
                   [(row["short_id"], row["secret"]) for row in pass_rows])


# --- gunicorn ------------------------------------------------------------------------------------


WORKER_CLASSES = {"sync": "sync", "gthread": "gthread", "exclusive": "wallet.workers.ExclusiveSyncWorker"}


class Server(GunicornServer):
    """``gunicorn 'wallet:create_app()'`` on a free loopback port, in a process group of its own."""

    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url, self.args = url, args
        super().__init__(Path(os.environ.get("TMPDIR", "/tmp")), "bench-pos-gunicorn")

    def describe(self) -> str:
        threads = f" × {self.args.threads} threads" if self.args.worker_class == "gthread" else ""
        connections = "keep-alive" if self.args.worker_class == "gthread" else "a connection per request"
        return f"gunicorn {WORKER_CLASSES[self.args.worker_class]}, {self.args.workers} workers{threads}, {connections}"

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers",
                   str(self.args.workers), "--worker-class", WORKER_CLASSES[self.args.worker_class], "--keep-alive", "75",
                   "--backlog", "2048", "--timeout", "120", "--log-level", "warning"]
        if self.args.worker_class == "gthread":
            command += ["--threads", str(self.args.threads)]
        command.append("wallet:create_app()")
        env = {**os.environ, "WALLET_DATABASE_URL": self.url, "WALLET_SECRET_KEY": SECRET_KEY,
               "WALLET_ENV": "production", "PYTHONUNBUFFERED": "1",
               "WALLET_RATELIMIT_ENABLED": "false"}  # the load comes from one address and a few keys
        self.launch(command, env)


# --- the load generator --------------------------------------------------------------------------

Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body
LATE_S = 0.005  # an open-loop request sent this long after its scheduled time counts as sent late


def purchase_requests(dataset: Dataset, count: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    requests = []
    for index in range(count):
        key, store_id = dataset.pos_keys[index % len(dataset.pos_keys)]
        token = rng.choice(dataset.member_tokens[store_id])
        body = {"member_token": token, "amount_minor": rng.randint(150, 25_000), "currency": "EUR",
                "order_reference": f"B{seed}-{index}-{secrets.token_hex(4)}"}
        requests.append(("POST", "/v1/pos/purchases", {"X-API-Key": key, "Content-Type": "application/json"},
                         json.dumps(body).encode()))
    return requests


def checkout_requests(dataset: Dataset, count: int, seed: int) -> list[Request]:
    """A till's checkout: the scan of a member card (its live code, each member once: a code's step is
    accepted once), then a purchase, alternating. The scan reads through the ORM session (and spends
    the code), as a real till does before it records the purchase."""
    from wallet.passes import codes
    from wallet.passes.models import MEMBER_CARD

    rng = random.Random(seed)
    scans = count // 2
    if scans > len(dataset.member_cards):
        raise RuntimeError(f"{scans:,} members to scan, {len(dataset.member_cards):,} loaded")
    step = codes.step_at(time.time())  # accepted for this step and the next one (30 to 60 s)
    requests: list[Request] = []
    for index, member, buy in zip(range(scans), rng.sample(range(len(dataset.member_cards)), scans),
                                  purchase_requests(dataset, scans, seed)):
        key, _ = dataset.pos_keys[index % len(dataset.pos_keys)]
        short_id, secret = dataset.member_cards[member]
        body = {"code": codes.format_pass_code(MEMBER_CARD, short_id, secret, step)}
        requests += [("POST", "/v1/pos/scan", {"X-API-Key": key, "Content-Type": "application/json"},
                      json.dumps(body).encode()), buy]
    return requests


def context_requests(dataset: Dataset, count: int) -> list[Request]:
    """GET /v1/pos/context: authentication and one query, the floor under every till request."""
    return [("GET", "/v1/pos/context", {"X-API-Key": dataset.pos_keys[i % len(dataset.pos_keys)][0]}, b"")
            for i in range(count)]


def redemption_requests(dataset: Dataset, start: int, count: int) -> list[Request]:
    requests = []
    per_store = {store_id: iter(tokens) for store_id, tokens in dataset.coupon_tokens.items()}
    taken = 0
    index = 0
    available = sum(len(tokens) for tokens in dataset.coupon_tokens.values())
    if start + count > available:
        raise RuntimeError(f"{start + count:,} coupons needed, {available:,} loaded")
    while taken < start + count:
        key, store_id = dataset.pos_keys[index % len(dataset.pos_keys)]
        index += 1
        token = next(per_store[store_id], None)
        if token is None:
            continue
        taken += 1
        if taken <= start:
            continue
        body = {"redemption_token": token, "order_reference": f"R-{taken}"}
        requests.append(("POST", "/v1/pos/redemptions", {"X-API-Key": key, "Content-Type": "application/json",
                                                         "Idempotency-Key": uuid.uuid4().hex},
                         json.dumps(body).encode()))
    return requests


def _client(port: int, requests: list[Request], connections: int, mode: str, rate: float, start_at: float,
            results: Any) -> None:
    """One load-generator process: ``connections`` threads, closed loop or open loop at ``rate``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = [0]
    cursor = iter(range(len(requests)))
    wires = [encode_request(port, *request) for request in requests]

    def next_index() -> int | None:
        with lock:
            return next(cursor, None)

    def work() -> None:
        channel = Channel(port)
        local_latency, local_status = [], {}
        while True:
            index = next_index()
            if index is None:
                break
            scheduled = None
            if mode == "open":
                scheduled = start_at + index / rate
                delay = scheduled - time.time()
                if delay > 0:
                    time.sleep(delay)
            sent = time.time()
            if scheduled is not None and sent - scheduled > LATE_S:
                with lock:
                    late[0] += 1
            status, _ = channel.exchange(wires[index])
            done = time.time()
            local_latency.append((done - (scheduled if scheduled is not None else sent)) * 1000)
            local_status[status] = local_status.get(status, 0) + 1
        channel.close()
        with lock:
            latencies.extend(local_latency)
            for status, n in local_status.items():
                statuses[status] = statuses.get(status, 0) + n

    while time.time() < start_at:
        time.sleep(0.0005)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.time()
    threads = [threading.Thread(target=work) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = time.time()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    results.put({"latencies": latencies, "statuses": statuses, "began": began, "ended": ended, "cpu": cpu,
                 "late": late[0]})


@dataclass
class PhaseResult:
    name: str
    requests: int
    ok: int
    seconds: float
    statuses: dict[int, int]
    p50: float
    p95: float
    p99: float
    client_cpu: float
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    others_cpu: float = 0.0  # CPU the machine spent on anything else meanwhile (other work)
    late: int = 0  # open loop: requests sent more than LATE_S after their scheduled time (no free thread)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        """Server and database CPU per successful operation (what the load itself costs)."""
        return (self.server_cpu + self.postgres_cpu) / self.ok * 1000 if self.ok else float("nan")


def run_phase(name: str, port: int, requests: list[Request], *, connections: int, processes: int,
              mode: str = "closed", rate: float = 0.0, server_pid: int = 0, database: str = "") -> PhaseResult:
    """Split the requests between processes (interleaved, so an open loop keeps its schedule)."""
    context = mp.get_context("fork")
    results = context.Queue()
    before = cpu_now(server_pid, database) if server_pid else None
    start_at = time.time() + 1.0
    shares = [requests[i::processes] for i in range(processes)]
    procs = [context.Process(target=_client, args=(port, share, max(1, connections // processes), mode,
                                                   rate / processes if rate else 0.0, start_at, results))
             for share in shares]
    for proc in procs:
        proc.start()
    outs = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    latencies = [value for out in outs for value in out["latencies"]]
    statuses: dict[int, int] = {}
    for out in outs:
        for status, n in out["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    seconds = max(out["ended"] for out in outs) - min(out["began"] for out in outs)
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    client_cpu = sum(out["cpu"] for out in outs)
    result = PhaseResult(name, len(requests), ok, seconds, statuses, percentile(latencies, 50),
                         percentile(latencies, 95), percentile(latencies, 99), client_cpu,
                         late=sum(out["late"] for out in outs))
    if before is not None:
        after = cpu_now(server_pid, database)
        result.server_cpu = after.server - before.server
        result.postgres_cpu = after.postgres - before.postgres
        busy = after.machine_busy - before.machine_busy
        result.others_cpu = max(0.0, busy - result.server_cpu - result.postgres_cpu - client_cpu)
    return result


def describe(result: PhaseResult, mode: str) -> str:
    others = {status: n for status, n in result.statuses.items() if not 200 <= status < 300}
    verdict = ""
    if mode == "open":
        rate_ok = result.throughput >= TARGET_RATE * 0.98
        latency_ok = result.p99 <= TARGET_P99_MS
        verdict = (f"  [rate {'≥' if rate_ok else '<'} {TARGET_RATE:,.0f}/s target, "
                   f"p99 {'≤' if latency_ok else '>'} {TARGET_P99_MS:.0f} ms; sent late: {result.late}]")
    return (f"  {result.name:<34} {result.throughput:7,.0f} ops/s  p50 {result.p50:6.1f}  p95 {result.p95:6.1f}  "
            f"p99 {result.p99:6.1f} ms  | CPU/op: server+db {result.cpu_ms_per_op:4.1f} ms  "
            f"(gunicorn {result.server_cpu:5.1f} s, postgres {result.postgres_cpu:4.1f} s, client "
            f"{result.client_cpu:4.1f} s, other work on the machine {result.others_cpu:5.1f} s)"
            + (f"  other statuses {others}" if others else "") + verdict)


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("WALLET_TEST_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--quick", action="store_true", help="fewer requests per phase")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="exclusive", choices=sorted(WORKER_CLASSES),
                        help="exclusive: wallet.workers.ExclusiveSyncWorker (sync, one idle worker woken per connection)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", default="4,8,16", help="closed-loop concurrency levels")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--open-connections", type=int, default=16,
                        help="open loop: sending threads, all processes together (each request is sent at its "
                             "scheduled time by a free one; the answer lists how many went late). Many more than "
                             "the few requests in flight at once only take CPU from the server they measure")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop arrival rate (requests/s)")
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--history", type=int, default=4, help="past purchases per member (with ledger entries)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    per_phase = 2000 if args.quick else 6000
    open_seconds = 8.0 if args.quick else args.open_seconds
    levels = [int(level) for level in args.connections.split(",")]
    coupons = per_phase * len(levels) + int(args.rate * open_seconds) + 400

    import gunicorn
    import sqlalchemy as sa

    name = f"wallet_bench_pos_{os.getpid()}"
    log("bench_pos: the till on PostGIS, end to end over HTTP — purchases, replays, redemptions")
    log(f"  machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"gunicorn {gunicorn.__version__}, SQLAlchemy {sa.__version__}")
    url = create_database(args.admin_url, name)
    engine = sa.create_engine(url)
    server: Server | None = None
    try:
        started = time.monotonic()
        dataset = load_dataset(url, stores=args.stores, members=args.members, coupons=coupons, history=args.history)
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SELECT version()").scalar()
            postgis = connection.exec_driver_sql("SELECT postgis_lib_version()").scalar()
            sync_commit = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
            autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar()
        log(f"  database: {str(version).split(',')[0]}, PostGIS {postgis}, synchronous_commit {sync_commit}, "
            f"autovacuum {autovacuum}, on 127.0.0.1" + ("" if autovacuum == "on" else
                                                       " (the benchmark runs ANALYZE between phases instead)"))
        log(f"  data: {args.stores} stores (one POS key each), {args.members:,} members with "
            f"{args.history} past purchases each, {coupons:,} coupons, program with 2 tiers and a stamp card of 10 "
            f"(cards part-filled at random) "
            f"(loaded in {time.monotonic() - started:.0f} s)")
        server = Server(url, args)
        server.start()
        log(f"  server: {server.describe()}; load: {args.client_processes} client processes on the same machine, "
            f"keep-alive where the server allows it, POS API key auth")
        log("")
        log("closed loop (each connection sends its next request as soon as the answer arrives):")
        results: list[tuple[PhaseResult, str]] = []
        assert server.proc is not None
        where = {"server_pid": server.proc.pid, "database": name}
        redeemed = 0
        warm = purchase_requests(dataset, 300, seed=999) + redemption_requests(dataset, redeemed, 300)
        redeemed += 300
        run_phase("warm-up", server.port, warm, connections=4, processes=1)

        def measure(*args: Any, **kwargs: Any) -> PhaseResult:
            if autovacuum != "on":
                analyze(engine)  # what autovacuum would have done by now
            return run_phase(*args, **kwargs, **where)

        floor = measure(f"floor: GET /v1/pos/context, {max(levels)} connections", server.port,
                        context_requests(dataset, per_phase), connections=max(levels),
                        processes=args.client_processes)
        log(describe(floor, "closed"))
        for level in levels:
            buys = purchase_requests(dataset, per_phase, seed=level)
            result = measure(f"purchase, {level} connections", server.port, buys, connections=level,
                             processes=args.client_processes)
            log(describe(result, "closed"))
            results.append((result, "closed"))
            result = measure(f"purchase replay, {level} connections", server.port, buys, connections=level,
                             processes=args.client_processes)
            log(describe(result, "closed"))
            results.append((result, "closed"))
            redemptions = redemption_requests(dataset, redeemed, per_phase)
            redeemed += len(redemptions)
            result = measure(f"redemption, {level} connections", server.port, redemptions, connections=level,
                             processes=args.client_processes)
            log(describe(result, "closed"))
            results.append((result, "closed"))
        level = levels[len(levels) // 2]
        checkout = measure(f"checkout: scan + purchase, {level} conn.", server.port,
                           checkout_requests(dataset, per_phase, seed=4242), connections=level,
                           processes=args.client_processes)
        log(describe(checkout, "closed"))
        log("")
        cores = os.cpu_count() or 1
        best = {kind: max((r for r, _ in results if r.name.startswith(kind + ",")), key=lambda r: r.throughput)
                for kind in ("purchase", "purchase replay", "redemption")}
        capacity = min(best["purchase"].throughput, best["redemption"].throughput)
        rates = [args.rate] if capacity >= args.rate * 0.9 else []
        if capacity * 0.7 < args.rate:  # (above the target rate, the first loop already says it)
            rates.append(round(capacity * 0.7, -1) or 10.0)
        for rate in rates:
            seconds = open_seconds if rate >= args.rate else min(open_seconds, 15.0)
            count = int(rate * seconds)
            log(f"open loop at {rate:,.0f} requests/s for {seconds:.0f} s, purchases and redemptions alternating "
                f"(latency from each request's scheduled send time):")
            buys = purchase_requests(dataset, count // 2 + 1, seed=int(rate))
            redemptions = redemption_requests(dataset, redeemed, count // 2 + 1)
            redeemed += len(redemptions)
            mixed = [request for pair in zip(buys, redemptions) for request in pair][:count]
            result = measure(f"mixed at {rate:,.0f}/s", server.port, mixed, connections=args.open_connections,
                             processes=args.client_processes, mode="open", rate=rate)
            log(describe(result, "open"))
        if args.rate not in rates:
            log(f"  (not run at {args.rate:,.0f}/s: above what the closed loop reached, the queue would only grow)")
        log("")
        log(f"summary on this machine ({cores} cores, shared with the load generator and whatever else runs):")
        for kind, result in best.items():
            ceiling = cores * 1000 / (result.cpu_ms_per_op + result.client_cpu / max(result.ok, 1) * 1000)
            where_best = result.name.split(", ")[1]
            log(f"  {kind:<16} best {result.throughput:6,.0f} ops/s (p99 {result.p99:.0f} ms, {where_best});"
                f" server+db CPU {result.cpu_ms_per_op:.1f} ms/op → at most ~{ceiling:,.0f} ops/s if the {cores} cores "
                f"did nothing else")
        log(f"  {'checkout':<16} {checkout.throughput:6,.0f} requests/s, a scan and a purchase each "
            f"{checkout.throughput / 2:,.0f}/s (p99 {checkout.p99:.0f} ms; server+db CPU {checkout.cpu_ms_per_op:.1f} ms/request)")
        log(f"  {'floor':<16} best {floor.throughput:6,.0f} req/s for authentication and one query "
            f"(server+db CPU {floor.cpu_ms_per_op:.1f} ms/request)")
        with engine.connect() as connection:  # the history loaded has no answers (JSON null): this run's purchases
            made, filled = connection.exec_driver_sql(
                "SELECT count(*), count(*) FILTER (WHERE jsonb_array_length(response -> 'rewards_issued') > 0) "
                "FROM loyalty_purchases WHERE jsonb_typeof(response) = 'object'").one()
        log(f"  {'stamp cards':<16} {filled:,} of the run's {made:,} purchases ({filled / max(made, 1):.1%}) "
            f"filled a card and issued its reward")
        log(f"target: ≥ {TARGET_RATE:,.0f} operations/s with p99 ≤ {TARGET_P99_MS:.0f} ms")
        errors = [line for line in server.log_tail(200).splitlines() if "Traceback" in line or "ERROR" in line]
        if errors:
            log(f"server log has {len(errors)} error lines: see {server.log_path}")
    finally:
        engine.dispose()
        if server is not None:
            server.stop()
        if not args.keep_db:
            drop_database(args.admin_url, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
