"""The location pipeline end to end: a walk into a store issues exactly what its offers allow, and
nothing else moves presence: not jitter, not bad fixes, not a shopper without location consent."""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid

import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy import delete, func, select

from wallet.auth.models import Role
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import LastFix, LocationFix, Presence
from wallet.offers.models import ACTIVE, DWELL, ENTER, FREE_ITEM, Coupon, Offer, OfferGeofence
from wallet.privacy.models import BrandConsent
from wallet.push.models import PushOutbox

STORE_LAT, STORE_LON = 48.85745, 2.35104
EARTH_RADIUS_M = 6_371_008.8
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # a Friday, 10:00 in Paris


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    return (STORE_LAT + math.degrees(north_m / EARTH_RADIUS_M),
            STORE_LON + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(STORE_LAT)))))


def square(half_side_m: float) -> shapely.Polygon:
    corners = [offset(-half_side_m, -half_side_m), offset(-half_side_m, half_side_m),
               offset(half_side_m, half_side_m), offset(half_side_m, -half_side_m)]
    return shapely.Polygon([(lon, lat) for lat, lon in corners])


class Clock:
    """The server's notion of now, moved by the test (fixes older than 10 minutes are refused)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = T0
        monkeypatch.setattr("wallet.locations.services.utcnow", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet", lat=STORE_LAT, lon=STORE_LON)


@pytest.fixture
def fence(make_geofence, store):
    return make_geofence(store, polygon=square(25), name="Shop floor")


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(consents={"location": True})


@pytest.fixture
def headers(login, shopper):
    return login(shopper)


@pytest.fixture
def opted_in(shopper, brand):
    with transaction() as session:
        session.add(BrandConsent(shopper_id=shopper.id, brand_id=brand.id, opted_in=True, source="test"))


def make_offer(brand, fence, trigger=ENTER, dwell_minutes=None, **fields) -> Offer:
    with transaction() as session:
        offer = Offer(brand_id=brand.id, status=ACTIVE, reward_type=FREE_ITEM, reward_item="Croissant",
                      content={"fr": {"title": "Un croissant offert", "description": "", "terms": ""},
                               "en": {"title": "A free croissant", "description": "", "terms": ""}},
                      valid_from=T0 - dt.timedelta(days=1), valid_until=T0 + dt.timedelta(days=30), schedule=[],
                      trigger=trigger, dwell_minutes=dwell_minutes, audience="opted_in", coupon_ttl_minutes=60,
                      **fields)
        session.add(offer)
        session.flush()
        session.add(OfferGeofence(offer_id=offer.id, geofence_id=fence.id))
    return offer


def post(client, headers, clock, *fixes, at=None):
    """Send fixes given as (seconds after T0, north m, east m, accuracy m[, extra fields])."""
    body = []
    for seconds, north, east, accuracy, *extra in fixes:
        lat, lon = offset(north, east)
        body.append({"lat": lat, "lon": lon, "accuracy_m": accuracy,
                     "recorded_at": (T0 + dt.timedelta(seconds=seconds)).isoformat(), **(extra[0] if extra else {})})
    clock.now = at or (T0 + dt.timedelta(seconds=max(f[0] for f in fixes) + 1))
    response = client.post("/v1/me/locations", json={"fixes": body}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_walk_into_a_polygon_store_gives_one_enter_one_dwell_one_exit_and_the_offers_coupons(
    client, headers, clock, brand, fence, opted_in, shopper
):
    make_offer(brand, fence, ENTER)
    make_offer(brand, fence, DWELL, dwell_minutes=8)
    make_offer(brand, fence, DWELL, dwell_minutes=30)  # the shopper does not stay that long
    events, coupons = [], []
    # Approach from 300 m west, one fix every 15 s at walking pace.
    approach = [(i * 15, 0, -300 + i * 20, 8) for i in range(16)]
    stay = [(240 + i * 15, 2 * math.sin(i), 2 * math.cos(i), 6) for i in range(41)]  # ten minutes inside
    leave = [(855 + i * 15, 0, 20 + i * 20, 8) for i in range(15)]
    walk = approach + stay + leave
    for first in range(0, len(walk), 4):  # the phone sends four fixes a minute
        answer = post(client, headers, clock, *walk[first:first + 4])
        events += [e["type"] for e in answer["events"]]
        coupons += answer["coupons"]
        assert answer["rejected"] == {"future": 0, "inaccurate": 0, "impossible_speed": 0, "mocked": 0,
                                      "out_of_order": 0, "stale": 0}
    assert events == ["enter", "dwell", "exit"]
    assert sorted(c["trigger"] for c in coupons) == ["dwell", "enter"]
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 2
    # Every coupon has its push waiting in the outbox.
    assert db.session.scalar(select(func.count()).select_from(PushOutbox)) == 2
    presence = db.session.scalar(select(Presence))
    assert presence.inside is False and presence.exited_at is not None


def test_gps_jitter_across_the_boundary_produces_no_extra_events(client, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, ENTER)
    answer = post(client, headers, clock, (0, 0, 0, 5))
    assert [e["type"] for e in answer["events"]] == ["enter"]
    # Wobbling 10 m either side of the east wall (25 m from the centre) with 8 m accuracy.
    wobble = [(15 + i * 15, 0, 25 + (10 if i % 2 else -10), 8) for i in range(12)]
    events = []
    for first in range(0, len(wobble), 4):
        events += post(client, headers, clock, *wobble[first:first + 4])["events"]
    assert events == []
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 1


@pytest.mark.parametrize(
    ("fix", "reason"),
    [
        ((0, 0, 0, 150), "inaccurate"),
        ((0, 0, 0, 5, {"mocked": True}), "mocked"),
        ((0, 0, 0, 5), "stale"),
        ((0, 0, 0, 5), "future"),
    ],
)
def test_bad_fixes_inside_the_store_issue_nothing(client, headers, clock, brand, fence, opted_in, fix, reason):
    make_offer(brand, fence, ENTER)
    at = {"stale": T0 + dt.timedelta(minutes=11), "future": T0 - dt.timedelta(minutes=5)}.get(reason)
    answer = post(client, headers, clock, fix, at=at)
    assert answer["accepted"] == 0 and answer["rejected"][reason] == 1
    assert answer["events"] == [] and answer["coupons"] == []
    assert db.session.scalar(select(func.count()).select_from(Presence)) == 0


def test_a_jump_into_the_store_is_refused(client, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, ENTER)
    post(client, headers, clock, (0, 0, -3000, 10))  # 3 km west
    answer = post(client, headers, clock, (10, 0, 0, 5))  # in the shop 10 s later
    assert answer["rejected"]["impossible_speed"] == 1 and answer["coupons"] == []


def test_a_jump_is_caught_across_processes_through_the_stored_last_fix(app, client, headers, clock, brand, fence,
                                                                       opted_in, shopper):
    make_offer(brand, fence, ENTER)
    post(client, headers, clock, (0, 0, 0, 5))  # inside: the last fix is stored
    post(client, headers, clock, (60, 0, 200, 5))  # left (exit) — still near enough to be stored
    assert db.session.get(LastFix, shopper.id) is not None
    app.extensions.pop("wallet.last_fixes")  # another process, which never saw this shopper
    answer = post(client, headers, clock, (62, 0, 5000, 5))
    assert answer["rejected"]["impossible_speed"] == 1


BASTILLE, MONTMARTRE, TOKYO = (48.8532, 2.3692), (48.8867, 2.3431), (35.6812, 139.7671)


@pytest.mark.parametrize("other_process", [False, True], ids=["same-process", "another-process"])
def test_backdated_fixes_are_refused_as_out_of_order_and_issue_nothing(app, client, headers, clock, brand, fence,
                                                                      opted_in, make_store, make_geofence,
                                                                      shopper, other_process):
    make_offer(brand, fence, ENTER)
    for name, (lat, lon) in (("Bastille", BASTILLE), ("Montmartre", MONTMARTRE), ("Tokyo", TOKYO)):
        make_offer(brand, make_geofence(make_store(brand, name, lat=lat, lon=lon), radius_m=100), ENTER)
    clock.now = T0 + dt.timedelta(seconds=11)
    first = client.post("/v1/me/locations", headers=headers, json={"fixes": [
        {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5,
         "recorded_at": (T0 + dt.timedelta(seconds=10)).isoformat()}]})
    assert len(first.get_json()["coupons"]) == 1
    for seconds, (lat, lon) in ((8, BASTILLE), (6, MONTMARTRE), (5, TOKYO)):
        if other_process:  # one that never saw this shopper: the stored last fix still orders the fixes
            app.extensions.pop("wallet.last_fixes", None)
        answer = client.post("/v1/me/locations", headers=headers, json={"fixes": [
            {"lat": lat, "lon": lon, "accuracy_m": 5,
             "recorded_at": (T0 + dt.timedelta(seconds=seconds)).isoformat()}]})
        assert answer.status_code == 200
        body = answer.get_json()
        assert body["accepted"] == 0 and body["rejected"]["out_of_order"] == 1
        assert body["events"] == [] and body["coupons"] == []
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 1
    assert db.session.get(LastFix, shopper.id).recorded_at == T0 + dt.timedelta(seconds=10)


def test_a_batch_sent_out_of_order_is_screened_in_time_order(client, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, ENTER)
    # Newest first, as a phone flushing a stack might send them: inside the shop, 2 s earlier 1.4 km away.
    answer = post(client, headers, clock, (10, 0, 0, 5), (8, -475, 1320, 5), (0, -475, 1320, 5))
    assert answer["accepted"] == 2 and answer["rejected"]["impossible_speed"] == 1
    assert answer["coupons"] == []


def test_a_fix_far_from_every_fence_writes_nothing(client, headers, clock, fence, shopper):
    answer = post(client, headers, clock, (0, 5000, 5000, 10))
    assert answer["accepted"] == 1 and answer["events"] == []
    for model in (Presence, LastFix, LocationFix, Coupon, PushOutbox):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_without_location_consent_the_call_is_403_and_nothing_happens(client, clock, fence, make_shopper, login):
    headers = login(make_shopper())
    response = client.post("/v1/me/locations", json={"fixes": [
        {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}]}, headers=headers)
    assert response.status_code == 403 and response.get_json()["reason"] == "location_consent_required"
    nearby = client.get(f"/v1/me/geofences/nearby?lat={STORE_LAT}&lon={STORE_LON}", headers=headers)
    assert nearby.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Presence)) == 0


def test_without_a_brand_opt_in_entering_issues_no_coupon(client, headers, clock, brand, fence):
    make_offer(brand, fence, ENTER)
    answer = post(client, headers, clock, (0, 0, 0, 5))
    assert [e["type"] for e in answer["events"]] == ["enter"] and answer["coupons"] == []


def test_an_opt_out_stops_coupons(client, headers, clock, brand, fence, shopper):
    make_offer(brand, fence, ENTER)
    with transaction() as session:
        session.add(BrandConsent(shopper_id=shopper.id, brand_id=brand.id, opted_in=False, source="profile"))
    assert post(client, headers, clock, (0, 0, 0, 5))["coupons"] == []


def test_raw_fixes_are_kept_only_when_a_retention_is_configured(app, client, headers, clock, fence):
    post(client, headers, clock, (0, 0, 0, 5))
    assert db.session.scalar(select(func.count()).select_from(LocationFix)) == 0
    app.config["LOCATION_RETENTION"] = 3600
    try:
        post(client, headers, clock, (30, 1, 1, 5))
    finally:
        app.config["LOCATION_RETENTION"] = 0
    assert db.session.scalar(select(func.count()).select_from(LocationFix)) == 1


@pytest.mark.parametrize(
    "fix",
    [
        {"lat": 91, "lon": 2.35, "accuracy_m": 5},
        {"lat": 48.85, "lon": -181, "accuracy_m": 5},
        {"lat": 48.85, "lon": 2.35, "accuracy_m": 0},
        {"lat": "48.85", "lon": 2.35, "accuracy_m": 5, "extra": 1},
        {"lat": 48.85, "lon": 2.35, "accuracy_m": 5, "recorded_at": "2026-11-20T10:00:00"},
    ],
    ids=["latitude", "longitude", "zero-accuracy", "unknown-field", "naive-time"],
)
def test_malformed_fixes_are_422_and_change_nothing(client, headers, clock, fence, fix):
    body = {"recorded_at": T0.isoformat(), **fix}
    response = client.post("/v1/me/locations", json={"fixes": [body]}, headers=headers)
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Presence)) == 0


def test_a_batch_is_at_most_120_fixes(client, headers, clock, fence):
    fix = {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}
    assert client.post("/v1/me/locations", json={"fixes": [fix] * 121}, headers=headers).status_code == 422
    assert client.post("/v1/me/locations", json={"fixes": []}, headers=headers).status_code == 422


def test_region_events_are_checked_against_the_true_polygon(client, headers, clock, brand, store, make_geofence,
                                                           opted_in):
    fence = make_geofence(store, polygon=square(25))
    make_offer(brand, fence, ENTER)
    corner_lat, corner_lon = offset(30, 30)  # inside the bounding circle (35 m), outside the square
    clock.now = T0 + dt.timedelta(seconds=1)
    outside = client.post("/v1/me/geofence-events", json={"events": [
        {"geofence_id": str(fence.id), "type": "enter", "lat": corner_lat, "lon": corner_lon, "accuracy_m": 3,
         "recorded_at": T0.isoformat()}]}, headers=headers).get_json()
    assert outside["events"] == [] and outside["coupons"] == []
    inside = client.post("/v1/me/geofence-events", json={"events": [
        {"geofence_id": str(fence.id), "type": "enter", "lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 3,
         "recorded_at": (T0 + dt.timedelta(seconds=1)).isoformat()},
        {"geofence_id": "00000000-0000-4000-8000-000000000000", "type": "enter", "lat": STORE_LAT,
         "lon": STORE_LON, "accuracy_m": 3, "recorded_at": (T0 + dt.timedelta(seconds=1)).isoformat()}]},
        headers=headers).get_json()
    assert [e["type"] for e in inside["events"]] == ["enter"] and len(inside["coupons"]) == 1
    assert inside["rejected"]["unknown_region"] == 1


def test_the_phone_is_told_the_nearest_19_regions_and_a_resync_circle(client, headers, clock, brand, make_store,
                                                                     make_geofence):
    for i in range(25):
        lat, lon = offset(100 * (i + 1), 0)
        make_geofence(make_store(brand, f"Store {i}", lat=lat, lon=lon), radius_m=30)
    answer = client.get(f"/v1/me/geofences/nearby?lat={STORE_LAT}&lon={STORE_LON}", headers=headers).get_json()
    regions = answer["regions"]
    assert len(regions) == 19
    distances = [r["distance_m"] for r in regions]
    assert distances == sorted(distances) and distances[0] == pytest.approx(70, abs=0.5)
    assert answer["resync"]["radius_m"] >= distances[-1]
    assert answer["resync"]["lat"] == STORE_LAT
    response = client.get("/v1/me/geofences/nearby?lat=91&lon=2", headers=headers)
    assert response.status_code == 422


def test_away_from_the_fences_the_phone_gets_those_within_reach_and_a_resync_circle_as_wide(
        app, client, headers, brand, make_store, make_geofence):
    within = app.config["MONITOR_RADIUS_M"]
    for i, north_m in enumerate([2_000, 4_000, 6_000, within + 5_000, 3 * within]):
        lat, lon = offset(north_m, 0)
        make_geofence(make_store(brand, f"Store {i}", lat=lat, lon=lon), radius_m=30)

    def nearby(north_m: float) -> dict:
        lat, lon = offset(north_m, 0)
        response = client.get(f"/v1/me/geofences/nearby?lat={lat}&lon={lon}", headers=headers)
        assert response.status_code == 200
        return response.get_json()

    answer = nearby(0)
    assert [r["distance_m"] for r in answer["regions"]] == pytest.approx([1_970, 3_970, 5_970], abs=0.5)
    # The fences left out lie beyond the re-sync circle: the phone cannot reach them without asking again.
    assert answer["resync"]["radius_m"] == within < within + 5_000 - 30
    answer = nearby(-3 * within)  # far from every fence: nothing to watch but the re-sync circle
    assert answer["regions"] == [] and answer["resync"]["radius_m"] == within


def test_concurrent_batches_of_one_shopper_enter_once(app, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, ENTER)
    clock.now = T0 + dt.timedelta(seconds=1)
    fix = {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}
    barrier = threading.Barrier(6)
    answers = []

    def send() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            answers.append(client.post("/v1/me/locations", json={"fixes": [fix]}, headers=headers).get_json())
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(a["events"]) for a in answers) == 1
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 1


def test_tenancy_a_cashier_cannot_report_positions(client, make_staff, brand, login):
    assert client.post("/v1/me/locations", json={"fixes": []}, headers=login(make_staff(Role.CASHIER, brand, []))
                       ).status_code == 403


def test_the_naive_postgis_lookup_gives_the_same_enter_and_coupon(app, client, headers, clock, brand, fence,
                                                                  opted_in):
    """The benchmark's baseline must do the same work, or its ratio would mean nothing."""
    make_offer(brand, fence, ENTER)
    app.config["GEOFENCE_LOOKUP"] = "postgis"
    try:
        answer = post(client, headers, clock, (0, 0, 0, 5))
    finally:
        app.config["GEOFENCE_LOOKUP"] = "index"
    assert [e["type"] for e in answer["events"]] == ["enter"] and len(answer["coupons"]) == 1


def test_a_budget_holds_when_many_shoppers_walk_in_at_once(app, clock, brand, fence, make_shopper, login):
    offer = make_offer(brand, fence, ENTER, global_budget=5)
    shoppers = [make_shopper(consents={"location": True}) for _ in range(16)]
    with transaction() as session:
        session.add_all(BrandConsent(shopper_id=s.id, brand_id=brand.id, opted_in=True, source="test")
                        for s in shoppers)
    headers = [login(s) for s in shoppers]
    clock.now = T0 + dt.timedelta(seconds=1)
    fix = {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}
    barrier = threading.Barrier(len(headers))
    statuses: list[int] = []

    def walk_in(auth: dict[str, str]) -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/v1/me/locations", json={"fixes": [fix]}, headers=auth).status_code)
            db.session.remove()

    threads = [threading.Thread(target=walk_in, args=(auth,)) for auth in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(headers)
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 5
    assert db.session.scalar(select(func.count()).select_from(PushOutbox)) == 5
    db.session.refresh(offer)
    assert offer.issued_count == 5


def test_a_far_fix_after_entering_is_an_exit(client, headers, clock, brand, fence, opted_in):
    assert [e["type"] for e in post(client, headers, clock, (0, 0, 0, 5))["events"]] == ["enter"]
    # Minutes later the shopper reports from across town: nothing is near, but the fence is left.
    answer = post(client, headers, clock, (600, 4000, 4000, 10))
    assert [e["type"] for e in answer["events"]] == ["exit"]
    assert db.session.scalar(select(Presence.inside)) is False


def test_fixes_near_but_never_clearly_inside_move_no_presence(client, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, ENTER)
    # 5 m inside the edge with 10 m accuracy: maybe inside, maybe not; and 30 m outside.
    answer = post(client, headers, clock, (0, 0, 20, 10), (10, 0, 55, 10))
    assert answer["events"] == [] and answer["coupons"] == []
    assert db.session.scalar(select(func.count()).select_from(Presence)) == 0
    assert db.session.scalar(select(func.count()).select_from(LastFix)) == 1  # kept for the speed check


def test_a_stay_keeps_the_presence_rows_last_seen_within_a_minute_of_the_last_fix(client, headers, clock, fence,
                                                                                 shopper):
    def last_seen():
        db.session.expire_all()
        return db.session.scalar(select(Presence.last_seen_at).where(Presence.shopper_id == shopper.id))

    post(client, headers, clock, (0, 0, 0, 5))
    assert last_seen() == T0
    # One batch of four minutes inside, a fix every 2 s: the row follows the stay, not its first fix.
    post(client, headers, clock, *[(10 + 2 * i, 1, 1, 5) for i in range(120)])
    assert T0 + dt.timedelta(seconds=10 + 2 * 119 - 60) < last_seen() <= T0 + dt.timedelta(seconds=10 + 2 * 119)
    # A few seconds more changes nothing worth a write.
    before = last_seen()
    post(client, headers, clock, (250, 1, 1, 5), (252, 1, 1, 5))
    assert last_seen() == before


def test_dwell_offers_issue_at_their_own_thresholds_across_batches(client, headers, clock, brand, fence, opted_in):
    make_offer(brand, fence, DWELL, dwell_minutes=2)
    make_offer(brand, fence, DWELL, dwell_minutes=4)
    issued = []
    for minute in range(0, 7):  # one batch a minute, four fixes in it, standing in the shop
        answer = post(client, headers, clock, *[(minute * 60 + s, 1, 1, 5) for s in (0, 15, 30, 45)])
        issued += [(minute, c["trigger"]) for c in answer["coupons"]]
    assert issued == [(2, "dwell"), (4, "dwell")]


def test_a_signed_out_session_cannot_report_positions(client, headers, clock, fence):
    assert client.post("/v1/auth/sign-out", headers=headers).status_code == 204
    response = client.post("/v1/me/locations", headers=headers, json={"fixes": [
        {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}]})
    assert response.status_code == 401 and response.get_json()["reason"] == "session_ended"


class Statements:
    """The SQL statements and commits the engine runs while the block runs."""

    def __init__(self, engine):
        self.engine, self.sql, self.commits = engine, [], 0

    def _statement(self, conn, cursor, statement, *args):
        self.sql.append(" ".join(statement.split()))

    def _commit(self, conn):
        self.commits += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._statement)
        sa.event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._statement)
        sa.event.remove(self.engine, "commit", self._commit)


@pytest.fixture
def quiet_index(app, fence):
    """The index loaded once and not re-checked during the test: only the request's own statements run."""
    from wallet.geo.services import current_index

    current_index()
    app.config["GEOFENCE_INDEX_CHECK_SECONDS"] = 3600
    db.session.rollback()  # the test's own reads end: a request starts with no transaction open, as in a server


def test_a_far_fix_costs_one_statement_the_session_read_with_the_shoppers_facts(client, headers, clock, quiet_index):
    with Statements(db.engine) as seen:
        answer = post(client, headers, clock, (60, 5000, 5000, 10))
    assert answer["accepted"] == 1 and len(answer["monitor"]["regions"]) == 1
    assert len(seen.sql) == 1 and seen.commits == 0
    assert "auth_sessions" in seen.sql[0] and "last_fixes" in seen.sql[0] and "consent_location" in seen.sql[0]


def test_a_near_fix_stores_the_last_fix_in_one_statement_without_a_transaction(client, headers, clock, shopper,
                                                                               quiet_index):
    with Statements(db.engine) as seen:
        post(client, headers, clock, (60, 0, 60, 10))  # 35 m outside the shop floor: near, not inside
    assert len(seen.sql) == 2 and seen.commits == 0
    assert seen.sql[1].startswith("INSERT INTO last_fixes")
    assert db.session.get(LastFix, shopper.id).recorded_at == T0 + dt.timedelta(seconds=60)


def test_the_facts_read_with_one_session_serve_no_other(app, shopper, headers, make_shopper):
    from wallet.auth import services as auth_services
    from wallet.auth.principal import SHOPPER, Principal
    from wallet.locations.services import FACTS_WITH_SESSION

    token = headers["Authorization"].removeprefix("Bearer ")
    other = Principal(id=make_shopper().id, role=SHOPPER, session_id=uuid.uuid4())
    with app.test_request_context():
        auth_services.authenticate_access_token(token, FACTS_WITH_SESSION)
        assert auth_services.companion_values(FACTS_WITH_SESSION, other) is None  # another session: read again
        mine = auth_services.authenticate_access_token(token, FACTS_WITH_SESSION)
        consent, lat, lon, recorded_at, inside_any = auth_services.companion_values(FACTS_WITH_SESSION, mine)
        assert (consent, lat, lon, recorded_at, inside_any) == (True, None, None, None, False)
        assert auth_services.companion_values(FACTS_WITH_SESSION, mine) is None  # used once


def test_a_deactivated_account_cannot_report_positions(client, headers, clock, fence, shopper):
    with transaction():
        db.session.get(type(shopper), shopper.id).is_active = False
    response = client.post("/v1/me/locations", headers=headers, json={"fixes": [
        {"lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 5, "recorded_at": T0.isoformat()}]})
    assert response.status_code == 401
    assert db.session.scalar(select(func.count()).select_from(LastFix)) == 0


def test_an_offer_on_all_of_a_brands_stores_issues_at_any_of_them(client, headers, clock, brand, fence, opted_in,
                                                                   make_brand, make_store, make_geofence):
    offer = make_offer(brand, fence, ENTER)
    with transaction():  # on every store of the brand, no fence attached
        db.session.get(Offer, offer.id).all_stores = True
        db.session.execute(delete(OfferGeofence).where(OfferGeofence.offer_id == offer.id))
    make_geofence(make_store(make_brand(), "Elsewhere", lat=48.9, lon=2.4))  # another brand's fence: none of its concern
    answer = post(client, headers, clock, (0, 0, 0, 5))
    assert [e["type"] for e in answer["events"]] == ["enter"]
    assert [c["offer_id"] for c in answer["coupons"]] == [str(offer.id)]


NOTICE_FIELDS = ("id", "offer_id", "locale", "title", "description", "terms", "reward", "issued_at", "expires_at")


def _texts_offer(brand, fence, **fields) -> Offer:
    offer = make_offer(brand, fence, ENTER, **fields)
    with transaction() as session:
        session.get(Offer, offer.id).content = {
            "fr": {"title": "Un croissant offert", "description": "Au comptoir.", "terms": "Un par visite."},
            "en": {"title": "A free croissant", "description": "At the counter.", "terms": "One per visit."}}
    return offer


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_a_coupon_issued_by_a_location_report_carries_what_a_notification_shows(
    client, clock, brand, fence, make_shopper, login, locale
):
    shopper = make_shopper(consents={"location": True}, locale=locale)
    with transaction() as session:
        session.add(BrandConsent(shopper_id=shopper.id, brand_id=brand.id, opted_in=True, source="test"))
    _texts_offer(brand, fence)
    auth = login(shopper)
    [coupon] = post(client, auth, clock, (0, 0, 0, 5))["coupons"]
    listed = client.get(f"/v1/me/coupons/{coupon['id']}", headers=auth).get_json()
    # The same texts, in the same language, as the shopper's coupon list: no second call needed.
    assert {name: coupon[name] for name in NOTICE_FIELDS} == {name: listed[name] for name in NOTICE_FIELDS}
    assert coupon["title"] == ("A free croissant" if locale.startswith("en") else "Un croissant offert")
    assert coupon["reward"] == {"type": "free_item", "item": "Croissant"}
    assert coupon["issued_at"] == T0.isoformat()


def test_a_coupon_issued_by_a_region_event_carries_the_same(client, headers, clock, brand, fence, opted_in):
    _texts_offer(brand, fence)
    clock.now = T0 + dt.timedelta(seconds=1)
    answer = client.post("/v1/me/geofence-events", json={"events": [
        {"geofence_id": str(fence.id), "type": "enter", "lat": STORE_LAT, "lon": STORE_LON, "accuracy_m": 3,
         "recorded_at": T0.isoformat()}]}, headers=headers).get_json()
    [coupon] = answer["coupons"]
    listed = client.get(f"/v1/me/coupons/{coupon['id']}", headers=headers).get_json()
    assert {name: coupon[name] for name in NOTICE_FIELDS} == {name: listed[name] for name in NOTICE_FIELDS}
    assert coupon["title"] == "Un croissant offert" and coupon["locale"] == "fr"
