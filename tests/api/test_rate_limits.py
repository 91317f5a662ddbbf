"""Rate limits per client address and per account: a 429 in the error format with Retry-After once a
limit is spent, nothing written by a refused request; in memory and in Redis, behind trusted proxies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import PASSWORD, TEST_CONFIG, RequestClient
from wallet import create_app
from wallet.auth.models import Shopper
from wallet.extensions import db

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def limited(_migrated_app: Flask, app: Flask, database_url: str) -> Callable[..., Flask]:
    """An app with rate limits on (the suite's are off), on the test's database, with ``overrides``."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        limited_app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "RATELIMIT_ENABLED": True,
                                  **overrides})
        limited_app.test_client_class = RequestClient
        made.append(limited_app)
        return limited_app

    yield make
    for limited_app in made:
        with limited_app.app_context():
            db.engine.dispose()


def _call(limited_app: Flask, method: str, path: str, **kwargs: Any) -> Any:
    with limited_app.app_context():
        return limited_app.test_client().open(path, method=method, **kwargs)


def _assert_limited(response: Any) -> None:
    body = response.get_json()
    assert (response.status_code, body["reason"], body["code"]) == (429, "rate_limited", 429)
    assert set(body) >= {"code", "status", "reason", "message"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def _shoppers() -> int:
    return db.session.scalar(select(func.count()).select_from(Shopper)) or 0


def test_sign_ups_from_one_address_are_limited_and_the_refused_one_writes_nothing(limited):
    limited_app = limited(RATE_LIMIT_SIGN_UP="3/minute", RATE_LIMIT_SIGN_UP_PER_ACCOUNT="100/minute")
    for index in range(3):
        response = _call(limited_app, "POST", "/v1/auth/shoppers", json={
            "email": f"s{index}@example.com", "password": PASSWORD, "display_name": "S"})
        assert response.status_code == 201
    refused = _call(limited_app, "POST", "/v1/auth/shoppers", json={
        "email": "s3@example.com", "password": PASSWORD, "display_name": "S"})
    _assert_limited(refused)
    db.session.expire_all()
    assert _shoppers() == 3


def test_sign_ins_are_limited_per_account_whatever_the_address(limited, make_shopper):
    shopper = make_shopper()
    limited_app = limited(RATE_LIMIT_SIGN_IN="100/minute", RATE_LIMIT_SIGN_IN_PER_ACCOUNT="2/minute",
                          PROXY_FIX_X_FOR=1)
    for index in range(2):
        response = _call(limited_app, "POST", "/v1/auth/shoppers/sign-in",
                         json={"email": shopper.email, "password": PASSWORD},
                         headers={"X-Forwarded-For": f"198.51.100.{index}"})
        assert response.status_code == 200
    refused = _call(limited_app, "POST", "/v1/auth/shoppers/sign-in",
                    json={"email": shopper.email.upper(), "password": PASSWORD},
                    headers={"X-Forwarded-For": "198.51.100.77"})
    _assert_limited(refused)
    # Another account from the same addresses still signs in.
    other = make_shopper()
    assert _call(limited_app, "POST", "/v1/auth/shoppers/sign-in", json={"email": other.email, "password": PASSWORD},
                 headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 200


def test_a_password_spray_from_one_address_is_limited_per_address(limited, make_staff):
    limited_app = limited(RATE_LIMIT_SIGN_IN="3/minute", RATE_LIMIT_SIGN_IN_PER_ACCOUNT="100/minute")
    statuses = [_call(limited_app, "POST", "/v1/auth/staff/sign-in",
                      json={"email": f"victim{index}@staff.test", "password": "spray-password-1"}).status_code
                for index in range(3)]
    assert statuses == [401, 401, 401]
    _assert_limited(_call(limited_app, "POST", "/v1/auth/staff/sign-in",
                          json={"email": "victim9@staff.test", "password": "spray-password-1"}))


def test_the_client_address_is_the_one_the_trusted_proxy_saw(limited):
    behind_proxy = limited(RATE_LIMIT_SIGN_IN="1/minute", PROXY_FIX_X_FOR=1)
    for address in ("203.0.113.1", "203.0.113.2"):  # two clients behind the one proxy: one each
        response = _call(behind_proxy, "POST", "/v1/auth/shoppers/sign-in",
                         json={"email": f"{address}@example.com", "password": "wrong-password-1"},
                         headers={"X-Forwarded-For": address})
        assert response.status_code == 401
    # Without trusted proxies the header is the client's own claim and is ignored: one address.
    direct = limited(RATE_LIMIT_SIGN_IN="1/minute", PROXY_FIX_X_FOR=0, RATELIMIT_KEY_PREFIX=uuid.uuid4().hex)
    assert _call(direct, "POST", "/v1/auth/shoppers/sign-in", json={"email": "a@example.com", "password": "x-x-x-x-1"},
                 headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    _assert_limited(_call(direct, "POST", "/v1/auth/shoppers/sign-in",
                          json={"email": "b@example.com", "password": "x-x-x-x-1"},
                          headers={"X-Forwarded-For": "203.0.113.2"}))


@pytest.mark.parametrize(("path", "setting"), [("/v1/me/locations", "RATE_LIMIT_LOCATIONS_PER_ACCOUNT"),
                                               ("/v1/me/geofence-events", "RATE_LIMIT_GEOFENCE_EVENTS_PER_ACCOUNT")])
def test_location_reports_and_region_events_are_limited_per_shopper(limited, make_shopper, login, path, setting):
    shopper = login(make_shopper(consents={"location": True}))
    limited_app = limited(**{setting: "2/minute"})
    for _ in range(2):
        assert _call(limited_app, "POST", path, json={}, headers=shopper).status_code != 429
    _assert_limited(_call(limited_app, "POST", path, json={}, headers=shopper))
    other = login(make_shopper(consents={"location": True}))  # from the same address
    assert _call(limited_app, "POST", path, json={}, headers=other).status_code != 429


def test_till_code_attempts_are_limited_per_pos_key(limited, make_brand, make_store, make_pos_key):
    store = make_store(make_brand())
    first, second = make_pos_key(store), make_pos_key(store)
    limited_app = limited(RATE_LIMIT_POS_SCAN_PER_ACCOUNT="2/minute")
    for _ in range(2):
        response = _call(limited_app, "POST", "/v1/pos/scan", json={"code": "K3M9-QXAB-482913-Z"},
                         headers={"X-API-Key": first})
        assert response.status_code == 422
    _assert_limited(_call(limited_app, "POST", "/v1/pos/scan", json={"code": "K3M9-QXAB-482913-Z"},
                          headers={"X-API-Key": first}))
    assert _call(limited_app, "POST", "/v1/pos/scan", json={"code": "K3M9-QXAB-482913-Z"},
                 headers={"X-API-Key": second}).status_code == 422


def test_catalogue_search_is_limited_but_browsing_is_not(limited):
    limited_app = limited(RATE_LIMIT_CATALOGUE_SEARCH="2/minute")
    for _ in range(2):
        assert _call(limited_app, "GET", "/v1/catalogue/brands?q=pain").status_code == 200
    _assert_limited(_call(limited_app, "GET", "/v1/catalogue/brands?q=pain"))
    assert _call(limited_app, "GET", "/v1/catalogue/brands").status_code == 200


def test_switched_off_nothing_is_limited(limited):
    limited_app = limited(RATELIMIT_ENABLED=False, RATE_LIMIT_CATALOGUE_SEARCH="1/minute")
    assert [_call(limited_app, "GET", "/v1/catalogue/brands?q=pain").status_code for _ in range(3)] == [200] * 3


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the machine's Redis (runs must not share counters); cleaned up."""
    prefix = f"wallet-test-{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    keys = list(connection.scan_iter(f"*{prefix}*"))
    if keys:
        connection.delete(*keys)
    connection.close()


def test_limits_in_redis_are_shared_by_every_process(limited, make_shopper, redis_prefix):
    shopper = make_shopper()
    settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": redis_prefix,
                "RATE_LIMIT_REFRESH": "100/minute", "RATE_LIMIT_SIGN_IN_PER_ACCOUNT": "2/minute"}
    first, second = limited(**settings), limited(**settings)  # two processes of the service
    sign_in = {"email": shopper.email, "password": PASSWORD}
    assert _call(first, "POST", "/v1/auth/shoppers/sign-in", json=sign_in).status_code == 200
    assert _call(second, "POST", "/v1/auth/shoppers/sign-in", json=sign_in).status_code == 200
    _assert_limited(_call(first, "POST", "/v1/auth/shoppers/sign-in", json=sign_in))
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        assert any(redis_prefix.encode() in key for key in connection.scan_iter(f"*{redis_prefix}*"))
    finally:
        connection.close()


def test_refreshes_are_limited_per_refresh_token(limited):
    limited_app = limited(RATE_LIMIT_REFRESH="100/minute", RATE_LIMIT_REFRESH_PER_ACCOUNT="2/minute")
    for _ in range(2):
        assert _call(limited_app, "POST", "/v1/auth/refresh", json={"refresh_token": "stolen"}).status_code == 401
    _assert_limited(_call(limited_app, "POST", "/v1/auth/refresh", json={"refresh_token": "stolen"}))
    assert _call(limited_app, "POST", "/v1/auth/refresh", json={"refresh_token": "another"}).status_code == 401
