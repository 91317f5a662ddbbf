"""Issuing coupons when a shopper enters or dwells in a geofence: each rule on its own (validity,
schedule in store-local time, audience and consent, caps and budgets, once per visit), and the
push outbox row that commits, or rolls back, with its coupon."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import shapely
from flask_migrate import upgrade
from sqlalchemy import func, select

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.auth.models import Shopper
from wallet.brands.models import Brand, Store
from wallet.cards.models import Card, Membership
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import POLYGON, Geofence
from wallet.offers import services as offers
from wallet.offers.models import (
    ACTIVE,
    DRAFT,
    DWELL,
    ENDED,
    ENTER,
    PAUSED,
    Coupon,
    Offer,
    OfferDailyCount,
    OfferGeofence,
    OfferShopperCount,
)
from wallet.passes.models import COUPON, MEMBER_CARD, Pass
from wallet.passes.services import issue_pass
from wallet.privacy.services import record_brand_consent
from wallet.push.models import PushOutbox

# A Monday, 10:00 in Paris (UTC+2 in June).
NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def fence(make_geofence, store):
    return make_geofence(store)


@pytest.fixture
def new_shopper(app, brand):
    """A shopper (inserted directly: no password hashing), opted in to the brand unless told otherwise."""

    def make(opted_in: bool | None = True, **fields: Any) -> Shopper:
        with transaction() as session:
            shopper = Shopper(email=f"s-{uuid.uuid4().hex[:10]}@example.com", password_hash="-",
                              display_name="Shopper", **fields)
            session.add(shopper)
            session.flush()
            if opted_in is not None:
                record_brand_consent(shopper_id=shopper.id, brand_id=brand.id, opted_in=opted_in, source="test")
        return shopper

    return make


@pytest.fixture
def shopper(new_shopper):
    return new_shopper()


@pytest.fixture
def make_offer(app, brand, fence):
    """An active offer on ``fence`` (or as told), valid a day around NOW, at any time of the week."""

    def make(fences: list[Any] | None = None, **fields: Any) -> Offer:
        values: dict[str, Any] = {
            "brand_id": brand.id, "status": ACTIVE, "reward_type": "percent_off", "reward_percent": 20,
            "content": {"fr": {"title": "-20 %", "description": "Sur tout", "terms": ""},
                        "en": {"title": "20% off", "description": "Everything", "terms": ""}},
            "default_locale": "fr", "valid_from": NOW - dt.timedelta(days=1), "valid_until": NOW + dt.timedelta(days=1),
            "schedule": [], "trigger": ENTER, "all_stores": False, "audience": "opted_in", "coupon_ttl_minutes": 120,
            "issued_count": 0,
        }
        values.update(fields)
        with transaction() as session:
            offer = Offer(id=uuid.uuid4(), **values)
            session.add(offer)
            session.flush()
            if not offer.all_stores:
                for attached in fences if fences is not None else [fence]:
                    session.add(OfferGeofence(offer_id=offer.id, geofence_id=attached.id))
        return offer

    return make


def issue(shopper, fence, *, at=NOW, trigger=ENTER, visit_started_at=None) -> list[Coupon]:
    with transaction():
        return offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=trigger,
                                    visit_started_at=visit_started_at or at, at=at)


def count(model, *criteria) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0


# --- what a coupon is --------------------------------------------------------------------------


def test_entering_a_fence_issues_a_coupon_with_its_pass_and_push(shopper, fence, store, make_offer):
    offer = make_offer()
    [coupon] = issue(shopper, fence)
    assert (coupon.offer_id, coupon.shopper_id, coupon.store_id, coupon.geofence_id) == (
        offer.id, shopper.id, store.id, fence.id)
    assert coupon.status == "issued" and coupon.trigger == "enter"
    assert coupon.issued_at == NOW and coupon.expires_at == NOW + dt.timedelta(minutes=120)
    pass_ = db.session.get(Pass, coupon.pass_id)
    assert pass_.kind == COUPON and pass_.shopper_id == shopper.id and pass_.brand_id == offer.brand_id
    push = db.session.scalar(select(PushOutbox).where(PushOutbox.coupon_id == coupon.id))
    assert push.kind == "coupon" and push.status == "pending" and push.shopper_id == shopper.id
    assert push.collapse_key == f"offer-{offer.id}"
    assert push.ttl_seconds == 15 * 60  # the push is worthless once the shopper has left
    assert push.payload == {
        "title": "-20 %", "body": "Sur tout", "locale": "fr",
        "data": {"coupon_id": str(coupon.id), "offer_id": str(offer.id), "deep_link": f"wallet://coupons/{coupon.id}",
                 "notification_id": str(push.id)},  # what the app reports an open with
    }
    db.session.refresh(offer)
    assert offer.issued_count == 1


def test_a_coupon_never_outlives_its_offer_and_its_push_lasts_what_is_left(shopper, fence, make_offer):
    make_offer(valid_until=NOW + 7 * MINUTE)
    [coupon] = issue(shopper, fence)
    assert coupon.expires_at == NOW + 7 * MINUTE
    push = db.session.scalar(select(PushOutbox).where(PushOutbox.coupon_id == coupon.id))
    assert push.ttl_seconds == 7 * 60


@pytest.mark.parametrize(("locale", "title", "chosen"), [
    ("en-GB", "20% off", "en"), ("fr-FR", "-20 %", "fr"), ("de-DE", "-20 %", "fr")],
    ids=["english", "french", "falls-back-to-default"])
def test_the_push_speaks_the_shoppers_language(new_shopper, fence, make_offer, locale, title, chosen):
    make_offer()
    [coupon] = issue(new_shopper(locale=locale), fence)
    payload = db.session.scalar(select(PushOutbox.payload).where(PushOutbox.coupon_id == coupon.id))
    assert (payload["title"], payload["locale"]) == (title, chosen)


def test_the_push_row_rolls_back_with_its_coupon(shopper, fence, make_offer):
    offer = make_offer(global_budget=5)
    with pytest.raises(RuntimeError), transaction():
        assert len(offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER,
                                        visit_started_at=NOW, at=NOW)) == 1
        raise RuntimeError("the location request failed after issuing")
    assert count(Coupon) == 0 and count(PushOutbox) == 0 and count(Pass, Pass.kind == COUPON) == 0
    assert count(OfferShopperCount) == 0 and count(OfferDailyCount) == 0
    db.session.refresh(offer)
    assert offer.issued_count == 0
    assert len(issue(shopper, fence)) == 1  # nothing was spent by the failed attempt


# --- which offers ------------------------------------------------------------------------------


def test_each_live_offer_of_the_fence_issues_its_own_coupon(shopper, fence, make_offer):
    first, second = make_offer(), make_offer()
    assert {coupon.offer_id for coupon in issue(shopper, fence)} == {first.id, second.id}


@pytest.mark.parametrize("status", [DRAFT, PAUSED, ENDED])
def test_offers_that_are_not_active_issue_nothing(shopper, fence, make_offer, status):
    make_offer(status=status)
    assert issue(shopper, fence) == []


def test_an_offer_issues_only_within_its_validity_window(shopper, fence, make_offer):
    make_offer(valid_from=NOW, valid_until=NOW + dt.timedelta(hours=1))
    assert issue(shopper, fence, at=NOW - MINUTE) == []
    assert issue(shopper, fence, at=NOW + dt.timedelta(hours=1)) == []  # valid_until is excluded
    assert len(issue(shopper, fence, at=NOW)) == 1  # valid_from is included


def test_an_offer_listens_only_to_its_fences_or_all_its_brands_fences(shopper, fence, store, make_geofence,
                                                                        make_offer, make_brand, make_store):
    elsewhere = make_geofence(store, name="Back door")
    only_front = make_offer()
    everywhere = make_offer(all_stores=True)
    assert {c.offer_id for c in issue(shopper, elsewhere)} == {everywhere.id}
    assert {c.offer_id for c in issue(shopper, fence)} == {only_front.id, everywhere.id}
    foreign = make_geofence(make_store(make_brand("Maison Verte")))
    assert issue(shopper, foreign) == []


def test_a_deactivated_fence_triggers_nothing(shopper, fence, make_offer):
    make_offer()
    with transaction():
        fence.active = False
    assert issue(shopper, fence) == []


def test_an_enter_offer_ignores_dwell_reports_and_a_dwell_offer_ignores_entries(shopper, fence, make_offer):
    make_offer(trigger=DWELL, dwell_minutes=5)
    assert issue(shopper, fence, trigger=ENTER) == []
    make_offer(trigger=ENTER)
    assert [c.trigger for c in issue(shopper, fence, trigger=DWELL, visit_started_at=NOW - 10 * MINUTE)] == [DWELL]


# --- schedule, in the store's time zone --------------------------------------------------------

MONDAY_9_TO_12 = [{"days": [0], "start": "09:00", "end": "12:00"}]


def test_the_schedule_is_read_in_the_paris_stores_local_time(shopper, fence, make_offer):
    make_offer(schedule=MONDAY_9_TO_12)
    assert issue(shopper, fence, at=dt.datetime(2026, 6, 1, 6, 59, tzinfo=dt.UTC)) == []  # 08:59 in Paris
    assert issue(shopper, fence, at=dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)) == []  # 12:00 in Paris
    assert len(issue(shopper, fence, at=dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC))) == 1  # 09:00 in Paris


def test_the_schedule_follows_a_new_york_stores_clock(shopper, brand, make_store, make_geofence, make_offer):
    manhattan = make_geofence(make_store(brand, "SoHo", lat=40.7233, lon=-74.0030, time_zone="America/New_York"))
    make_offer(fences=[manhattan], schedule=MONDAY_9_TO_12)
    # 09:30 in Paris is 03:30 in New York: closed there.
    assert issue(shopper, manhattan, at=dt.datetime(2026, 6, 1, 7, 30, tzinfo=dt.UTC)) == []
    # 15:30 UTC is 11:30 in New York (17:30 in Paris): open.
    assert len(issue(shopper, manhattan, at=dt.datetime(2026, 6, 1, 15, 30, tzinfo=dt.UTC))) == 1


# --- audience and consent ----------------------------------------------------------------------


def test_a_shopper_who_never_opted_in_gets_nothing(new_shopper, fence, make_offer):
    make_offer()
    assert issue(new_shopper(opted_in=None), fence) == []


def test_an_opt_out_excludes_the_shopper_even_from_members_offers(new_shopper, brand, fence, make_offer):
    make_offer(audience="members")
    make_offer()
    member = new_shopper(opted_in=False)
    _enrol(member, brand)
    assert issue(member, fence) == []


def test_members_offers_go_to_members_only(new_shopper, brand, fence, make_offer):
    members_only = make_offer(audience="members")
    everyone = make_offer()
    outsider, member = new_shopper(), new_shopper()
    _enrol(member, brand)
    assert {c.offer_id for c in issue(outsider, fence)} == {everyone.id}
    assert {c.offer_id for c in issue(member, fence)} == {members_only.id, everyone.id}


def test_birthday_offers_go_to_shoppers_born_this_month(new_shopper, fence, make_offer):
    make_offer(audience="birthday_month")
    assert len(issue(new_shopper(birthday=dt.date(1990, 6, 17)), fence)) == 1
    assert issue(new_shopper(birthday=dt.date(1990, 7, 1)), fence) == []
    assert issue(new_shopper(birthday=None), fence) == []


def test_the_birthday_month_is_the_month_where_the_shopper_lives(new_shopper, fence, make_offer):
    make_offer(audience="birthday_month", valid_until=dt.datetime(2026, 8, 1, tzinfo=dt.UTC))
    # 30 June 22:30 UTC: already 1 July in Paris, still 30 June in New York.
    moment = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
    july_in_paris = new_shopper(birthday=dt.date(1990, 7, 20), time_zone="Europe/Paris")
    july_in_new_york = new_shopper(birthday=dt.date(1990, 7, 20), time_zone="America/New_York")
    assert len(issue(july_in_paris, fence, at=moment)) == 1
    assert issue(july_in_new_york, fence, at=moment) == []


def _enrol(shopper: Shopper, brand) -> None:
    with transaction() as session:
        pass_ = issue_pass(kind=MEMBER_CARD, brand_id=brand.id, shopper_id=shopper.id)
        number = uuid.uuid4().hex[:12]
        card = Card(shopper_id=shopper.id, kind="member", brand_id=brand.id, number=number, symbology="qr",
                    dedupe_key=f"brand:{brand.id}:{number}")
        session.add(card)
        session.flush()
        session.add(Membership(shopper_id=shopper.id, brand_id=brand.id, member_number=number, card_id=card.id,
                               pass_id=pass_.id))


# --- caps and budgets --------------------------------------------------------------------------


def test_the_per_shopper_cap_stops_further_coupons_for_that_shopper_only(new_shopper, fence, make_offer):
    offer = make_offer(max_per_shopper=2)
    regular, newcomer = new_shopper(), new_shopper()
    assert len(issue(regular, fence, at=NOW)) == 1
    assert len(issue(regular, fence, at=NOW + MINUTE)) == 1
    assert issue(regular, fence, at=NOW + 2 * MINUTE) == []
    assert len(issue(newcomer, fence, at=NOW + 2 * MINUTE)) == 1
    assert db.session.get(OfferShopperCount, (offer.id, regular.id)).count == 2


def test_the_cooldown_spaces_coupons_to_one_shopper(shopper, fence, make_offer):
    make_offer(cooldown_minutes=60)
    assert len(issue(shopper, fence, at=NOW)) == 1
    assert issue(shopper, fence, at=NOW + 59 * MINUTE) == []
    assert len(issue(shopper, fence, at=NOW + 60 * MINUTE)) == 1


def test_the_global_budget_stops_the_offer_for_everyone(new_shopper, fence, make_offer):
    offer = make_offer(global_budget=2)
    results = [issue(new_shopper(), fence) for _ in range(3)]
    assert [len(result) for result in results] == [1, 1, 0]
    db.session.refresh(offer)
    assert offer.issued_count == 2 and count(PushOutbox) == 2


def test_the_daily_budget_starts_again_the_next_day(new_shopper, fence, make_offer):
    make_offer(daily_budget=1, valid_until=NOW + dt.timedelta(days=3))
    assert len(issue(new_shopper(), fence, at=NOW)) == 1
    assert issue(new_shopper(), fence, at=NOW + dt.timedelta(hours=2)) == []
    assert len(issue(new_shopper(), fence, at=NOW + dt.timedelta(days=1))) == 1


def test_a_refused_cap_leaves_no_partial_writes(new_shopper, fence, make_offer):
    offer = make_offer(global_budget=1)
    first, second = new_shopper(), new_shopper()
    issue(first, fence)
    assert issue(second, fence) == []
    # The shopper and daily counters moved before the global budget said no; they were rolled back.
    assert db.session.get(OfferShopperCount, (offer.id, second.id)) is None
    assert db.session.scalar(select(OfferDailyCount.count).where(OfferDailyCount.offer_id == offer.id)) == 1
    assert count(Coupon) == 1 and count(PushOutbox) == 1 and count(Pass, Pass.kind == COUPON) == 1


def test_a_daily_budget_refusal_after_the_shoppers_counter_moved_rolls_that_counter_back(new_shopper, fence,
                                                                                           make_offer):
    offer = make_offer(daily_budget=1)
    first, second = new_shopper(), new_shopper()
    [issued] = issue(first, fence)
    assert issue(second, fence) == []
    assert db.session.get(OfferShopperCount, (offer.id, second.id)) is None
    assert db.session.get(OfferShopperCount, (offer.id, first.id)).count == 1
    assert count(Coupon) == 1 and count(PushOutbox) == 1 and count(Pass, Pass.kind == COUPON) == 1
    db.session.refresh(offer)
    assert offer.issued_count == 1 and issued.shopper_id == first.id


def test_a_taken_pass_short_id_still_issues_one_coupon_counted_once(shopper, new_shopper, fence, make_offer,
                                                                     monkeypatch):
    from wallet.passes import codes

    offer = make_offer()
    with transaction():
        taken = issue_pass(kind=COUPON, brand_id=offer.brand_id, shopper_id=new_shopper().id).short_id
    fresh = codes.generate_short_id
    answers = iter([taken])
    monkeypatch.setattr(codes, "generate_short_id", lambda: next(answers, None) or fresh())
    [coupon] = issue(shopper, fence)
    pass_ = db.session.get(Pass, coupon.pass_id)
    assert pass_.short_id != taken and pass_.shopper_id == shopper.id
    # Whichever way it went (one statement, or the general path after a rollback), counted once.
    assert db.session.get(OfferShopperCount, (offer.id, shopper.id)).count == 1
    assert db.session.scalar(select(OfferDailyCount.count).where(OfferDailyCount.offer_id == offer.id)) == 1
    db.session.refresh(offer)
    assert offer.issued_count == 1
    assert count(Coupon) == 1 and count(PushOutbox, PushOutbox.coupon_id == coupon.id) == 1


def test_the_coupon_returned_is_the_row_written(shopper, fence, make_offer):
    make_offer()
    fields = ("offer_id", "brand_id", "shopper_id", "pass_id", "geofence_id", "store_id", "trigger", "status",
              "issued_at", "expires_at", "redeemed_at", "redeemed_store_id")
    with transaction():
        [coupon] = offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER,
                                        visit_started_at=NOW, at=NOW)
        seen = {name: getattr(coupon, name) for name in fields}  # what the caller reads, before any reload
        coupon_id = coupon.id
    db.session.expunge_all()
    stored = db.session.get(Coupon, coupon_id)
    assert {name: getattr(stored, name) for name in fields} == seen


def test_a_refused_offer_does_not_stop_the_others(shopper, fence, make_offer):
    make_offer(global_budget=1)
    second = make_offer()
    issue(shopper, fence)
    assert [c.offer_id for c in issue(shopper, fence, at=NOW + MINUTE)] == [second.id]


# --- dwell: once per visit ---------------------------------------------------------------------


def test_a_dwell_offer_issues_once_the_shopper_has_stayed_long_enough(shopper, fence, make_offer):
    make_offer(trigger=DWELL, dwell_minutes=10)
    visit = NOW
    assert issue(shopper, fence, trigger=DWELL, visit_started_at=visit, at=visit + 9 * MINUTE) == []
    assert len(issue(shopper, fence, trigger=DWELL, visit_started_at=visit, at=visit + 10 * MINUTE)) == 1


def test_a_dwell_offer_issues_once_per_visit_however_many_fixes_follow(shopper, fence, make_offer):
    make_offer(trigger=DWELL, dwell_minutes=10)
    visit = NOW
    for minutes in (10, 11, 15, 40):
        issue(shopper, fence, trigger=DWELL, visit_started_at=visit, at=visit + minutes * MINUTE)
    assert count(Coupon) == 1
    next_visit = NOW + dt.timedelta(hours=2)
    assert issue(shopper, fence, trigger=DWELL, visit_started_at=next_visit, at=next_visit + 5 * MINUTE) == []
    assert len(issue(shopper, fence, trigger=DWELL, visit_started_at=next_visit, at=next_visit + 10 * MINUTE)) == 1


def test_bad_arguments_from_the_caller_are_programming_errors(shopper, fence):
    with pytest.raises(ValueError):
        offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger="exit", visit_started_at=NOW, at=NOW)
    with pytest.raises(ValueError):
        naive = NOW.replace(tzinfo=None)
        offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER, visit_started_at=naive,
                             at=naive)


# --- the embedded database ---------------------------------------------------------------------


def test_issuing_and_its_caps_work_on_the_embedded_sqlite_database_too(tmp_path):
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}"})
    with app.app_context():
        upgrade()
        with transaction() as session:
            brand = Brand(name="Lumière", name_key="lumière")
            session.add(brand)
            session.flush()
            store = Store(brand_id=brand.id, name="Châtelet", street="1 rue de Rivoli", postal_code="75001",
                          city="Paris", country_code="FR", location=shapely.Point(2.3522, 48.8566),
                          time_zone="Europe/Paris")
            session.add(store)
            session.flush()
            fence = Geofence(brand_id=brand.id, store_id=store.id, name="Door", kind=POLYGON,
                             area=shapely.Point(2.3522, 48.8566).buffer(0.0005))
            shoppers = [Shopper(email=f"{name}@example.com", password_hash="-", display_name=name)
                        for name in ("ana", "bea", "cyd")]
            session.add_all([fence, *shoppers])
            session.flush()
            for shopper in shoppers:
                record_brand_consent(shopper_id=shopper.id, brand_id=brand.id, opted_in=True, source="test")
            offer = Offer(id=uuid.uuid4(), brand_id=brand.id, status=ACTIVE, reward_type="percent_off",
                          reward_percent=10, content={"fr": {"title": "t", "description": "d"},
                                                      "en": {"title": "t", "description": "d"}},
                          default_locale="fr", valid_from=NOW - dt.timedelta(days=1),
                          valid_until=NOW + dt.timedelta(days=1), schedule=[], trigger=ENTER, all_stores=True,
                          audience="opted_in", coupon_ttl_minutes=60, issued_count=0, max_per_shopper=1,
                          global_budget=2)
            session.add(offer)
        ana, bea, cyd = shoppers
        assert len(issue(ana, fence)) == 1
        assert issue(ana, fence, at=NOW + MINUTE) == []  # per-shopper cap
        assert len(issue(bea, fence)) == 1
        assert issue(cyd, fence) == []  # global budget, with nothing left behind
        assert count(Coupon) == 2 and count(PushOutbox) == 2
        assert db.session.get(OfferShopperCount, (offer.id, cyd.id)) is None
        assert db.session.scalar(select(Offer.issued_count).where(Offer.id == offer.id)) == 2
        db.session.remove()
        db.engine.dispose()
