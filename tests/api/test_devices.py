"""Devices (push tokens) and opened notifications over HTTP: registration is idempotent, a token
moves with its phone, a shopper has a bounded number of devices, opens are counted once."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from sqlalchemy import func, select

from tests.push_support import add_device, clock, issue_coupon, make_dispatcher, make_offer, opt_in, reload  # noqa: F401
from wallet.extensions import db
from wallet.push import services as push
from wallet.push.models import SENT, SUPPRESSED, PushDevice, PushOutbox
from wallet.push.providers import LogProvider


def body(token: str = "fcm-token-1", **fields):
    return {"token": token, "platform": "android", "app_version": "3.2.0", "locale": "fr-FR", **fields}


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(consents={"location": True, "marketing": True})


@pytest.fixture
def headers(login, shopper):
    return login(shopper)


def active_tokens(shopper_id) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(PushDevice.token).where(
        PushDevice.shopper_id == shopper_id, PushDevice.retired_at.is_(None))))


def test_registering_a_device_answers_it_and_lists_it(client, headers):
    response = client.post("/v1/me/devices", json=body(platform="ios", locale="en-GB"), headers=headers)
    assert response.status_code == 201
    device = response.get_json()
    assert device["platform"] == "ios" and device["locale"] == "en-GB" and device["app_version"] == "3.2.0"
    assert device["token_kind"] == "registration_token" and "token" not in device  # the token is not echoed
    listed = client.get("/v1/me/devices", headers=headers)
    assert [d["id"] for d in listed.get_json()] == [device["id"]]
    assert listed.headers["X-Pagination"]


def test_registering_the_same_token_again_refreshes_the_one_device(client, headers, shopper):
    first = client.post("/v1/me/devices", json=body(), headers=headers).get_json()
    again = client.post("/v1/me/devices", json=body(app_version="3.3.0"), headers=headers).get_json()
    assert again["id"] == first["id"] and again["app_version"] == "3.3.0"
    assert again["last_seen_at"] >= first["last_seen_at"]
    assert db.session.scalar(select(func.count()).select_from(PushDevice)) == 1


def test_a_token_registered_by_another_account_moves_to_the_new_one(client, login, make_shopper, headers, shopper):
    other = make_shopper()
    client.post("/v1/me/devices", json=body("shared-phone"), headers=login(other))
    moved = client.post("/v1/me/devices", json=body("shared-phone"), headers=headers)
    assert moved.status_code == 201
    assert active_tokens(shopper.id) == ["shared-phone"] and active_tokens(other.id) == []
    assert client.get("/v1/me/devices", headers=login(other)).get_json() == []


def test_one_device_too_many_retires_the_least_recently_seen(app, client, headers, shopper):
    app.config["PUSH_MAX_DEVICES"] = 3
    try:
        for name in ("a", "b", "c"):
            client.post("/v1/me/devices", json=body(name), headers=headers)
        client.post("/v1/me/devices", json=body("a"), headers=headers)  # "a" seen again: "b" is now the oldest
        client.post("/v1/me/devices", json=body("d"), headers=headers)
    finally:
        app.config["PUSH_MAX_DEVICES"] = 5
    assert active_tokens(shopper.id) == ["a", "c", "d"]
    retired = db.session.scalars(select(PushDevice).where(PushDevice.token == "b")).one()
    assert retired.retired_reason == "replaced"


def test_racing_registrations_never_exceed_the_device_limit(app, headers, shopper):
    barrier = threading.Barrier(8)
    statuses = []

    def register(token: str) -> None:
        with app.app_context():
            barrier.wait()
            statuses.append(app.test_client().post("/v1/me/devices", json=body(token), headers=headers).status_code)
            db.session.remove()

    threads = [threading.Thread(target=register, args=(f"phone-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 8
    assert len(active_tokens(shopper.id)) == 5


def test_an_installation_id_is_registered_as_such(client, headers):
    device = client.post("/v1/me/devices", json=body("cVrhJ8e1SdKyV4eJ7rVGr4", token_kind="fid"),
                         headers=headers).get_json()
    assert device["token_kind"] == "fid"


def test_removing_a_device_stops_listing_it_and_a_second_removal_is_404(client, headers, shopper):
    device = client.post("/v1/me/devices", json=body(), headers=headers).get_json()
    assert client.delete(f"/v1/me/devices/{device['id']}", headers=headers).status_code == 204
    assert client.get("/v1/me/devices", headers=headers).get_json() == []
    again = client.delete(f"/v1/me/devices/{device['id']}", headers=headers)
    assert again.status_code == 404 and again.get_json()["reason"] == "not_found"
    assert reload(db.session.get(PushDevice, uuid.UUID(device["id"]))).retired_reason == "removed"


def test_a_shopper_cannot_remove_another_shoppers_device(client, headers, make_shopper):
    theirs = add_device(make_shopper())
    response = client.delete(f"/v1/me/devices/{theirs.id}", headers=headers)
    assert response.status_code == 404
    assert reload(theirs).retired_at is None


@pytest.mark.parametrize(
    "changes",
    [{"platform": "windows"}, {"token": ""}, {"token": "x" * 1025}, {"locale": "french"}, {"app_version": ""},
     {"token_kind": "apns"}, {"extra": 1}],
    ids=["platform", "empty-token", "long-token", "locale", "app-version", "token-kind", "unknown-field"],
)
def test_malformed_registrations_are_422_and_register_nothing(client, headers, changes):
    response = client.post("/v1/me/devices", json=body(**changes), headers=headers)
    assert response.status_code == 422 and response.get_json()["reason"] == "validation_failed"
    assert db.session.scalar(select(func.count()).select_from(PushDevice)) == 0


def test_a_registration_without_a_token_is_422(client, headers):
    payload = body()
    del payload["token"]
    assert client.post("/v1/me/devices", json=payload, headers=headers).status_code == 422


# --- opened notifications ------------------------------------------------------------------------


@pytest.fixture
def sent_push(make_brand, make_store, make_geofence, shopper, make_dispatcher):
    brand = make_brand()
    fence = make_geofence(make_store(brand))
    offer = make_offer(brand)
    opt_in(shopper, brand)
    add_device(shopper)
    _, row = issue_coupon(shopper, fence)
    make_dispatcher().drain()
    assert reload(row).status == SENT
    return offer, row


def test_an_open_is_counted_once_for_the_offer_however_often_it_is_reported(client, headers, sent_push):
    offer, row = sent_push
    for _ in range(3):
        assert client.post(f"/v1/me/notifications/{row.id}/opened", headers=headers).status_code == 204
    never_opened = uuid.uuid4()
    assert push.open_counts(offer_ids=[offer.id, never_opened]) == {offer.id: 1, never_opened: 0}
    assert reload(row).opened_at is not None


def test_the_log_providers_line_names_the_notification_the_app_reports_opened(
        client, headers, make_brand, make_store, make_geofence, shopper, make_dispatcher):
    brand = make_brand()
    make_offer(brand)
    opt_in(shopper, brand)
    add_device(shopper)
    _, row = issue_coupon(shopper, make_geofence(make_store(brand)))
    lines: list[str] = []
    make_dispatcher(LogProvider(echo=lines.append)).drain()
    [line] = lines
    assert f"notification {row.id}" in line
    named = re.search(r"notification ([0-9a-f-]{36})", line)[1]
    assert client.post(f"/v1/me/notifications/{named}/opened", headers=headers).status_code == 204
    assert reload(row).opened_at is not None


def test_the_export_shows_each_pushs_notification_id_as_the_phone_received_it(client, headers, sent_push):
    _, row = sent_push
    [exported] = client.get("/v1/me/export", headers=headers).get_json()["pushes"]
    assert exported["id"] == str(row.id)
    data = exported["payload"]["data"]
    assert data["notification_id"] == str(row.id) and data["coupon_id"] == str(row.coupon_id)
    assert client.post(f"/v1/me/notifications/{data['notification_id']}/opened", headers=headers).status_code == 204


def test_another_shoppers_notification_is_404(client, login, make_shopper, sent_push):
    _, row = sent_push
    response = client.post(f"/v1/me/notifications/{row.id}/opened", headers=login(make_shopper()))
    assert response.status_code == 404
    assert reload(row).opened_at is None


def test_an_unknown_notification_is_404(client, headers):
    assert client.post(f"/v1/me/notifications/{uuid.uuid4()}/opened", headers=headers).status_code == 404


def test_a_suppressed_notification_cannot_have_been_opened(client, headers, make_brand, make_store, make_geofence,
                                                           shopper, make_dispatcher):
    brand = make_brand()
    fence = make_geofence(make_store(brand))
    make_offer(brand)
    opt_in(shopper, brand)  # no device: the push is suppressed
    _, row = issue_coupon(shopper, fence)
    make_dispatcher().drain()
    assert reload(row).status == SUPPRESSED
    response = client.post(f"/v1/me/notifications/{row.id}/opened", headers=headers)
    assert response.status_code == 409 and response.get_json()["reason"] == "notification_not_sent"
    assert db.session.get(PushOutbox, row.id).opened_at is None
