"""Real processes end to end: a phone's fix inside a fence, through the server, the outbox, a
LISTENing dispatcher process and firebase-admin, arrives at (fake) FCM as the right message; a
dispatcher killed with SIGKILL mid-batch loses nothing and duplicates only what FCM had taken."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter

from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.e2e.conftest import Http, wait_until
from tests.fakes.fcm_server import OK, Reply
from tests.push_support import add_device
from wallet.auth.models import Role
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.push import services as push
from wallet.push.models import SENT, PushOutbox

STORE = (2.35104, 48.85745)  # lon, lat: Châtelet


def test_a_fix_inside_a_fence_reaches_fcm_with_the_right_token_ttl_collapse_key_and_data(
    app, server, start_worker, fake_fcm, make_staff
):
    fake_fcm.reset()
    worker = start_worker()
    api = Http(server)
    # Retailer side, through the API: brand, store, fence, an active offer on it.
    admin = make_staff(Role.PLATFORM_ADMIN)
    staff = api.ok("POST", "/v1/auth/staff/sign-in", {"email": admin.email, "password": PASSWORD})["access_token"]
    brand = api.ok("POST", "/v1/brands", {"name": f"Lumière {uuid.uuid4().hex[:6]}"}, staff, 201)["id"]
    store = api.ok("POST", f"/v1/brands/{brand}/stores", {
        "name": "Châtelet", "street": "1 rue de Rivoli", "postal_code": "75001", "city": "Paris",
        "location": {"type": "Point", "coordinates": list(STORE)}}, staff, 201)["id"]
    fence = api.ok("POST", f"/v1/brands/{brand}/geofences", {
        "store_id": store, "name": "Door", "circle": {"center": {"type": "Point", "coordinates": list(STORE)},
                                                      "radius_m": 60}}, staff, 201)["id"]
    now = utcnow()
    offer = api.ok("POST", f"/v1/brands/{brand}/offers", {
        "reward": {"type": "free_item", "item": "Un croissant"},
        "content": {"fr": {"title": "Un croissant offert", "description": "Avec votre café"},
                    "en": {"title": "A free croissant", "description": "With your coffee"}},
        "valid_from": (now - dt.timedelta(hours=1)).isoformat(), "valid_until": (now + dt.timedelta(days=1)).isoformat(),
        "geofence_ids": [fence], "coupon_ttl_minutes": 10}, staff, 201)["id"]
    api.ok("POST", f"/v1/brands/{brand}/offers/{offer}/activate", token=staff)
    # Shopper side: sign up with consents, opt in to the brand, register the phone.
    shopper = api.ok("POST", "/v1/auth/shoppers", {
        "email": f"e2e-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "display_name": "Camille",
        "consents": {"location": True, "marketing": True}}, status=201)["access_token"]
    api.ok("PUT", f"/v1/me/brand-consents/{brand}", {"opted_in": True}, shopper)
    api.ok("POST", "/v1/me/devices", {"token": "e2e-android-token", "platform": "android", "app_version": "3.2.0",
                                      "locale": "fr-FR"}, shopper, 201)

    sent_at = time.time()
    answer = api.ok("POST", "/v1/me/locations", {"fixes": [
        {"lon": STORE[0], "lat": STORE[1], "accuracy_m": 5, "recorded_at": utcnow().isoformat()}]}, shopper)
    [coupon] = answer["coupons"]

    [request] = fake_fcm.wait_for(lambda received: len(received) >= 1, timeout=10)
    assert request.at - sent_at < 2  # woken by NOTIFY: polling alone would take up to 60 s here
    message = request.message
    assert message["token"] == "e2e-android-token"
    assert message["notification"] == {"title": "Un croissant offert", "body": "Avec votre café"}
    notification_id = message["data"]["notification_id"]
    assert message["data"] == {"coupon_id": coupon["id"], "offer_id": offer, "notification_id": notification_id,
                               "deep_link": f"wallet://coupons/{coupon['id']}"}
    assert 590 <= int(message["android"]["ttl"].removesuffix("s")) <= 600  # the coupon's 10 minutes
    assert message["android"]["collapse_key"] == f"offer-{offer}" and message["android"]["priority"] == "high"
    assert message["apns"]["headers"]["apns-collapse-id"] == f"offer-{offer}"
    wait_until(lambda: _status(notification_id) == SENT, timeout=5, what="the outbox row to be marked sent")

    # The shopper taps it: the open is counted once for the offer.
    for _ in range(2):
        assert api.call("POST", f"/v1/me/notifications/{notification_id}/opened", token=shopper)[0] == 204
    assert push.open_counts(offer_ids=[uuid.UUID(offer)]) == {uuid.UUID(offer): 1}
    assert worker.stop() == 0 and "push worker stopped: claimed 1, sent 1" in worker.output


def test_a_dispatcher_killed_mid_batch_loses_nothing_and_only_duplicates_what_fcm_had_taken(
    app, make_shopper, start_worker, fake_fcm
):
    fake_fcm.reset()
    shoppers = [make_shopper(consents={"marketing": True}) for _ in range(6)]
    for shopper in shoppers:
        add_device(shopper, token=f"kill-{shopper.id}")
    ids = _pushes(shoppers, per_shopper=5)  # 30 pushes
    # FCM is slow: the first batch of 10 is in flight (accepted, unanswered) when the worker dies.
    fake_fcm.answer_by_default(Reply.slow(5))
    first = start_worker(push_batch_size="10", push_lease_seconds="3", push_daily_cap="100")
    fake_fcm.wait_for(lambda received: len(received) == 10, timeout=10)
    first.kill()
    in_flight = {r.notification_id for r in fake_fcm.received}

    fake_fcm.answer_by_default(OK)
    second = start_worker(push_batch_size="10", push_lease_seconds="3", push_daily_cap="100")
    wait_until(lambda: all(_status(str(i)) == SENT for i in ids), timeout=20, what="every push to be sent")
    assert second.stop() == 0

    deliveries = Counter(r.notification_id for r in fake_fcm.received)
    assert set(deliveries) == {str(i) for i in ids}  # nothing lost
    duplicated = {notification for notification, count in deliveries.items() if count > 1}
    assert duplicated == in_flight and max(deliveries.values()) == 2  # only what FCM had, and only once more
    suspected = {str(row.id) for row in _rows(ids) if row.duplicate_suspected}
    assert suspected == duplicated  # ...and every such duplicate is counted
    assert "duplicate suspected 10" in second.output


def _pushes(shoppers, *, per_shopper: int) -> list[uuid.UUID]:
    ids = []
    with transaction() as session:
        for shopper in shoppers:
            for _ in range(per_shopper):
                row = PushOutbox(id=uuid.uuid4(), shopper_id=shopper.id, kind="coupon", collapse_key="offer-e2e",
                                 ttl_seconds=900, payload={"title": "T", "body": "B", "data": {}})
                session.add(row)
                ids.append(row.id)
    return ids


def _rows(ids) -> list[PushOutbox]:
    db.session.expire_all()
    return list(db.session.scalars(select(PushOutbox).where(PushOutbox.id.in_(ids))))


def _status(notification_id: str) -> str | None:
    db.session.expire_all()
    row = db.session.get(PushOutbox, uuid.UUID(notification_id))
    db.session.commit()
    return row.status if row is not None else None
