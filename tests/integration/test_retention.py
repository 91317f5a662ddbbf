"""The retention job deletes exactly what is past its time, nothing else, and is idempotent."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from tests.insight_support import make_amount_offer
from tests.push_support import issue_coupon, opt_in
from wallet.auth.models import AuthSession, RefreshToken, SignInThrottle
from wallet.cli import purge_command
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import LastFix, LocationFix, Presence
from wallet.insights.models import FunnelCount, FunnelShopper
from wallet.push.models import DEAD, PENDING, SENT, PushDailyCount, PushDevice, PushOutbox
from wallet.privacy.retention import purge_expired

NOW = utcnow()
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def aged(app, make_brand, make_store, make_geofence, make_shopper):
    """Pairs of rows on either side of each retention limit; ``keep`` names what must stay."""
    brand = make_brand("Lumière")
    store = make_store(brand)
    fence, other_fence = make_geofence(store), make_geofence(store, name="Back door")
    offer = make_amount_offer(brand, [fence])
    shopper, other = make_shopper(), make_shopper()
    opt_in(shopper, brand)
    opt_in(other, brand)
    old_push_coupon, old_push = issue_coupon(shopper, fence)
    new_push_coupon, new_push = issue_coupon(other, fence)
    with transaction() as session:
        session.add_all([
            Presence(shopper_id=shopper.id, geofence_id=fence.id, inside=False, last_seen_at=NOW - 2 * DAY),
            Presence(shopper_id=shopper.id, geofence_id=other_fence.id, inside=True, last_seen_at=NOW - HOUR),
            LastFix(shopper_id=shopper.id, lat=48.85, lon=2.35, recorded_at=NOW - 2 * HOUR),
            LastFix(shopper_id=other.id, lat=48.85, lon=2.35, recorded_at=NOW - dt.timedelta(minutes=5)),
        ])
        fixes = [LocationFix(shopper_id=shopper.id, lat=48.85, lon=2.35, accuracy_m=5, recorded_at=NOW - age)
                 for age in (2 * HOUR, dt.timedelta(minutes=30))]
        session.add_all(fixes)
        for row, status, age in ((old_push, SENT, 31 * DAY), (new_push, DEAD, DAY)):
            pushed = session.get(PushOutbox, row.id)
            pushed.status, pushed.created_at = status, NOW - age
        pending = PushOutbox(shopper_id=shopper.id, kind="test", payload={}, collapse_key="k", ttl_seconds=60,
                             status=PENDING, created_at=NOW - 40 * DAY)
        session.add(pending)
        devices = [PushDevice(shopper_id=shopper.id, token=f"t-{uuid.uuid4().hex}", platform="ios", app_version="1",
                              locale="fr-FR", retired_at=NOW - age, retired_reason="removed")
                   for age in (31 * DAY, DAY)]
        session.add_all(devices)
        session.add_all([PushDailyCount(shopper_id=shopper.id, day=(NOW - 3 * DAY).date(), count=1),
                         PushDailyCount(shopper_id=shopper.id, day=NOW.date(), count=1)])
        sessions = [AuthSession(shopper_id=shopper.id, expires_at=NOW - HOUR),
                    AuthSession(shopper_id=shopper.id, expires_at=NOW + DAY, revoked_at=NOW - 2 * DAY),
                    AuthSession(shopper_id=shopper.id, expires_at=NOW + DAY, revoked_at=NOW - HOUR),
                    AuthSession(shopper_id=shopper.id, expires_at=NOW + DAY)]
        session.add_all(sessions)
        session.flush()
        live = sessions[3]
        tokens = [RefreshToken(session_id=live.id, token_hash=uuid.uuid4().hex, expires_at=NOW - HOUR),
                  RefreshToken(session_id=live.id, token_hash=uuid.uuid4().hex, expires_at=NOW + DAY,
                               used_at=NOW - HOUR)]
        session.add_all(tokens)
        session.add_all([SignInThrottle(key="wallet:shopper:old@example.com", failures=2,
                                        window_started_at=NOW - DAY),
                         SignInThrottle(key="wallet:shopper:locked@example.com", failures=5,
                                        window_started_at=NOW - DAY, locked_until=NOW + HOUR),
                         SignInThrottle(key="wallet:shopper:new@example.com", failures=1,
                                        window_started_at=NOW - dt.timedelta(minutes=1))])
        session.add_all([FunnelCount(offer_id=offer.id, store_id=store.id, day=(NOW - 400 * DAY).date(),
                                     metric="entries", value=7),
                         FunnelCount(offer_id=offer.id, store_id=store.id, day=(NOW - 10 * DAY).date(),
                                     metric="entries", value=3),
                         FunnelShopper(offer_id=offer.id, store_id=store.id, day=(NOW - 400 * DAY).date(),
                                       shopper_key="a" * 32)])
        keep = {"presence": other_fence.id, "fix": fixes[1].id, "push": new_push.id, "pending": pending.id,
                "device": devices[1].id, "sessions": {sessions[2].id, live.id}, "token": tokens[1].id,
                "gone_sessions": {sessions[0].id, sessions[1].id}, "gone_token": tokens[0].id,
                "offer": offer.id, "old_push_coupon": old_push_coupon.id, "new_push_coupon": new_push_coupon.id}
    return keep


def test_the_purge_removes_exactly_what_is_past_its_time(app, aged):
    config = {**app.config, "LOCATION_RETENTION": 3600}
    report = purge_expired(config, now=NOW)
    assert report.removed == {
        "presences": 1, "last_fixes": 1, "location_fixes": 1, "push_outbox": 1, "push_devices": 1,
        "push_daily_counts": 1, "auth_sessions": 2, "refresh_tokens": 1, "sign_in_throttles": 1,
        "funnel_history": 2,
    }
    db.session.expire_all()
    assert set(db.session.scalars(select(Presence.geofence_id))) == {aged["presence"]}
    assert _count(LastFix) == 1
    assert set(db.session.scalars(select(LocationFix.id))) == {aged["fix"]}
    assert set(db.session.scalars(select(PushOutbox.id))) == {aged["push"], aged["pending"]}
    assert set(db.session.scalars(select(PushDevice.id))) == {aged["device"]}
    sessions = set(db.session.scalars(select(AuthSession.id)))  # sign-up opened sessions too
    assert aged["sessions"] <= sessions and not aged["gone_sessions"] & sessions
    tokens = set(db.session.scalars(select(RefreshToken.id)))
    assert aged["token"] in tokens and aged["gone_token"] not in tokens
    assert _count(SignInThrottle) == 2
    # The deleted push's funnel figure was carried into the aggregates first.
    assert _count(FunnelCount, FunnelCount.metric == "push_sent") == 1
    assert _count(FunnelShopper) == 0

    again = purge_expired(config, now=NOW)
    assert set(again.removed.values()) == {0}


def test_the_cli_command_purges_and_prints_the_counts(app):
    result = app.test_cli_runner().invoke(purge_command)
    assert result.exit_code == 0, result.output
    assert "presences: 0" in result.output and "push_outbox: 0" in result.output
