"""Coupons as the shopper sees and shows them, per-brand consent, and coupons scanned at the till."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from wallet.auth.models import ConsentEvent, Role
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, ENTER, REDEEMED, Coupon, Offer, OfferGeofence
from wallet.passes import codes
from wallet.passes.models import Pass
from wallet.privacy.models import BrandConsent


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet", lat=48.85745, lon=2.35104)


@pytest.fixture
def fence(make_geofence, store):
    return make_geofence(store)


@pytest.fixture
def offer(brand, fence):
    now = utcnow()
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), brand_id=brand.id, status=ACTIVE, reward_type="amount_off",
                      reward_amount_minor=300, reward_currency="EUR",
                      content={"fr": {"title": "3 € offerts", "description": "Dès 15 € d'achat",
                                      "terms": "Un par jour"},
                               "en": {"title": "€3 off", "description": "When you spend €15", "terms": "One a day"}},
                      default_locale="fr", valid_from=now - dt.timedelta(days=3),
                      valid_until=now + dt.timedelta(days=3),
                      schedule=[], trigger=ENTER, all_stores=False, audience="opted_in", coupon_ttl_minutes=120,
                      issued_count=0)
        session.add(offer)
        session.flush()
        session.add(OfferGeofence(offer_id=offer.id, geofence_id=fence.id))
    return offer


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(locale="en-GB")


@pytest.fixture
def headers(login, shopper):
    return login(shopper)


def _opt_in(client, headers, brand, opted_in=True):
    return client.put(f"/v1/me/brand-consents/{brand.id}", json={"opted_in": opted_in}, headers=headers)


def _issue(shopper, fence, at=None) -> Coupon:
    at = at or utcnow()
    with transaction():
        [coupon] = offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER,
                                        visit_started_at=at, at=at)
    return coupon


@pytest.fixture
def coupon(client, headers, brand, shopper, fence, offer):
    assert _opt_in(client, headers, brand).status_code == 200
    return _issue(shopper, fence)


# --- listing and reading -------------------------------------------------------------------------


def test_a_coupon_reads_in_the_shoppers_language_with_its_reward_brand_and_store(client, headers, coupon, offer,
                                                                                 store, brand):
    [listed] = client.get("/v1/me/coupons", headers=headers).get_json()
    assert listed == client.get(f"/v1/me/coupons/{coupon.id}", headers=headers).get_json()
    assert listed["id"] == str(coupon.id) and listed["offer_id"] == str(offer.id)
    assert (listed["title"], listed["description"], listed["terms"], listed["locale"]) == (
        "€3 off", "When you spend €15", "One a day", "en")
    assert listed["reward"] == {"type": "amount_off", "amount_minor": 300, "currency": "EUR"}
    assert listed["status"] == "active" and listed["redeemed_at"] is None
    assert listed["brand"]["name"] == "Lumière" and listed["store"]["id"] == str(store.id)
    assert listed["store"]["location"] == {"type": "Point", "coordinates": [2.35104, 48.85745]}
    issued_at = dt.datetime.fromisoformat(listed["issued_at"])
    assert dt.datetime.fromisoformat(listed["expires_at"]) - issued_at == dt.timedelta(minutes=120)


def test_coupons_are_listed_newest_first_and_filtered_by_status(client, headers, brand, shopper, fence, offer):
    _opt_in(client, headers, brand)
    now = utcnow()
    expired = _issue(shopper, fence, at=now - dt.timedelta(days=2))
    redeemed = _issue(shopper, fence, at=now - dt.timedelta(minutes=30))
    active = _issue(shopper, fence, at=now - dt.timedelta(minutes=1))
    with transaction():
        db.session.get(Coupon, redeemed.id).status = REDEEMED
        db.session.get(Coupon, redeemed.id).redeemed_at = now

    def ids(query=""):
        response = client.get(f"/v1/me/coupons{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [(c["id"], c["status"]) for c in response.get_json()]

    assert ids() == [(str(active.id), "active"), (str(redeemed.id), "redeemed"), (str(expired.id), "expired")]
    assert ids("?status=active") == [(str(active.id), "active")]
    assert ids("?status=redeemed") == [(str(redeemed.id), "redeemed")]
    assert ids("?status=expired") == [(str(expired.id), "expired")]
    paged = client.get("/v1/me/coupons?page_size=2", headers=headers)
    assert len(paged.get_json()) == 2 and json.loads(paged.headers["X-Pagination"])["total"] == 3
    assert client.get("/v1/me/coupons?status=used", headers=headers).status_code == 422


def test_another_shoppers_coupon_does_not_exist_for_you(client, coupon, make_shopper, login):
    stranger = login(make_shopper())
    assert client.get("/v1/me/coupons", headers=stranger).get_json() == []
    for suffix in ("", "/barcode", "/pass"):
        response = client.get(f"/v1/me/coupons/{coupon.id}{suffix}", headers=stranger)
        assert response.status_code == 404 and response.get_json()["reason"] == "not_found", suffix
    assert client.get(f"/v1/me/coupons/{uuid.uuid4()}", headers=stranger).status_code == 404


# --- showing it at the till ----------------------------------------------------------------------


def test_the_coupon_barcode_is_its_live_rotating_qr_code(client, headers, coupon):
    pass_ = db.session.get(Pass, coupon.pass_id)
    response = client.get(f"/v1/me/coupons/{coupon.id}/barcode", headers=headers)
    assert response.status_code == 200 and response.mimetype == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.data)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert decoded.text.startswith(f"W1.C.{pass_.short_id}.")
    parsed = codes.parse_pass_code(decoded.text)
    assert codes.verify_pass_code(parsed, pass_.secret, now=time.time(), last_accepted_step=None) == parsed.step
    assert response.cache_control.private and 0 < response.cache_control.max_age <= codes.PERIOD


def test_the_coupon_barcode_carries_an_etag_and_answers_304(client, headers, coupon):
    url = f"/v1/me/coupons/{coupon.id}/barcode?format=svg&scale=6"
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.mimetype == "image/svg+xml" and first.headers["ETag"]
    again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    # The code may have rotated in between; if it did, the new image comes whole.
    assert again.status_code in (304, 200)
    if again.status_code == 200:
        assert again.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize("query", ["format=gif", "scale=0", "scale=21", "height=5", "text=maybe"])
def test_bad_render_options_for_a_coupon_are_422(client, headers, coupon, query):
    assert client.get(f"/v1/me/coupons/{coupon.id}/barcode?{query}", headers=headers).status_code == 422


def test_the_coupon_pass_gives_what_the_app_needs_to_show_it_offline(client, headers, coupon):
    described = client.get(f"/v1/me/coupons/{coupon.id}/pass", headers=headers).get_json()
    pass_ = db.session.get(Pass, coupon.pass_id)
    assert described["kind"] == "C" and described["short_id"] == pass_.short_id
    assert described["current_code"].startswith(f"W1.C.{pass_.short_id}.") and described["period"] == 30


# --- at the till ---------------------------------------------------------------------------------


@pytest.fixture
def till(make_staff, login, brand, store):
    return login(make_staff(Role.CASHIER, brand, [store]))


def _live_code(client, headers, coupon):
    return client.get(f"/v1/me/coupons/{coupon.id}/pass", headers=headers).get_json()["current_code"]


def test_a_cashier_scanning_a_live_coupon_sees_what_it_gives_and_that_it_is_usable(client, headers, till, coupon,
                                                                                   offer, store):
    response = client.post("/v1/pos/scan", json={"code": _live_code(client, headers, coupon)}, headers=till)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["kind"] == "coupon" and body["store_id"] == str(store.id) and "member" not in body
    scanned = body["coupon"]
    assert scanned["id"] == str(coupon.id) and scanned["offer_id"] == str(offer.id)
    assert scanned["title"] == "3 € offerts"  # the till reads the offer in its default language
    assert scanned["reward"] == {"type": "amount_off", "amount_minor": 300, "currency": "EUR"}
    assert scanned["status"] == "active" and scanned["usable"] is True and "why_not" not in scanned
    # Nothing is redeemed by a scan: redemption is its own step.
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == "issued"


def test_an_expired_or_redeemed_coupon_is_reported_but_not_usable(client, headers, till, brand, shopper, fence,
                                                                  offer):
    _opt_in(client, headers, brand)
    expired = _issue(shopper, fence, at=utcnow() - dt.timedelta(days=1))
    redeemed = _issue(shopper, fence)
    with transaction():
        db.session.get(Coupon, redeemed.id).status = REDEEMED
    for coupon, why in ((expired, "expired"), (redeemed, "redeemed")):
        response = client.post("/v1/pos/scan", json={"code": _live_code(client, headers, coupon)}, headers=till)
        assert response.status_code == 200, response.get_json()
        scanned = response.get_json()["coupon"]
        assert (scanned["status"], scanned["usable"], scanned["why_not"]) == (why, False, why)


def test_a_cashier_of_another_brand_learns_nothing_about_the_coupon(client, headers, coupon, make_brand,
                                                                     make_store, make_staff, login):
    other = make_brand("Maison Verte")
    stranger = login(make_staff(Role.CASHIER, other, [make_store(other, "Bastille")]))
    response = client.post("/v1/pos/scan", json={"code": _live_code(client, headers, coupon)}, headers=stranger)
    assert response.status_code == 422 and response.get_json()["reason"] == "code_other_brand"
    assert "coupon" not in response.get_json() and "€3" not in response.get_data(as_text=True)


def test_a_coupon_code_shown_twice_is_a_replay(client, headers, till, coupon):
    code = _live_code(client, headers, coupon)
    assert client.post("/v1/pos/scan", json={"code": code}, headers=till).status_code == 200
    replay = client.post("/v1/pos/scan", json={"code": code}, headers=till)
    assert replay.status_code == 422 and replay.get_json()["reason"] == "code_replayed"


# --- per-brand consent ---------------------------------------------------------------------------


def test_opting_in_and_out_of_a_brand_is_recorded_from_the_profile(client, headers, shopper, brand):
    response = _opt_in(client, headers, brand)
    assert response.status_code == 200
    assert response.get_json()["opted_in"] is True and response.get_json()["brand_name"] == "Lumière"
    assert _opt_in(client, headers, brand).status_code == 200  # unchanged: no new event
    out = _opt_in(client, headers, brand, opted_in=False)
    assert out.status_code == 200 and out.get_json()["opted_in"] is False and out.get_json()["source"] == "profile"
    events = db.session.scalars(select(ConsentEvent).where(ConsentEvent.shopper_id == shopper.id,
                                                           ConsentEvent.brand_id == brand.id)
                                .order_by(ConsentEvent.recorded_at)).all()
    assert [(e.granted, e.source, e.consent) for e in events] == [(True, "profile", "brand"),
                                                                 (False, "profile", "brand")]


def test_the_consent_list_shows_each_brand_once_by_name(client, headers, brand, make_brand):
    zebra = make_brand("Zèbre")
    _opt_in(client, headers, zebra, opted_in=False)
    _opt_in(client, headers, brand)
    listed = client.get("/v1/me/brand-consents", headers=headers).get_json()
    assert [(c["brand_name"], c["opted_in"]) for c in listed] == [("Lumière", True), ("Zèbre", False)]


def test_only_listed_brands_take_a_new_consent_but_an_opt_out_is_always_possible(client, headers, shopper, brand,
                                                                                 make_brand):
    hidden = make_brand("Réserve", listed=False)
    assert _opt_in(client, headers, hidden).status_code == 404
    assert _opt_in(client, headers, type("Unknown", (), {"id": uuid.uuid4()})).status_code == 404
    _opt_in(client, headers, brand)
    with transaction():
        db.session.get(type(brand), brand.id).listed = False
    assert _opt_in(client, headers, brand, opted_in=False).status_code == 200
    assert db.session.get(BrandConsent, (shopper.id, brand.id)).opted_in is False
    assert client.put(f"/v1/me/brand-consents/{brand.id}", json={}, headers=headers).status_code == 422


def test_opting_out_of_a_brand_stops_its_coupons(client, headers, brand, shopper, fence, offer):
    _opt_in(client, headers, brand)
    assert len(_issue_all(shopper, fence)) == 1
    _opt_in(client, headers, brand, opted_in=False)
    assert _issue_all(shopper, fence) == []


def _issue_all(shopper, fence) -> list[Coupon]:
    now = utcnow()
    with transaction():
        return offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER,
                                    visit_started_at=now, at=now)
