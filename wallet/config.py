"""Configuration: defaults, then ``WALLET_*`` environment variables, then explicit overrides."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

# Published in this repository's history as the development default: anyone can sign tokens with it.
DEV_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"
PUBLISHED_SECRETS = frozenset({DEV_SECRET})
SECRET_MIN_LENGTH = 32


class Defaults:
    ENV = "development"  # "production" also demands a real database, and switches the API docs off
    # Signs tokens, till codes and the funnel's shopper keys: required in every process, the same in
    # all of them (server, worker, CLI). `make run` makes a local one (wallet/local_secret.py).
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # default: SQLite file in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    # A pooled PostgreSQL connection idle this long (s) is checked before use (null: never; 0: always,
    # like pool_pre_ping): a busy process saves the check's round trip on every request.
    DATABASE_PING_IDLE_SECONDS: float | None = 10.0
    DATABASE_RETRY_AFTER = 5  # s, in the Retry-After of the 503 answered while the database is unreachable
    CHECK_READS_AT_TEARDOWN = False  # tests: PostgreSQL confirms a request's reads wrote nothing before they commit

    MAX_CONTENT_LENGTH = 256 * 1024  # a batch of 120 fixes is ~15 KiB; nothing we take is larger
    JSON_MAX_DEPTH = 64  # arrays and objects nested deeper are refused (ours nest 5 levels at most)

    ACCESS_TOKEN_TTL = 15 * 60
    REFRESH_TOKEN_TTL = 30 * 24 * 3600
    TOKEN_ISSUER = "wallet"

    # Argon2id cost (argon2-cffi's RFC 9106 "low memory" profile by default).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 64 * 1024
    ARGON2_PARALLELISM = 4

    SIGN_IN_MAX_FAILURES = 5
    SIGN_IN_WINDOW = 15 * 60
    SIGN_IN_LOCKOUT = 15 * 60

    # Rate limits (flask-limiter; docs/rate-limits.md): each guarded endpoint has a limit per client
    # address (RATE_LIMIT_<NAME>) and one per account (..._PER_ACCOUNT), in flask-limiter's notation
    # ("10/minute", "5/minute;50/hour"). Counters live in RATELIMIT_STORAGE_URI: memory (per process,
    # make run) or Redis in production ("redis://host:6379/0"), every process of the service sharing it.
    RATELIMIT_ENABLED = True  # false switches every limit off
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "wallet"  # the counters' key prefix in the storage
    RATELIMIT_SWALLOW_ERRORS = True  # the storage unreachable: requests pass (logged) rather than fail
    PROXY_FIX_X_FOR = 0  # trusted proxies in front (X-Forwarded-For hops to believe); 0: the peer is the client
    RATE_LIMIT_SIGN_UP = "10/minute;50/hour"
    RATE_LIMIT_SIGN_UP_PER_ACCOUNT = "3/hour"  # per e-mail
    RATE_LIMIT_SIGN_IN = "10/minute"  # shopper and staff sign-in
    RATE_LIMIT_SIGN_IN_PER_ACCOUNT = "10/minute"  # per e-mail (SIGN_IN_MAX_FAILURES locks it sooner)
    RATE_LIMIT_REFRESH = "30/minute"
    RATE_LIMIT_REFRESH_PER_ACCOUNT = "5/minute"  # per refresh token
    RATE_LIMIT_LOCATIONS = "600/minute"  # many shoppers may share a carrier's address
    RATE_LIMIT_LOCATIONS_PER_ACCOUNT = "30/minute"  # per shopper; a phone batches fixes
    RATE_LIMIT_GEOFENCE_EVENTS = "600/minute"
    RATE_LIMIT_GEOFENCE_EVENTS_PER_ACCOUNT = "30/minute"
    RATE_LIMIT_POS_SCAN = "300/minute"  # a store's tills may share an address
    RATE_LIMIT_POS_SCAN_PER_ACCOUNT = "60/minute"  # per POS key or cashier
    RATE_LIMIT_CATALOGUE_SEARCH = "60/minute"  # GET /v1/catalogue/brands with q
    RATE_LIMIT_CATALOGUE_SEARCH_PER_ACCOUNT = "60/minute"  # per shopper (anonymous: per address)

    # Geofences and the location pipeline (distances in metres, times in seconds unless named).
    GEOFENCE_INDEX_CHECK_SECONDS = 2.0  # how stale a process's index may be after a change
    OFFER_TRIGGERS_CHECK_SECONDS = 2.0  # how stale a process's view of the offers' triggers per fence may be
    POS_KEY_CACHE_SECONDS = 5.0  # a process remembers a good POS key this long (revocation elsewhere: ≤ this)
    GEOFENCE_INDEX_GC_FREEZE_MIN = 1000  # an index this big is frozen out of the cyclic GC's walks (gc.freeze)
    GEOFENCE_INDEX_PRELOAD = False  # build the index in create_app (gunicorn --preload: once, shared by workers)
    GEOFENCE_LOOKUP = "index"  # "postgis": one ST_Covers query per fix, the naive baseline of the benchmark
    GEOFENCE_MARGIN_M = 100.0  # fences this far beyond a fix's accuracy are "near" (exits, regions)
    GEOFENCE_MAX_STORE_DISTANCE_M = 2000.0  # every point of a fence lies within this of its store's location
    LOCATION_MAX_BATCH = 120
    LOCATION_MAX_AGE = 10 * 60  # older fixes are stale: they would trigger offers too late
    LOCATION_MAX_FUTURE = 30  # clock skew tolerated for fixes from the future
    LOCATION_MAX_ACCURACY_M = 100.0
    LOCATION_MAX_SPEED_MPS = 70.0  # 250 km/h: faster jumps are spoofed or broken fixes
    LOCATION_RETENTION = 0  # raw fixes are not kept beyond presence state unless this is > 0
    PRESENCE_EXIT_MARGIN_M = 20.0  # outside by this much beyond the accuracy before an exit counts
    PRESENCE_DWELL_MINUTES = 5
    PRESENCE_REENTRY_COOLDOWN_MINUTES = 10
    MONITOR_REGION_LIMIT = 19  # iOS allows 20 regions per app; one is the re-sync region
    MONITOR_RADIUS_M = 10_000.0  # regions are looked for this far; with fewer, the re-sync circle is this wide

    # Push: devices, restraint, the dispatcher and its provider (times in seconds unless named).
    PUSH_PROVIDER = "auto"  # "fcm", "log" (prints what would be sent); auto: fcm if GOOGLE_APPLICATION_CREDENTIALS
    PUSH_MAX_DEVICES = 5  # active devices per shopper; one more retires the least recently seen
    PUSH_DAILY_CAP = 3  # pushes per shopper per local day, all brands together
    PUSH_QUIET_HOURS = "21:00-09:00"  # shopper-local; "" switches quiet hours off
    PUSH_MAX_ATTEMPTS = 5  # then the row is dead-lettered with its reason
    PUSH_BACKOFF_BASE = 2.0  # first retry after ~2 s, then doubling, with jitter
    PUSH_BACKOFF_MAX = 300.0
    PUSH_BATCH_SIZE = 100  # rows claimed per round; one send_each call per 500 messages at most
    PUSH_LEASE_SECONDS = 60.0  # a dispatcher silent this long after a claim is presumed dead
    PUSH_POLL_SECONDS = 0.5  # how often to look for due rows without LISTEN/NOTIFY (SQLite)
    PUSH_LISTEN_SECONDS = 5.0  # longest sleep of a LISTENing dispatcher (PostgreSQL) between looks
    PUSH_DISPATCHER_THREAD = False  # run a dispatcher thread in the server process (make run)
    FCM_PROJECT_ID: str | None = None  # default: the project of the service account
    FCM_ENDPOINT = "https://fcm.googleapis.com"
    FCM_TIMEOUT = 10.0  # per HTTP request to FCM
    FCM_ANDROID_CHANNEL_ID = "coupons"

    # Insight and privacy: funnels, retention (times in seconds unless named).
    FUNNEL_MIN_SHOPPERS = 5  # a funnel figure about fewer distinct shoppers is withheld (null + suppressed)
    FUNNEL_DEFAULT_DAYS = 30  # the range of a funnel request without dates: the last 30 UTC days
    FUNNEL_MAX_DAYS = 366  # the widest range one funnel request may cover
    RETENTION_PRESENCE = 24 * 3600  # presence state not updated for this long is dropped (visit over)
    RETENTION_LAST_FIX = 3600  # the last fix is kept only for the impossible-speed check
    RETENTION_PUSH_OUTBOX = 30 * 24 * 3600  # sent, suppressed and dead pushes (funnel figures folded first)
    RETENTION_RETIRED_DEVICES = 30 * 24 * 3600  # push tokens after their device was retired
    RETENTION_ENDED_SESSIONS = 24 * 3600  # signed-out sessions (expired ones go at once)
    RETENTION_FUNNEL_DAYS = 395  # funnel counters and their pseudonymous shopper keys (13 months)
    RETENTION_INTERVAL = 3600  # make run: the server's retention thread purges this often (0: never)

    # flask-smorest / OpenAPI
    API_DOCS: bool | None = None  # serve /docs and /openapi.json; default: yes, except when ENV is production
    API_TITLE = "wallet"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/docs/assets/"
    JSON_SORT_KEYS = False


REQUIRED_IN_PRODUCTION = ("DATABASE_URL",)


class ConfigurationError(RuntimeError):
    """The configuration cannot run the service (raised at start-up, never later)."""


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("WALLET")
    if overrides:
        app.config.update(overrides)
    check_secret(app.config)
    check_production_config(app.config)
    check_settings(app.config)
    if app.config["API_DOCS"] is None:
        app.config["API_DOCS"] = app.config["ENV"] != "production"
    if not app.config["API_DOCS"]:
        app.config["OPENAPI_URL_PREFIX"] = None  # flask-smorest then serves neither the document nor the UI
    if not app.config.get("DATABASE_URL"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "wallet.db")
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    if app.config["DATABASE_URL"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    # A failed statement's parameters (password and key hashes, e-mails, push tokens) stay out of
    # its error message, and so out of every log that prints it.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "hide_parameters": True}


def check_settings(config: dict[str, Any]) -> None:
    """Settings whose bad values would otherwise fail on some request long after start-up."""
    for key in ("MONITOR_RADIUS_M", "GEOFENCE_MAX_STORE_DISTANCE_M"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
            raise ConfigurationError(f"WALLET_{key} must be a distance in metres above 0, got {value!r}")
    docs = config.get("API_DOCS")
    if docs is not None and not isinstance(docs, bool):
        raise ConfigurationError(f"WALLET_API_DOCS must be true or false, got {docs!r}")


def check_secret(config: dict[str, Any]) -> None:
    """Whatever ``ENV`` says: a server started without a secret must not fall back to a known one,
    or anyone could sign themselves a platform admin's token."""
    secret = config.get("SECRET_KEY")
    hint = ("generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'` and give the same "
            "value to every process (server, worker, CLI); `make run` makes its own in instance/secret_key")
    if not secret:
        raise ConfigurationError(f"refusing to start: WALLET_SECRET_KEY is not set; {hint}")
    if not isinstance(secret, str):
        raise ConfigurationError("refusing to start: WALLET_SECRET_KEY must be a string")
    if secret in PUBLISHED_SECRETS:
        raise ConfigurationError(f"refusing to start: WALLET_SECRET_KEY is the published development secret; {hint}")
    if len(secret) < SECRET_MIN_LENGTH:
        raise ConfigurationError(
            f"refusing to start: WALLET_SECRET_KEY must be at least {SECRET_MIN_LENGTH} characters; {hint}")


def check_production_config(config: dict[str, Any]) -> None:
    if config.get("ENV") != "production":
        return
    problems = [f"WALLET_{key} is not set" for key in REQUIRED_IN_PRODUCTION if not config.get(key)]
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
