"""Caps and budgets hold when many requests issue at once on PostgreSQL: each thread has its own
app context, session and connection, and they all start together at a barrier."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from wallet.auth.models import Shopper
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, DWELL, ENTER, Coupon, Offer, OfferDailyCount, OfferGeofence
from wallet.privacy.models import BrandConsent
from wallet.push.models import PushOutbox


@pytest.fixture
def fence(make_brand, make_store, make_geofence):
    return make_geofence(make_store(make_brand("Lumière"), "Châtelet"))


def _shoppers(fence, how_many: int) -> list[uuid.UUID]:
    with transaction() as session:
        shoppers = [Shopper(id=uuid.uuid4(), email=f"race-{uuid.uuid4().hex[:10]}@example.com", password_hash="-",
                            display_name="Racer") for _ in range(how_many)]
        session.add_all(shoppers)
        session.flush()
        session.add_all(BrandConsent(shopper_id=s.id, brand_id=fence.brand_id, opted_in=True, source="test")
                        for s in shoppers)
    return [shopper.id for shopper in shoppers]


def _offer(fence, **caps) -> uuid.UUID:
    now = utcnow()
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), brand_id=fence.brand_id, status=ACTIVE, reward_type="bonus_points",
                      reward_points=100, content={"fr": {"title": "Points", "description": "x2"},
                                                 "en": {"title": "Points", "description": "x2"}},
                      default_locale="fr", valid_from=now - dt.timedelta(days=1),
                      valid_until=now + dt.timedelta(days=1), schedule=[], trigger=caps.pop("trigger", ENTER),
                      all_stores=False, audience="opted_in", coupon_ttl_minutes=60, issued_count=0, **caps)
        session.add(offer)
        session.flush()
        session.add(OfferGeofence(offer_id=offer.id, geofence_id=fence.id))
    return offer.id


def _race(app: Flask, calls: list[Callable[[], list[Coupon]]]) -> list[int]:
    """Run every call in its own thread and transaction, all released at once; coupons per call."""
    barrier = threading.Barrier(len(calls))
    issued: list[int] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], list[Coupon]]) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                with transaction():
                    issued.append(len(call()))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing thread never finished"
    assert errors == []
    return issued


def _issue(shopper_id: uuid.UUID, fence_id: uuid.UUID, trigger: str = ENTER,
           visit_started_at: dt.datetime | None = None) -> Callable[[], list[Coupon]]:
    def call() -> list[Coupon]:
        now = utcnow()
        return offers.issue_coupons(shopper_id=shopper_id, geofence_id=fence_id, trigger=trigger,
                                    visit_started_at=visit_started_at or now, at=now)

    return call


def _count(model, *criteria) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0


def test_thirty_shoppers_racing_for_a_budget_of_seven_get_exactly_seven_coupons(app, fence):
    offer_id = _offer(fence, global_budget=7)
    issued = _race(app, [_issue(shopper_id, fence.id) for shopper_id in _shoppers(fence, 30)])
    assert sorted(issued) == [0] * 23 + [1] * 7
    assert _count(Coupon, Coupon.offer_id == offer_id) == 7
    assert _count(PushOutbox, PushOutbox.coupon_id.is_not(None)) == 7
    assert db.session.scalar(select(Offer.issued_count).where(Offer.id == offer_id)) == 7


def test_one_shopper_racing_twenty_times_for_a_cap_of_one_gets_one_coupon(app, fence):
    offer_id = _offer(fence, max_per_shopper=1)
    [shopper_id] = _shoppers(fence, 1)
    issued = _race(app, [_issue(shopper_id, fence.id) for _ in range(20)])
    assert sum(issued) == 1
    assert _count(Coupon, Coupon.offer_id == offer_id) == 1 and _count(PushOutbox) == 1
    assert db.session.scalar(select(Offer.issued_count).where(Offer.id == offer_id)) == 1


def test_a_daily_budget_holds_under_a_rush(app, fence):
    offer_id = _offer(fence, daily_budget=5)
    issued = _race(app, [_issue(shopper_id, fence.id) for shopper_id in _shoppers(fence, 20)])
    assert sum(issued) == 5 and _count(Coupon, Coupon.offer_id == offer_id) == 5
    assert db.session.scalar(select(OfferDailyCount.count).where(OfferDailyCount.offer_id == offer_id)) == 5


def test_parallel_dwell_reports_of_one_visit_issue_one_coupon(app, fence):
    offer_id = _offer(fence, trigger=DWELL, dwell_minutes=5)
    [shopper_id] = _shoppers(fence, 1)
    visit_started_at = utcnow() - dt.timedelta(minutes=6)
    issued = _race(app, [_issue(shopper_id, fence.id, DWELL, visit_started_at) for _ in range(12)])
    assert sum(issued) == 1 and _count(Coupon, Coupon.offer_id == offer_id) == 1
