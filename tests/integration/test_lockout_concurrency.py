"""Lockouts hold under concurrency, on PostgreSQL: 50 wrong attempts released together at a barrier,
each in its own thread, app context, session and connection, through the HTTP layer, evaluate
exactly the documented number (counted where the evaluation happens: the Argon2 verifications of a
sign-in, the code checks of a scan); every other attempt is refused as locked without evaluation.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.concurrency import RACERS, race
from tests.conftest import PASSWORD
from tests.loyalty_support import enrol
from wallet.auth import secrets as auth_secrets
from wallet.auth.models import Role
from wallet.extensions import db
from wallet.passes import codes
from wallet.passes.models import Pass
from wallet.passes.services import MAX_FAILED_ATTEMPTS



@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


def _race(app: Flask, request: Callable[[Any, int], Any]) -> list[tuple[int, dict[str, Any]]]:
    """(status, body) of RACERS requests sent at once."""
    return [(status, body) for status, body, _ in race(app, request)]


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Counter[str]:
    """Wrap ``module.name`` so that every call is counted (from any thread)."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            calls[name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _outcomes(results: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[int, str]]:
    return Counter((status, body["reason"]) for status, body in results)


@pytest.mark.parametrize("audience", ["shoppers", "staff"])
def test_fifty_concurrent_wrong_passwords_check_exactly_the_limit(app, monkeypatch, make_shopper, make_staff,
                                                                  brand, audience):
    account = make_shopper() if audience == "shoppers" else make_staff(Role.BRAND_ADMIN, brand)
    limit = app.config["SIGN_IN_MAX_FAILURES"]
    checks = _counting(monkeypatch, auth_secrets, "verify_password")

    results = _race(app, lambda client, index: client.post(
        f"/v1/auth/{audience}/sign-in", json={"email": account.email, "password": f"wrong-password-{index}"}))

    assert checks["verify_password"] == limit
    assert _outcomes(results) == {(401, "invalid_credentials"): limit,
                                  (429, "sign_in_locked"): RACERS - limit}
    # Locked: even the right password is refused, unchecked.
    with app.app_context():
        locked = app.test_client().post(f"/v1/auth/{audience}/sign-in",
                                        json={"email": account.email, "password": PASSWORD})
    assert (locked.status_code, locked.get_json()["reason"]) == (429, "sign_in_locked")
    assert checks["verify_password"] == limit


def test_fifty_concurrent_wrong_passwords_for_an_unknown_e_mail_burn_exactly_the_limit(app, monkeypatch):
    limit = app.config["SIGN_IN_MAX_FAILURES"]
    burns = _counting(monkeypatch, auth_secrets, "burn_password_check")

    results = _race(app, lambda client, index: client.post(
        "/v1/auth/shoppers/sign-in", json={"email": "nobody@example.com", "password": f"wrong-password-{index}"}))

    assert burns["burn_password_check"] == limit
    assert _outcomes(results) == {(401, "invalid_credentials"): limit, (429, "sign_in_locked"): RACERS - limit}


def _wrong_typed_code(pass_: Pass, index: int) -> str:
    """A well-formed fallback code of the pass (right short id, right check character), wrong digits."""
    genuine = codes.totp(pass_.secret, codes.step_at(time.time()), codes.FALLBACK_OTP_DIGITS)
    otp = f"{(int(genuine) + 1 + index) % 10**codes.FALLBACK_OTP_DIGITS:06d}"
    body = pass_.short_id + otp
    return f"{pass_.short_id}-{otp}-{codes._check_symbol(body)}"


def _wrong_scanned_code(pass_: Pass, index: int) -> str:
    step = codes.step_at(time.time())
    genuine = codes.totp(pass_.secret, step, codes.QR_OTP_DIGITS)
    otp = f"{(int(genuine) + 1 + index) % 10**codes.QR_OTP_DIGITS:08d}"
    return f"{codes.QR_PREFIX}.{pass_.kind}.{pass_.short_id}.{step}.{otp}"


@pytest.mark.parametrize(("make_code", "check"), [(_wrong_typed_code, "verify_fallback_code"),
                                                   (_wrong_scanned_code, "verify_pass_code")],
                         ids=["typed", "scanned"])
def test_fifty_concurrent_wrong_codes_check_exactly_the_limit(app, monkeypatch, make_shopper, brand, till,
                                                              make_code, check):
    member = enrol(make_shopper(), brand)
    pass_ = db.session.scalar(select(Pass).where(Pass.id == member.pass_id))
    wrong = [make_code(pass_, index) for index in range(RACERS)]
    checks = _counting(monkeypatch, codes, check)

    results = _race(app, lambda client, index: client.post("/v1/pos/scan", json={"code": wrong[index]},
                                                           headers=till))

    assert checks[check] == MAX_FAILED_ATTEMPTS
    assert _outcomes(results) == {(422, "code_forged"): MAX_FAILED_ATTEMPTS,
                                  (429, "code_locked"): RACERS - MAX_FAILED_ATTEMPTS}
