"""The shopper's data: consent history, a complete export, and erasure that leaves nothing
pointing at the person (while brands keep their accounting rows, anonymised)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.insight_support import CHATELET, make_amount_offer, walk_in
from tests.loyalty_support import enrol, member_token, purchase, redeem, refund, scan, set_program
from tests.push_support import add_device, clock, make_dispatcher  # noqa: F401  (fixtures)
from wallet.auth.models import Role, Shopper
from wallet.cards.models import Membership
from wallet.core.db import Base
from wallet.extensions import db
from wallet.insights import history
from wallet.loyalty.models import LedgerEntry, Purchase
from wallet.offers.models import Coupon
from wallet.pos.models import Redemption
from wallet.privacy.export import NOT_EXPORTED, SECTIONS


@dataclass
class Rich:
    shopper: Shopper
    headers: dict[str, str]
    membership: Membership
    brand: Any


@pytest.fixture
def rich(app, client, make_brand, make_store, make_geofence, make_shopper, make_staff, login, make_dispatcher):  # noqa: F811
    """A shopper with a row in every table that can hold one: consents and their history, a card
    they brought, a membership with purchases and a refund, coupons (one redeemed), a device,
    pushes, presence, the last fix and a retained raw fix, sessions and refresh tokens."""
    app.config["LOCATION_RETENTION"] = 3600
    try:
        brand = make_brand("Lumière")
        store = make_store(brand, "Châtelet", lat=CHATELET[0], lon=CHATELET[1])
        fence = make_geofence(store)
        set_program(brand)
        shopper = make_shopper(email="camille@example.com", display_name="Camille Martin",
                               consents={"location": True, "marketing": True})
        headers = login(shopper)
        assert client.patch("/v1/me", json={"consents": {"marketing": False}}, headers=headers).status_code == 200
        assert client.patch("/v1/me", json={"consents": {"marketing": True}}, headers=headers).status_code == 200
        assert client.post("/v1/me/cards", json={"shop_name": "Corner shop", "number": "12345",
                                                 "symbology": "code128"}, headers=headers).status_code == 201
        membership = enrol(shopper, brand)
        till = login(make_staff(Role.CASHIER, brand, [store]))
        assert purchase(client, till, member_token(client, till, membership), 2500, "ORD-P1").status_code == 201
        assert refund(client, till, "ORD-P1", 500).status_code == 201
        make_amount_offer(brand, [fence])
        make_amount_offer(brand, [fence])
        add_device(shopper)
        walk_in(client, headers, CHATELET)
        make_dispatcher().drain()
        coupon = db.session.scalars(select(Coupon).where(Coupon.shopper_id == shopper.id)).first()
        token = scan(client, till, coupon.pass_id)["coupon"]["redemption_token"]
        assert redeem(client, till, token, order_reference="ORD-P2").status_code == 201
    finally:
        app.config["LOCATION_RETENTION"] = 0
    return Rich(shopper, headers, membership, brand)


def _tables_referring_to_shoppers() -> set[str]:
    """Tables with a foreign key to shoppers, directly or through other such tables."""
    referring = {"shoppers"}
    while True:
        more = {table.name for table in Base.metadata.sorted_tables
                for fk in table.foreign_keys if fk.column.table.name in referring} - referring
        if not more:
            return referring
        referring |= more


def test_every_table_about_a_shopper_is_exported_or_said_why_not():
    exported = {section.model.__tablename__ for section in SECTIONS}
    assert set(NOT_EXPORTED) <= set(Base.metadata.tables), "NOT_EXPORTED names a table that does not exist"
    forgotten = _tables_referring_to_shoppers() - exported - set(NOT_EXPORTED)
    # Tables that refer to a shopper only through an offer, a brand or a store are not about shoppers.
    assert forgotten == set(), f"tables about shoppers neither exported nor explained: {sorted(forgotten)}"


def test_the_export_holds_every_row_about_the_shopper(client, rich):
    response = client.get("/v1/me/export", headers=rich.headers)
    assert response.status_code == 200, response.get_json()
    document = response.get_json()
    assert document["profile"]["email"] == "camille@example.com" and document["shopper_id"] == str(rich.shopper.id)
    for section in SECTIONS:
        held = db.session.scalar(select(func.count()).select_from(section.rows(rich.shopper.id).subquery()))
        rows = [document[section.name]] if section.name == "profile" else document[section.name]
        assert held > 0, f"the fixture should give the shopper rows in {section.model.__tablename__}"
        assert len(rows) == held, section.name
    assert {event["source"] for event in document["consent_history"]} >= {"sign_up", "profile", "enrolment"}
    assert document["location_fixes"][0]["lat"] == pytest.approx(CHATELET[0])


def test_the_export_leaves_out_secrets_and_hashes(client, rich):
    document = client.get("/v1/me/export", headers=rich.headers).get_json()
    assert "password_hash" in document["sections"]["profile"]["omitted"]  # and says what it left out
    data = json.dumps({name: value for name, value in document.items() if name != "sections"})
    for secret_column in ('"password_hash"', '"token_hash"', '"secret"', '"request_hash"', '"dedupe_key"'):
        assert secret_column not in data
    assert "argon2" not in data


def test_every_exported_row_has_every_column_but_those_omitted_with_a_reason(client, rich):
    document = client.get("/v1/me/export", headers=rich.headers).get_json()
    for section in SECTIONS:
        columns = {column.key for column in section.model.__mapper__.column_attrs}
        assert set(section.omit) <= columns, f"{section.name} omits a column its table does not have"
        described = document["sections"][section.name]
        assert described["table"] == section.model.__tablename__
        assert described["description"] == section.description and section.description
        assert set(described["omitted"]) == set(section.omit)
        assert all(isinstance(reason, str) and len(reason) > 10 for reason in described["omitted"].values())
        rows = [document[section.name]] if section.name == "profile" else document[section.name]
        for row in rows:
            assert set(row) == columns - set(section.omit), section.name
    assert all(event["consent"] for event in document["consent_history"])


def test_the_consent_history_lists_every_change_newest_first(client, rich):
    response = client.get("/v1/me/consent-history?page_size=100", headers=rich.headers)
    assert response.status_code == 200
    events = response.get_json()
    marketing = [(event["granted"], event["source"]) for event in events if event["consent"] == "marketing"]
    assert marketing == [(True, "profile"), (False, "profile"), (True, "sign_up")]
    brand = [event for event in events if event["consent"] == "brand"]
    assert brand[0]["brand_name"] == "Lumière" and brand[0]["source"] == "enrolment" and brand[0]["granted"]
    assert all(event["recorded_at"] for event in events)
    page = client.get("/v1/me/consent-history?page_size=1", headers=rich.headers)
    assert json.loads(page.headers["X-Pagination"])["total"] == len(events)


def _references(values: Any, needles: set[str]) -> bool:
    text = json.dumps(values, default=str).lower()
    return any(needle in text for needle in needles)


def test_after_erasure_no_row_anywhere_refers_to_the_shopper(client, rich):
    shopper_id, email = rich.shopper.id, rich.shopper.email
    member_number = rich.membership.member_number
    key = history.shopper_key(shopper_id)
    ledger_before = db.session.scalar(select(func.sum(LedgerEntry.points)))
    response = client.delete("/v1/me", json={"password": PASSWORD}, headers=rich.headers)
    assert response.status_code == 204, response.get_json()
    db.session.expire_all()
    needles = {str(shopper_id), shopper_id.hex, email, member_number, key, "camille"}
    for table in Base.metadata.sorted_tables:
        with db.engine.connect() as connection:
            for row in connection.execute(table.select()):
                assert not _references(list(row), needles), f"{table.name} still refers to the shopper: {row}"
    # The brand keeps its accounting, now pointing at nobody.
    assert db.session.scalar(select(func.sum(LedgerEntry.points))) == ledger_before
    assert db.session.scalar(select(func.count()).select_from(Purchase)) == 1
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    holder = db.session.get(Shopper, db.session.scalar(select(Membership.shopper_id)))
    assert holder.is_active is False and holder.email.endswith("@erased.invalid") and holder.birthday is None


def test_an_erased_account_cannot_be_used_again(client, rich):
    refresh_token = client.post("/v1/auth/shoppers/sign-in", json={"email": rich.shopper.email,
                                                                   "password": PASSWORD}).get_json()["refresh_token"]
    email = rich.shopper.email
    assert client.delete("/v1/me", json={"password": PASSWORD}, headers=rich.headers).status_code == 204
    assert client.get("/v1/me", headers=rich.headers).status_code == 401
    again = client.delete("/v1/me", json={"password": PASSWORD}, headers=rich.headers)
    assert again.status_code == 401 and again.get_json()["reason"] == "session_ended"
    sign_in = client.post("/v1/auth/shoppers/sign-in", json={"email": email, "password": PASSWORD})
    assert sign_in.status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": refresh_token}).status_code == 401


def test_erasure_asks_for_the_password(client, rich):
    wrong = client.delete("/v1/me", json={"password": "not-the-password"}, headers=rich.headers)
    assert wrong.status_code == 403 and wrong.get_json()["reason"] == "password_incorrect"
    assert "password" in wrong.get_json()["errors"]["json"]
    missing = client.delete("/v1/me", json={}, headers=rich.headers)
    assert missing.status_code == 422 and "password" in missing.get_json()["errors"]["json"]
    assert client.get("/v1/me", headers=rich.headers).status_code == 200


def test_repeated_wrong_passwords_lock_erasure_like_sign_in(client, rich):
    for _ in range(5):
        client.delete("/v1/me", json={"password": "not-the-password"}, headers=rich.headers)
    locked = client.delete("/v1/me", json={"password": PASSWORD}, headers=rich.headers)
    assert locked.status_code == 429 and locked.headers["Retry-After"]


def test_an_erased_shoppers_member_card_no_longer_scans(client, rich, make_staff, login):
    from wallet.brands.models import Store

    store = db.session.scalars(select(Store).where(Store.brand_id == rich.brand.id)).first()
    till = login(make_staff(Role.CASHIER, rich.brand, [store]))
    from tests.loyalty_support import live_code

    code = live_code(rich.membership.pass_id)
    assert client.delete("/v1/me", json={"password": PASSWORD}, headers=rich.headers).status_code == 204
    response = client.post("/v1/pos/scan", json={"code": code}, headers=till)
    assert response.status_code == 422 and response.get_json()["reason"] in ("code_unknown", "code_forged")


def test_the_export_is_for_shoppers_only(client, make_staff, login, make_brand):
    staff = login(make_staff(Role.BRAND_ADMIN, make_brand("Alpha")))
    assert client.get("/v1/me/export", headers=staff).status_code == 403
    assert client.get("/v1/me/export").status_code == 401
    assert client.delete("/v1/me", json={"password": PASSWORD}, headers=staff).status_code == 403


