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
