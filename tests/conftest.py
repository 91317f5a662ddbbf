"""Fixtures shared by the suite: a migrated PostGIS database per xdist worker, the app, clients,
factories (``make_brand(...)``) and authentication helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from wallet import create_app
from wallet.auth import secrets as auth_secrets
from wallet.auth import services as auth_services
from wallet.auth.models import PosApiKey, Role, Shopper, StaffMember, StaffStoreScope
from wallet.auth.tokens import SHOPPER_AUDIENCE, STAFF_AUDIENCE
from wallet.brands.models import Brand, Store
from wallet.geo import geometry
from wallet.geo.models import CIRCLE, POLYGON, Geofence
from wallet.core.time import utcnow
from wallet.core.transaction import end_reads, transaction
from wallet.extensions import db

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct-horse-battery"

# Cheap Argon2 parameters: the suite hashes hundreds of passwords.
TEST_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "CHECK_READS_AT_TEARDOWN": True,
    "SECRET_KEY": "test-secret-key-0123456789-0123456789",
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 1024,
    "ARGON2_PARALLELISM": 1,
    "GEOFENCE_INDEX_CHECK_SECONDS": 0,  # every request sees fence changes at once
    "OFFER_TRIGGERS_CHECK_SECONDS": 0,  # ... and offer changes
    "RATELIMIT_ENABLED": False,  # the suite signs in hundreds of times from one address; tests/api/test_rate_limits.py
}
# The app refuses to start without a secret: apps the suite builds without TEST_CONFIG, and the
# commands it runs, sign with the suite's own (tests about the secret itself remove it).
os.environ.setdefault("WALLET_SECRET_KEY", TEST_CONFIG["SECRET_KEY"])


def _admin_url() -> sa.URL:
    return make_url(os.environ.get("WALLET_TEST_DATABASE_URL", DEFAULT_ADMIN_URL))


def create_test_database(name: str) -> str:
    """A fresh, empty database with PostGIS available; fail loudly if the server is not there."""
    admin_url = _admin_url()
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            # Durability is not what the tests test; waiting for fsync on each commit is most of their time.
            connection.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    except sa.exc.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {admin_url.render_as_string(hide_password=True)}: run the suite "
            f"with `make test`, which provisions it, or set WALLET_TEST_DATABASE_URL. ({error.orig})",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_test_database(name: str) -> None:
    engine = sa.create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def worker_id_suffix(request: pytest.FixtureRequest) -> str:
    # The process id too: two test runs on one server (two terminals, two agents) must not share databases.
    return f'{os.environ.get("PYTEST_XDIST_WORKER", "main")}_{os.getpid()}'



@pytest.fixture(scope="session")
def database_url(worker_id_suffix: str) -> Iterator[str]:
    name = f"wallet_test_{worker_id_suffix}"
    url = create_test_database(name)
    yield url
    drop_test_database(name)


class RequestClient(FlaskClient):
    """Flask's test client, ending each request's reads as the app's teardown does in production
    (commit them, PostgreSQL first confirming they wrote nothing): the tests' app context outlives
    their requests, so the teardown itself would run only once, at the end of a test."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if has_app_context():  # (a request from a thread of its own had its own context, torn down)
            end_reads()
        return response


@pytest.fixture(scope="session")
def _migrated_app(database_url: str) -> Iterator[Flask]:
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url})
    app.test_client_class = RequestClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_migrated_app: Flask) -> Iterator[Flask]:
    """The app on the worker's PostGIS database, emptied after each test."""
    with _migrated_app.app_context():
        yield _migrated_app
        db.session.remove()
        # DELETE beats TRUNCATE on tables this small (TRUNCATE rewrites every table's files).
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
    # Per-process caches describe the database that was just emptied.
    for cache in ("wallet.geofence_index", "wallet.last_fixes", "wallet.offer_triggers"):
        _migrated_app.extensions.pop(cache, None)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- factories -----------------------------------------------------------------------------


@pytest.fixture
def make_brand(app: Flask) -> Callable[..., Brand]:
    def make(name: str | None = None, **fields: Any) -> Brand:
        name = name or f"Brand {uuid.uuid4().hex[:8]}"
        with transaction() as session:
            brand = Brand(name=name, name_key=name.lower(), **fields)
            session.add(brand)
        return brand

    return make


@pytest.fixture
def make_store(app: Flask) -> Callable[..., Store]:
    def make(brand: Brand, name: str = "Store", lat: float = 48.8566, lon: float = 2.3522, **fields: Any) -> Store:
        defaults = {"street": "1 rue de Rivoli", "postal_code": "75001", "city": "Paris", "country_code": "FR",
                    "time_zone": "Europe/Paris"}
        with transaction() as session:
            store = Store(brand_id=brand.id, name=name, location=shapely.Point(lon, lat), **{**defaults, **fields})
            session.add(store)
        return store

    return make


@pytest.fixture
def make_geofence(app: Flask) -> Callable[..., Geofence]:
    """A circle around the store (default 50 m), or the given Shapely polygon; either keeps the shape
    rules the API enforces (near its store, clear of the antimeridian), or the index would leave it out."""

    def make(store: Store, radius_m: float = 50.0, polygon: Any = None, name: str = "Entrance") -> Geofence:
        from wallet.geo.services import shape_problems

        with transaction() as session:
            if polygon is not None:
                shape = polygon
                fence = Geofence(brand_id=store.brand_id, store_id=store.id, name=name, kind=POLYGON, area=polygon)
            else:
                shape = geometry.circle(store.location.y, store.location.x, radius_m)
                fence = Geofence(brand_id=store.brand_id, store_id=store.id, name=name, kind=CIRCLE,
                                 center=store.location, radius_m=radius_m, area=shape.to_polygon())
            [problem] = shape_problems([shape], [store.location])
            assert problem is None, f"the test draws a fence the API would refuse: {problem.message}"
            session.add(fence)
            bump_geofence_version_for_tests()
        return fence

    return make


def bump_geofence_version_for_tests() -> None:
    from wallet.geo.models import GeofenceVersion

    version = db.session.get(GeofenceVersion, 1)
    if version is None:
        db.session.add(GeofenceVersion(id=1, version=1))
    else:
        version.version += 1


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffMember]:
    def make(role: Role | str, brand: Brand | None = None, stores: list[Store] | None = None,
             email: str | None = None) -> StaffMember:
        with transaction() as session:
            member = StaffMember(
                brand_id=brand.id if brand else None,
                email=email or f"{role}-{uuid.uuid4().hex[:8]}@staff.test",
                password_hash=auth_secrets.hash_password(PASSWORD),
                display_name=f"{role} member",
                role=str(role),
            )
            member.store_scopes = [StaffStoreScope(store_id=store.id) for store in stores or []]
            session.add(member)
        return member

    return make


@pytest.fixture
def make_shopper(app: Flask) -> Callable[..., Shopper]:
    def make(email: str | None = None, **fields: Any) -> Shopper:
        shopper, _ = auth_services.sign_up_shopper(
            email=email or f"shopper-{uuid.uuid4().hex[:8]}@example.com",
            password=PASSWORD,
            display_name=fields.pop("display_name", "Shopper"),
            **fields,
        )
        return shopper

    return make


@pytest.fixture
def make_pos_key(app: Flask) -> Callable[..., str]:
    def make(store: Store, revoked: bool = False) -> str:
        key = f"wk_{uuid.uuid4().hex[:8]}_{auth_secrets.new_token()}"
        with transaction() as session:
            record = PosApiKey(brand_id=store.brand_id, store_id=store.id, name="till", prefix=key[:11],
                               key_hash=auth_secrets.digest(key))
            if revoked:
                record.revoked_at = utcnow()
            session.add(record)
        return key

    return make


# --- authentication helpers ---------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def login(app: Flask) -> Callable[[Shopper | StaffMember], dict[str, str]]:
    """Headers that authenticate as ``account`` (a real session, as sign-in makes it)."""

    def headers_for(account: Shopper | StaffMember) -> dict[str, str]:
        audience = SHOPPER_AUDIENCE if isinstance(account, Shopper) else STAFF_AUDIENCE
        tokens = auth_services.sign_in(audience=audience, email=account.email, password=PASSWORD)
        return bearer(tokens.access_token)

    return headers_for
