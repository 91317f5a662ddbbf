"""What running in production demands of every answer and every log line: database errors logged
without the rows' values, security headers on every answer, nothing secret kept by caches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD
from wallet.auth.models import Role
from wallet.extensions import db


@contextmanager
def refusing_writes_to(table: str) -> Iterator[None]:
    """Every insert and update of ``table`` fails in PostgreSQL itself (a CHECK no row passes, whose
    error quotes the failing row), until the block ends."""
    db.session.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT ck_test_refused CHECK (false) NOT VALID'))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        db.session.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT ck_test_refused"))
        db.session.commit()


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records say, tracebacks and chained errors included."""
    formatter = logging.Formatter("%(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def test_a_database_error_on_a_password_change_logs_no_email_and_no_hash(app, client, login, make_brand, make_staff,
                                                                         caplog):
    brand = make_brand()
    admin = make_staff(Role.BRAND_ADMIN, brand)
    cashier = make_staff(Role.MARKETER, brand, email="secret.person@staff.test")
    headers = login(admin)
    new_password = "a-new-password-nobody-may-read"
    with refusing_writes_to("staff_members"), caplog.at_level(logging.ERROR):
        response = client.patch(f"/v1/brands/{brand.id}/staff/{cashier.id}", json={"password": new_password},
                                headers=headers)
    assert response.status_code == 500 and response.get_json()["reason"] == "internal_error"
    text = logged_text(caplog)
    assert "ck_test_refused" in text  # the error was logged, with what a reader needs to find its cause
    assert "secret.person" not in text and "$argon2" not in text and new_password not in text


def test_a_database_error_on_a_device_registration_logs_no_push_token(app, client, login, make_shopper, caplog):
    shopper = make_shopper()
    token = "fcm-token-that-must-not-be-logged-0123456789"
    with refusing_writes_to("push_devices"), caplog.at_level(logging.ERROR):
        response = client.post("/v1/me/devices", json={"token": token, "platform": "android", "app_version": "3.2.0",
                                                       "locale": "fr-FR"}, headers=login(shopper))
    assert response.status_code == 500
    text = logged_text(caplog)
    assert "ck_test_refused" in text
    assert token not in text and shopper.email not in text


def test_the_driver_error_keeps_its_diagnostics_for_the_code_that_reads_them(app, make_brand):
    with refusing_writes_to("brands"), pytest.raises(sa.exc.IntegrityError) as raised:
        make_brand(name="Refused Brand Name")
    assert raised.value.orig.diag.constraint_name == "ck_test_refused"
    assert "Refused Brand Name" not in str(raised.value)


# --- headers --------------------------------------------------------------------------------


def tokens_of(body: dict) -> dict:
    return body.get("tokens", body)


def test_answers_carrying_tokens_are_never_stored(client):
    signed_up = client.post("/v1/auth/shoppers", json={"email": "camille@example.com", "password": PASSWORD,
                                                       "display_name": "Camille"})
    signed_in = client.post("/v1/auth/shoppers/sign-in", json={"email": "camille@example.com", "password": PASSWORD})
    refresh_token = tokens_of(signed_in.get_json())["refresh_token"]
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    for response in (signed_up, signed_in, refreshed):
        assert response.status_code in (200, 201), response.get_json()
        assert response.headers["Cache-Control"] == "no-store"


def test_pass_secrets_and_the_export_are_never_stored(client, login, make_shopper, make_brand):
    shopper = login(make_shopper())
    brand = make_brand(listed=True)
    membership = client.post("/v1/me/memberships", json={"brand_id": str(brand.id)}, headers=shopper).get_json()
    card_id = membership["card"]["id"]
    pass_ = client.get(f"/v1/me/cards/{card_id}/pass", headers=shopper)
    export = client.get("/v1/me/export", headers=shopper)
    for response in (pass_, export):
        assert response.status_code == 200, response.get_json()
        assert response.headers["Cache-Control"] == "no-store"


def test_barcodes_keep_their_own_caching(client, login, make_shopper):
    shopper = login(make_shopper())
    card = client.post("/v1/me/cards", json={"shop_name": "Corner", "number": "C-1", "symbology": "code128"},
                       headers=shopper).get_json()
    response = client.get(f"/v1/me/cards/{card['id']}/barcode?format=svg", headers=shopper)
    caching = response.headers["Cache-Control"]
    assert caching.startswith("private") and "no-store" not in caching
    assert response.headers["ETag"] and response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get(f"/v1/me/cards/{card['id']}/barcode?format=svg",
                       headers={**shopper, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"].startswith("private")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/v1/catalogue/brands", 200),
        ("GET", "/v1/me", 401),
        ("GET", "/v1/nowhere", 404),
        ("POST", "/v1/auth/shoppers/sign-in", 422),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
    ],
)
def test_every_answer_carries_the_security_headers(client, method, path, status):
    response = client.open(path, method=method, json={} if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- the API documentation ------------------------------------------------------------------


def docs_statuses(**overrides) -> tuple[int, int, int]:
    from wallet import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "s" * 40, **overrides})
    statuses = []
    for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui.css"):
        with app.test_client().get(path) as response:
            statuses.append(response.status_code)
    return tuple(statuses)


def test_the_api_documentation_is_served_in_development_by_default():
    assert docs_statuses() == (200, 200, 200)


def test_production_serves_no_api_documentation_unless_asked():
    assert docs_statuses(ENV="production") == (404, 404, 404)
    assert docs_statuses(ENV="production", API_DOCS=True) == (200, 200, 200)


def test_the_api_documentation_can_be_switched_off_in_development(monkeypatch):
    monkeypatch.setenv("WALLET_API_DOCS", "false")
    assert docs_statuses() == (404, 404, 404)


# --- one's own password ---------------------------------------------------------------------


def signs_in(client, email: str, password: str) -> bool:
    return client.post("/v1/auth/staff/sign-in", json={"email": email, "password": password}).status_code == 200


@pytest.fixture
def admin_and_brand(make_brand, make_staff, login):
    brand = make_brand()
    admin = make_staff(Role.BRAND_ADMIN, brand)
    return admin, brand, login(admin)


NEW_PASSWORD = "a-brand-new-password"


def test_changing_ones_own_password_without_the_current_one_is_refused(client, admin_and_brand):
    admin, brand, headers = admin_and_brand
    response = client.patch(f"/v1/brands/{brand.id}/staff/{admin.id}", json={"password": NEW_PASSWORD}, headers=headers)
    assert response.status_code == 422 and response.get_json()["reason"] == "current_password_required"
    assert "current_password" in response.get_json()["errors"]["json"]
    assert signs_in(client, admin.email, PASSWORD) and not signs_in(client, admin.email, NEW_PASSWORD)


def test_changing_ones_own_password_with_a_wrong_current_one_is_refused(client, admin_and_brand):
    admin, brand, headers = admin_and_brand
    response = client.patch(f"/v1/brands/{brand.id}/staff/{admin.id}",
                            json={"password": NEW_PASSWORD, "current_password": "not-my-password"}, headers=headers)
    assert response.status_code == 403 and response.get_json()["reason"] == "password_incorrect"
    assert signs_in(client, admin.email, PASSWORD) and not signs_in(client, admin.email, NEW_PASSWORD)


def test_wrong_current_passwords_lock_like_sign_in(app, client, admin_and_brand):
    admin, brand, headers = admin_and_brand
    url = f"/v1/brands/{brand.id}/staff/{admin.id}"
    statuses = [client.patch(url, json={"password": NEW_PASSWORD, "current_password": f"guess-{n}"},
                             headers=headers).status_code for n in range(app.config["SIGN_IN_MAX_FAILURES"])]
    assert statuses == [403] * app.config["SIGN_IN_MAX_FAILURES"]
    locked = client.patch(url, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=headers)
    assert locked.status_code == 429 and locked.get_json()["reason"] == "sign_in_locked"
    assert "Retry-After" in locked.headers


def test_changing_ones_own_password_with_the_current_one_works(client, admin_and_brand):
    admin, brand, headers = admin_and_brand
    response = client.patch(f"/v1/brands/{brand.id}/staff/{admin.id}",
                            json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=headers)
    assert response.status_code == 200
    assert signs_in(client, admin.email, NEW_PASSWORD) and not signs_in(client, admin.email, PASSWORD)


def test_an_admin_resets_another_members_password_without_knowing_it(client, admin_and_brand, make_staff):
    admin, brand, headers = admin_and_brand
    cashier = make_staff(Role.MARKETER, brand)
    response = client.patch(f"/v1/brands/{brand.id}/staff/{cashier.id}", json={"password": NEW_PASSWORD},
                            headers=headers)
    assert response.status_code == 200
    assert signs_in(client, cashier.email, NEW_PASSWORD)


def test_a_shopper_cannot_change_the_password_through_the_profile(client, login, make_shopper):
    shopper = make_shopper()
    response = client.patch("/v1/me", json={"password": NEW_PASSWORD}, headers=login(shopper))
    assert response.status_code == 422
    signed_in = client.post("/v1/auth/shoppers/sign-in", json={"email": shopper.email, "password": PASSWORD})
    assert signed_in.status_code == 200


# --- staff e-mails of other brands ----------------------------------------------------------


def staff_rows(email: str) -> list[tuple]:
    from wallet.auth.models import StaffMember

    db.session.expire_all()
    return db.session.execute(sa.select(StaffMember.brand_id, StaffMember.display_name)
                              .where(StaffMember.email == email)).all()


def new_member(email: str, **fields) -> dict:
    return {"email": email, "password": NEW_PASSWORD, "display_name": "New", "role": "marketer", **fields}


def test_an_email_of_another_brands_staff_answers_as_a_success_and_creates_nothing(client, admin_and_brand,
                                                                                   make_brand, make_staff):
    admin, brand, headers = admin_and_brand
    elsewhere = make_staff(Role.MARKETER, make_brand(), email="someone@elsewhere.test")
    fresh = client.post(f"/v1/brands/{brand.id}/staff", json=new_member("nobody@anywhere.test"), headers=headers)
    taken = client.post(f"/v1/brands/{brand.id}/staff", json=new_member("Someone@Elsewhere.test"), headers=headers)
    assert fresh.status_code == taken.status_code == 201
    assert set(fresh.get_json()) == set(taken.get_json())  # the same shape: nothing tells them apart
    assert sorted(fresh.headers.keys()) == sorted(taken.headers.keys())
    assert taken.get_json()["email"] == "someone@elsewhere.test" and taken.get_json()["brand_id"] == str(brand.id)
    assert staff_rows("someone@elsewhere.test") == [(elsewhere.brand_id, elsewhere.display_name)]
    assert signs_in(client, "someone@elsewhere.test", PASSWORD)  # the other brand's member is untouched


def test_a_platform_admins_email_answers_as_a_success_and_creates_nothing(client, admin_and_brand, make_staff):
    admin, brand, headers = admin_and_brand
    root = make_staff(Role.PLATFORM_ADMIN, email="root@platform.test")
    taken = client.post(f"/v1/brands/{brand.id}/staff", json=new_member(root.email), headers=headers)
    assert taken.status_code == 201
    assert staff_rows(root.email) == [(None, root.display_name)]


def test_an_email_within_ones_own_brand_is_a_conflict(client, admin_and_brand, make_staff):
    admin, brand, headers = admin_and_brand
    make_staff(Role.MARKETER, brand, email="colleague@brand.test")
    response = client.post(f"/v1/brands/{brand.id}/staff", json=new_member("colleague@brand.test"), headers=headers)
    assert response.status_code == 409 and response.get_json()["reason"] == "email_taken"
    assert len(staff_rows("colleague@brand.test")) == 1


def test_a_platform_admin_is_told_the_email_is_taken(client, login, make_brand, make_staff):
    root = make_staff(Role.PLATFORM_ADMIN)
    make_staff(Role.MARKETER, make_brand(), email="someone@elsewhere.test")
    brand = make_brand()
    response = client.post(f"/v1/brands/{brand.id}/staff", json=new_member("someone@elsewhere.test"),
                           headers=login(root))
    assert response.status_code == 409 and response.get_json()["reason"] == "email_taken"


def test_a_pretended_creation_still_checks_its_input(client, admin_and_brand, make_brand, make_staff):
    admin, brand, headers = admin_and_brand
    make_staff(Role.MARKETER, make_brand(), email="someone@elsewhere.test")
    response = client.post(f"/v1/brands/{brand.id}/staff", json=new_member("someone@elsewhere.test", role="cashier"),
                           headers=headers)
    assert response.status_code == 422  # a cashier needs a store, whoever holds the e-mail
