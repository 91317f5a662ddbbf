"""A scripted funnel scenario driven through the real API: shoppers walk into stores (locations
endpoint: entries, dwells, coupons), the dispatcher sends or suppresses the pushes, some shoppers
open them, and a till redeems some coupons. The expected figures are known exactly."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tests.loyalty_support import redeem, scan
from tests.push_support import add_device, opt_in
from wallet.auth.models import Role
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.offers.models import ACTIVE, AMOUNT_OFF, ENTER, Coupon, Offer, OfferGeofence
from wallet.push.models import PushOutbox

TEXTS = {"fr": {"title": "3 € offerts", "description": "Dès 15 €", "terms": ""},
         "en": {"title": "€3 off", "description": "When you spend €15", "terms": ""}}
CHATELET = (48.85745, 2.35104)
BASTILLE = (48.85310, 2.36900)


@dataclass
class Scenario:
    brand: Any
    other_brand: Any
    chatelet: Any
    bastille: Any
    offer: Offer
    shoppers: list[Any]
    headers: dict[str, dict[str, str]]
    coupons: dict[uuid.UUID, Coupon] = field(default_factory=dict)


def make_amount_offer(brand: Any, fences: list[Any]) -> Offer:
    now = utcnow()
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), brand_id=brand.id, status=ACTIVE, reward_type=AMOUNT_OFF,
                      reward_amount_minor=300, reward_currency="EUR", content=TEXTS, default_locale="fr",
                      valid_from=now - dt.timedelta(days=2), valid_until=now + dt.timedelta(days=7), schedule=[],
                      trigger=ENTER, all_stores=False, audience="opted_in", coupon_ttl_minutes=120, issued_count=0)
        session.add(offer)
        session.flush()
        session.add_all(OfferGeofence(offer_id=offer.id, geofence_id=fence.id) for fence in fences)
    return offer


def walk_in(client: Any, headers: dict[str, str], where: tuple[float, float], *, minutes_ago: float = 0) -> dict:
    fix = {"lat": where[0], "lon": where[1], "accuracy_m": 5,
           "recorded_at": (utcnow() - dt.timedelta(minutes=minutes_ago)).isoformat()}
    response = client.post("/v1/me/locations", json={"fixes": [fix]}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def build_scenario(client: Any, *, make_brand: Any, make_store: Any, make_geofence: Any, make_shopper: Any,
                   make_staff: Any, login: Any, make_dispatcher: Any) -> Scenario:
    """Six shoppers at Châtelet, two at Bastille (a small store: its figures are withheld).

    Châtelet: 6 entries, 2 dwells, 6 coupons; pushes: 4 sent, 1 no_device, 1 no_marketing_consent;
    2 opens; 3 redemptions (900 EUR cents off). Bastille: 2 entries, 2 coupons, 2 no_device.
    """
    _within_one_utc_day()
    config = client.application.config
    dwell_minutes, config["PRESENCE_DWELL_MINUTES"] = config["PRESENCE_DWELL_MINUTES"], DWELL_MINUTES
    try:
        return _build(client, make_brand=make_brand, make_store=make_store, make_geofence=make_geofence,
                      make_shopper=make_shopper, make_staff=make_staff, login=login, make_dispatcher=make_dispatcher)
    finally:
        config["PRESENCE_DWELL_MINUTES"] = dwell_minutes


# The figures are per UTC day: the whole scenario happens within one, so its stays are seconds long
# (a dwell after 3 s) rather than minutes, and it starts after midnight if that is under a minute away.
DWELL_MINUTES = 0.05
STAY_MINUTES = 0.1


def _within_one_utc_day() -> None:
    now = utcnow()
    to_midnight = (dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC) - now).total_seconds()
    if to_midnight < 60:
        time.sleep(to_midnight + 0.5)


def _build(client: Any, *, make_brand: Any, make_store: Any, make_geofence: Any, make_shopper: Any,
           make_staff: Any, login: Any, make_dispatcher: Any) -> Scenario:
    brand, other_brand = make_brand("Lumière"), make_brand("Rival")
    chatelet = make_store(brand, "Châtelet", lat=CHATELET[0], lon=CHATELET[1])
    bastille = make_store(brand, "Bastille", lat=BASTILLE[0], lon=BASTILLE[1])
    offer = make_amount_offer(brand, [make_geofence(chatelet), make_geofence(bastille)])
    shoppers, headers = [], {}
    for n in range(8):
        marketing = n != 5  # the sixth shopper at Châtelet refused marketing
        shopper = make_shopper(email=f"funnel-{n}-{uuid.uuid4().hex[:6]}@example.com",
                               consents={"location": True, "marketing": marketing})
        opt_in(shopper, brand)
        if n < 4 or n == 5:
            add_device(shopper)
        shoppers.append(shopper)
        headers[str(shopper.id)] = login(shopper)
    scenario = Scenario(brand, other_brand, chatelet, bastille, offer, shoppers, headers)
    for n, shopper in enumerate(shoppers):
        where = CHATELET if n < 6 else BASTILLE
        if n in (0, 1):  # these two stay: enter a few seconds ago, dwell now
            walk_in(client, headers[str(shopper.id)], where, minutes_ago=STAY_MINUTES)
        answer = walk_in(client, headers[str(shopper.id)], where)
        assert [event["type"] for event in answer["events"]] == (["dwell"] if n in (0, 1) else ["enter"])
    db.session.expire_all()
    for coupon in db.session.scalars(select(Coupon).where(Coupon.offer_id == offer.id)):
        scenario.coupons[coupon.shopper_id] = coupon
    assert len(scenario.coupons) == 8
    make_dispatcher().drain()
    for shopper in shoppers[:2]:
        push = db.session.scalars(select(PushOutbox).where(
            PushOutbox.coupon_id == scenario.coupons[shopper.id].id)).one()
        response = client.post(f"/v1/me/notifications/{push.id}/opened", headers=headers[str(shopper.id)])
        assert response.status_code == 204, response.get_json()
    till = login(make_staff(Role.CASHIER, brand, [chatelet]))
    for n, shopper in enumerate(shoppers[:3]):
        body = scan(client, till, scenario.coupons[shopper.id].pass_id)
        response = redeem(client, till, body["coupon"]["redemption_token"], order_reference=f"ORD-{n}")
        assert response.status_code == 201, response.get_json()
    return scenario


CHATELET_FIGURES = {
    "suppressed": False, "shoppers": 6, "entries": 6, "dwells": 2, "coupons_issued": 6, "pushes_sent": 4,
    "pushes_failed": 0, "pushes_pending": 0, "pushes_suppressed_total": 2, "opens": 2, "redemptions": 3,
    "redeemed_value_minor": 900, "currency": "EUR",
    "rates": {"issue_rate": 1.0, "delivery_rate": 0.6667, "open_rate": 0.5, "redemption_rate": 0.5,
              "entry_to_redemption_rate": 0.5},
}
TOTAL_FIGURES = {
    "suppressed": False, "shoppers": 8, "entries": 8, "dwells": 2, "coupons_issued": 8, "pushes_sent": 4,
    "pushes_failed": 0, "pushes_pending": 0, "pushes_suppressed_total": 4, "opens": 2, "redemptions": 3,
    "redeemed_value_minor": 900, "currency": "EUR",
    "rates": {"issue_rate": 1.0, "delivery_rate": 0.5, "open_rate": 0.5, "redemption_rate": 0.375,
              "entry_to_redemption_rate": 0.375},
}
