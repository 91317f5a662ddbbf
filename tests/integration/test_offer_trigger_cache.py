"""Each process caches the offers' triggers per fence (``offers.live_triggers``): it reads them once,
and again when an offer or a fence changes, in this process or another, within the check interval."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.auth.models import Role
from wallet.auth.principal import Principal
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo import services as geo
from wallet.geo.models import Geofence
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, DWELL, ENTER, Offer, OfferGeofence

NOW = dt.datetime.now(dt.UTC)
HOUR = dt.timedelta(hours=1)


def _offer(brand, fence, **fields) -> uuid.UUID:
    values = {"brand_id": brand.id, "status": ACTIVE, "reward_type": "percent_off", "reward_percent": 10,
              "content": {"fr": {"title": "-10 %", "description": "", "terms": ""}}, "default_locale": "fr",
              "valid_from": NOW - HOUR, "valid_until": NOW + 24 * HOUR, "schedule": [], "trigger": ENTER,
              "all_stores": False, "audience": "opted_in", "coupon_ttl_minutes": 60, "issued_count": 0, **fields}
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), **values)
        session.add(offer)
        session.flush()
        session.add(OfferGeofence(offer_id=offer.id, geofence_id=fence.id))
        return offer.id


@pytest.fixture
def setting(app, make_brand, make_store, make_geofence, make_staff):
    brand = make_brand()
    fence = make_geofence(make_store(brand))
    admin = make_staff(Role.BRAND_ADMIN, brand)
    principal = Principal(id=admin.id, role=Role.BRAND_ADMIN, brand_id=brand.id)
    return brand, fence.id, principal


@pytest.fixture
def other_process(app):
    """Another server process on the same database, which checks the stamps only when told."""
    other = create_app({**TEST_CONFIG, "DATABASE_URL": app.config["DATABASE_URL"],
                        "OFFER_TRIGGERS_CHECK_SECONDS": 3600})
    yield other
    with other.app_context():
        db.engine.dispose()


def _triggers(other, fence_id, statements=None):
    brand_id = db.session.get(Geofence, fence_id).brand_id
    with other.app_context():
        if statements is not None:
            sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        try:
            return offers.live_triggers({fence_id: brand_id}, since=NOW, until=NOW).get(fence_id, offers.NO_TRIGGERS)
        finally:
            db.session.remove()


def test_a_process_reads_a_fences_offers_once_then_from_memory(setting, other_process):
    brand, fence_id, _ = setting
    _offer(brand, db.session.get(Geofence, fence_id), trigger=DWELL, dwell_minutes=10)
    first, again = [], []
    assert _triggers(other_process, fence_id, first).dwell_minutes == (10,)
    assert _triggers(other_process, fence_id, again).dwell_minutes == (10,)
    assert first and again == []  # the second answer came from memory, without a statement
    # The validity window is applied to each call's times, not cached.
    with other_process.app_context():
        brand_id = db.session.get(Geofence, fence_id).brand_id
        later = offers.live_triggers({fence_id: brand_id}, since=NOW + 48 * HOUR, until=NOW + 49 * HOUR)
        db.session.remove()
    assert later == {}


def test_a_change_made_in_another_process_shows_once_the_stamps_are_checked(setting, other_process):
    brand, fence_id, principal = setting
    offer_id = _offer(brand, db.session.get(Geofence, fence_id))
    assert _triggers(other_process, fence_id).enter
    offers.pause_offer(principal=principal, brand_id=brand.id, offer_id=offer_id)  # in "this" process
    assert _triggers(other_process, fence_id).enter  # not checked yet: the interval has not passed
    other_process.config["OFFER_TRIGGERS_CHECK_SECONDS"] = 1e-9  # the interval has passed
    assert _triggers(other_process, fence_id) == offers.NO_TRIGGERS
    offers.activate_offer(principal=principal, brand_id=brand.id, offer_id=offer_id)
    assert _triggers(other_process, fence_id).enter


def test_a_fence_change_also_refreshes_the_cache(setting, other_process):
    brand, fence_id, _ = setting
    _offer(brand, db.session.get(Geofence, fence_id))
    assert _triggers(other_process, fence_id).enter
    with transaction() as session:
        session.get(Geofence, fence_id).active = False
        geo.bump_version()
    other_process.config["OFFER_TRIGGERS_CHECK_SECONDS"] = 1e-9
    assert _triggers(other_process, fence_id) == offers.NO_TRIGGERS


def test_an_offer_on_all_stores_listens_on_every_fence_of_its_brand_only(setting, other_process, make_brand,
                                                                        make_store, make_geofence):
    brand, fence_id, _ = setting
    second = make_geofence(make_store(brand, "Second")).id
    foreign = make_geofence(make_store(make_brand(), "Foreign")).id
    offer_id = _offer(brand, db.session.get(Geofence, fence_id), all_stores=True)
    with transaction() as session:  # an all-stores offer has no fence of its own
        session.execute(sa.delete(OfferGeofence).where(OfferGeofence.offer_id == offer_id))
    assert _triggers(other_process, fence_id).enter and _triggers(other_process, second).enter
    assert _triggers(other_process, foreign) == offers.NO_TRIGGERS
