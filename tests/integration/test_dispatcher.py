"""The dispatcher with the real firebase-admin client against the fake FCM on loopback: what a push
looks like on the wire, every failure mode (dead tokens, 429, 5xx, timeouts, dead letters),
restraint, parallel dispatchers, dead dispatchers and the LISTEN/NOTIFY wake-up."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.fakes.fcm_server import (
    INVALID_MESSAGE,
    INVALID_TOKEN,
    OK,
    SENDER_ID_MISMATCH,
    THIRD_PARTY_AUTH_ERROR,
    UNREGISTERED,
    Reply,
)
from tests.push_support import (  # noqa: F401  (fixtures)
    add_device,
    clock,
    fake_fcm,
    fcm,
    issue_coupon,
    make_dispatcher,
    make_offer,
    opt_in,
    reload,
)
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.offers.models import REDEEMED, Coupon
from wallet.push import restraint
from wallet.push.dispatcher import Dispatcher, Totals
from wallet.push.models import DEAD, PENDING, SENDING, SENT, SUPPRESSED, PushDailyCount, PushDevice, PushOutbox


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def fence(make_store, make_geofence, brand):
    return make_geofence(make_store(brand, "Châtelet"))


@pytest.fixture
def offer(brand):
    return make_offer(brand, coupon_ttl_minutes=10)


@pytest.fixture
def shopper(make_shopper, brand):
    shopper = make_shopper(consents={"location": True, "marketing": True})
    opt_in(shopper, brand)
    return shopper


@pytest.fixture
def device(shopper):
    return add_device(shopper, token="android-token-1")


def test_a_coupon_push_reaches_fcm_with_its_token_ttl_collapse_key_and_data(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher
):
    coupon, row = issue_coupon(shopper, fence)
    totals = make_dispatcher(fcm).drain()
    assert totals.sent == 1
    [request] = fake_fcm.received
    message = request.message
    assert message["token"] == "android-token-1"
    assert message["notification"] == {"title": "Un croissant offert", "body": "Avec votre café, ce matin"}
    assert message["data"] == {"coupon_id": str(coupon.id), "offer_id": str(offer.id),
                               "deep_link": f"wallet://coupons/{coupon.id}", "notification_id": str(row.id)}
    android = message["android"]
    ttl = int(android["ttl"].removesuffix("s"))
    assert 595 <= ttl <= 600  # the coupon's 10 minutes, not FCM's four weeks
    assert android["collapse_key"] == f"offer-{offer.id}" and android["priority"] == "high"
    assert android["notification"] == {"channel_id": "coupons", "tag": f"offer-{offer.id}"}
    headers = message["apns"]["headers"]
    assert headers["apns-collapse-id"] == f"offer-{offer.id}" and headers["apns-priority"] == "10"
    assert abs(int(headers["apns-expiration"]) - (time.time() + ttl)) <= 5
    row = reload(row)
    assert row.status == SENT and row.message_id.startswith("projects/wallet-test/messages/")
    assert row.attempts == 1 and row.sent_at is not None and row.lease_id is None
    assert row.cap_day == restraint.local_day(utcnow(), "Europe/Paris")


def test_every_active_device_of_the_shopper_gets_the_push_an_installation_id_as_fid(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher
):
    add_device(shopper, token="cVrhJ8e1SdKyV4eJ7rVGr4", platform="ios", token_kind="fid")
    issue_coupon(shopper, fence)
    make_dispatcher(fcm).drain()
    targets = sorted((r.message.get("token", "-"), r.message.get("fid", "-")) for r in fake_fcm.received)
    assert targets == [("-", "cVrhJ8e1SdKyV4eJ7rVGr4"), ("android-token-1", "-")]


def test_one_access_token_serves_a_whole_batch(fence, offer, shopper, fake_fcm, fcm, make_dispatcher):
    for i in range(5):
        add_device(shopper, token=f"phone-{i}")
    issue_coupon(shopper, fence)
    make_dispatcher(fcm).drain()
    assert len(fake_fcm.received) == 5 and fake_fcm.token_requests == 1


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [(UNREGISTERED, "unregistered"), (SENDER_ID_MISMATCH, "sender_id_mismatch"), (INVALID_TOKEN, "invalid_token")],
)
def test_a_dead_token_retires_its_device_and_dead_letters_a_push_with_no_device_left(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, reply, reason
):
    fake_fcm.script("android-token-1", reply)
    _, row = issue_coupon(shopper, fence)
    totals = make_dispatcher(fcm).drain()
    assert totals.devices_retired == 1 and totals.dead == {reason: 1}
    retired = reload(device)
    assert retired.retired_at is not None and retired.retired_reason == reason
    row = reload(row)
    assert row.status == DEAD and row.reason == reason and row.last_error
    assert len(fake_fcm.received) == 1  # never retried


def test_a_dead_token_among_live_ones_retires_only_its_device(fence, offer, shopper, device, fake_fcm, fcm,
                                                              make_dispatcher):
    stale = add_device(shopper, token="old-install")
    fake_fcm.script("old-install", UNREGISTERED)
    _, row = issue_coupon(shopper, fence)
    make_dispatcher(fcm).drain()
    assert reload(row).status == SENT
    assert reload(stale).retired_reason == "unregistered" and reload(device).retired_at is None
    # The next push goes to the live device only.
    issue_coupon(shopper, fence)
    make_dispatcher(fcm).drain()
    assert [r.token for r in fake_fcm.received].count("old-install") == 1


def test_a_429_is_retried_no_sooner_than_its_retry_after_and_then_sent(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, clock
):
    fake_fcm.script("android-token-1", Reply.quota_exceeded(retry_after="40"), OK)
    _, row = issue_coupon(shopper, fence)
    dispatcher = make_dispatcher(fcm)
    before = clock()
    assert dispatcher.drain().retried == 1
    row = reload(row)
    assert row.status == PENDING and row.attempts == 1 and "quota_exceeded" in row.last_error
    assert row.next_attempt_at >= before + dt.timedelta(seconds=40)
    assert len(fake_fcm.received) == 1  # the SDK's own adapter would have slept and retried in place
    clock.advance(20)
    assert dispatcher.drain().claimed == 0  # not due yet
    clock.advance(21)
    assert dispatcher.drain().sent == 1
    assert reload(row).status == SENT and len(fake_fcm.received) == 2


@pytest.mark.parametrize(("reply", "reason"), [(Reply.unavailable(), "unavailable"), (Reply.internal(), "internal"),
                                               (Reply(502, message="Bad Gateway"), "unknown")])
def test_server_errors_back_off_exponentially_with_jitter(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, clock, reply, reason
):
    fake_fcm.script("android-token-1", reply)
    _, row = issue_coupon(shopper, fence)
    dispatcher = make_dispatcher(fcm, backoff_base=4.0, max_attempts=5)
    delays = []
    for attempt in (1, 2, 3):
        started = clock()
        assert dispatcher.drain().retried == 1
        row = reload(row)
        assert row.status == PENDING and row.attempts == attempt and reason in row.last_error
        delays.append((row.next_attempt_at - started).total_seconds())
        clock.advance(delays[-1] + 0.01)
    # 4 s, 8 s, 16 s steps, each jittered between half and the whole step.
    for delay, step in zip(delays, (4, 8, 16), strict=True):
        assert step / 2 - 0.5 <= delay <= step + 0.5
    assert len(fake_fcm.received) == 3  # one request per attempt: no retries hidden in the HTTP client


def test_an_apns_credential_problem_is_retried(fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher):
    fake_fcm.script("android-token-1", THIRD_PARTY_AUTH_ERROR)
    _, row = issue_coupon(shopper, fence)
    assert make_dispatcher(fcm).drain().retried == 1
    row = reload(row)
    assert row.status == PENDING and row.last_error.startswith("third_party_auth")
    assert reload(device).retired_at is None  # our APNs key is at fault, not the phone


def test_a_timeout_is_retried_and_reported_as_such(fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher):
    fake_fcm.script("android-token-1", Reply.slow(1.6), OK)  # the provider waits 1 s at most
    _, row = issue_coupon(shopper, fence)
    started = time.monotonic()
    assert make_dispatcher(fcm).drain().retried == 1
    assert time.monotonic() - started < 1.5  # one attempt, not the SDK's read retry on top
    row = reload(row)
    assert row.status == PENDING and row.last_error.startswith("timeout")


def test_after_the_last_attempt_the_push_is_dead_lettered_with_its_reason(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, clock
):
    fake_fcm.script("android-token-1", Reply.unavailable())
    _, row = issue_coupon(shopper, fence)
    dispatcher = make_dispatcher(fcm, max_attempts=3, backoff_base=1.0)
    for _ in range(5):
        dispatcher.drain()
        clock.advance(5)
    row = reload(row)
    assert row.status == DEAD and row.reason == "unavailable" and row.attempts == 3
    assert len(fake_fcm.received) == 3
    assert reload(device).retired_at is None  # the token is not to blame


def test_a_retry_after_beyond_the_coupons_relevance_dead_letters_at_once(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher
):
    fake_fcm.script("android-token-1", Reply.quota_exceeded(retry_after="3600"))  # the push is worth 10 minutes
    _, row = issue_coupon(shopper, fence)
    assert make_dispatcher(fcm).drain().dead == {"quota_exceeded": 1}
    row = reload(row)
    assert row.status == DEAD and "window closes" in row.last_error


def test_a_message_fcm_refuses_as_malformed_is_dead_lettered_without_retry(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher
):
    fake_fcm.script("android-token-1", INVALID_MESSAGE)
    _, row = issue_coupon(shopper, fence)
    make_dispatcher(fcm).drain()
    row = reload(row)
    assert row.status == DEAD and row.reason == "invalid_argument" and reload(device).retired_at is None


def test_without_an_access_token_nothing_is_sent_and_the_batch_is_retried(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher
):
    fake_fcm.refuse_access_tokens()
    _, row = issue_coupon(shopper, fence)
    assert make_dispatcher(fcm).drain().retried == 1
    row = reload(row)
    assert row.status == PENDING and row.last_error.startswith("provider_error") and fake_fcm.received == []


# --- restraint --------------------------------------------------------------------------------


def test_the_daily_cap_counts_pushes_across_brands(make_brand, make_store, make_geofence, fence, offer, shopper,
                                                   device, fake_fcm, fcm, make_dispatcher):
    other = make_brand("Maison Verte")
    other_fence = make_geofence(make_store(other, "Marais"))
    make_offer(other)
    opt_in(shopper, other)
    rows = [issue_coupon(shopper, fence)[1], issue_coupon(shopper, other_fence)[1],
            issue_coupon(shopper, fence)[1], issue_coupon(shopper, other_fence)[1]]
    totals = make_dispatcher(fcm, daily_cap=3).drain()
    assert totals.sent == 3 and totals.suppressed == {"daily_cap": 1}
    statuses = [reload(row).status for row in rows]
    assert statuses == [SENT, SENT, SENT, SUPPRESSED]  # the oldest pushes go first
    assert reload(rows[3]).reason == "daily_cap"
    assert db.session.scalar(select(PushDailyCount.count)) == 3
    # The coupon itself stays in the wallet.
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 4


def test_quiet_hours_follow_the_shoppers_own_time_zone(fence, offer, shopper, device, make_shopper, brand, fake_fcm,
                                                       fcm, make_dispatcher):
    tokyo = make_shopper(consents={"location": True, "marketing": True}, time_zone="Asia/Tokyo")
    opt_in(tokyo, brand)
    add_device(tokyo, token="tokyo-phone")
    # Two hours around Tokyo's present local time: night there, whatever the hour in Paris.
    local = utcnow().astimezone(restraint.zone_of("Asia/Tokyo"))
    start, end = (local - dt.timedelta(hours=1)).strftime("%H:%M"), (local + dt.timedelta(hours=1)).strftime("%H:%M")
    _, tokyo_row = issue_coupon(tokyo, fence)
    _, paris_row = issue_coupon(shopper, fence)
    totals = make_dispatcher(fcm, quiet_hours=restraint.QuietHours.parse(f"{start}-{end}")).drain()
    assert totals.suppressed == {"quiet_hours": 1} and totals.sent == 1
    assert (reload(tokyo_row).status, reload(tokyo_row).reason) == (SUPPRESSED, "quiet_hours")
    assert reload(paris_row).status == SENT and [r.token for r in fake_fcm.received] == ["android-token-1"]
    assert db.session.scalar(select(func.count()).select_from(PushDailyCount)) == 1  # no slot spent on silence


def _opt_out(shopper, brand, coupon):
    opt_in(shopper, brand, opted_in=False)


def _withdraw_marketing(shopper, brand, coupon):
    with transaction() as session:
        session.get(type(shopper), shopper.id).consent_marketing = False


def _remove_devices(shopper, brand, coupon):
    with transaction() as session:
        for device in session.scalars(select(PushDevice).where(PushDevice.shopper_id == shopper.id)):
            device.retired_at, device.retired_reason = utcnow(), "removed"


def _expire(shopper, brand, coupon):
    with transaction() as session:
        session.get(Coupon, coupon.id).expires_at = utcnow() - dt.timedelta(seconds=1)


def _redeem(shopper, brand, coupon):
    with transaction() as session:
        session.get(Coupon, coupon.id).status = REDEEMED


@pytest.mark.parametrize(
    ("change", "reason"),
    [(_opt_out, "brand_opt_out"), (_withdraw_marketing, "no_marketing_consent"), (_remove_devices, "no_device"),
     (_expire, "expired"), (_redeem, "coupon_inactive")],
    ids=["opt-out", "marketing-consent", "no-device", "expired", "redeemed"],
)
def test_what_changed_since_the_coupon_was_issued_suppresses_its_push(
    fence, offer, shopper, brand, device, fake_fcm, fcm, make_dispatcher, change, reason
):
    coupon, row = issue_coupon(shopper, fence)
    change(shopper, brand, coupon)
    assert make_dispatcher(fcm).drain().suppressed == {reason: 1}
    row = reload(row)
    assert row.status == SUPPRESSED and row.reason == reason and fake_fcm.received == []
    assert db.session.get(Coupon, coupon.id) is not None


def test_a_push_whose_relevance_ran_out_in_the_outbox_is_not_sent(fence, offer, shopper, device, fake_fcm, fcm,
                                                                  make_dispatcher, clock):
    _, row = issue_coupon(shopper, fence)
    clock.advance(601)  # the dispatcher was down for ten minutes
    assert make_dispatcher(fcm).drain().suppressed == {"expired": 1}


# --- concurrency and crashes --------------------------------------------------------------------


def _outbox_rows(shoppers, per_shopper: int) -> list[uuid.UUID]:
    """Pushes without coupons (the dispatcher does not need one), so that many are quick to make."""
    ids = []
    with transaction() as session:
        for shopper in shoppers:
            for _ in range(per_shopper):
                row = PushOutbox(id=uuid.uuid4(), shopper_id=shopper.id, kind="coupon", collapse_key="offer-race",
                                 ttl_seconds=600, payload={"title": "T", "body": "B", "data": {}})
                session.add(row)
                ids.append(row.id)
    return ids


def test_parallel_dispatchers_never_send_a_push_twice(app, make_shopper, fake_fcm, fcm, make_dispatcher):
    shoppers = [make_shopper(consents={"marketing": True}) for _ in range(10)]
    for shopper in shoppers:
        add_device(shopper)
    ids = _outbox_rows(shoppers, per_shopper=15)
    barrier = threading.Barrier(4)
    totals = []

    def run() -> None:
        with app.app_context():
            dispatcher = make_dispatcher(fcm, batch_size=7, daily_cap=100)
            barrier.wait()
            totals.append(dispatcher.drain())
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = Counter(r.notification_id for r in fake_fcm.received)
    assert sorted(sent) == sorted(str(i) for i in ids) and set(sent.values()) == {1}
    assert sum(t.sent for t in totals) == 150 and sum(t.duplicate_suspected for t in totals) == 0
    assert len([t for t in totals if t.claimed]) > 1  # they really shared the work
    assert db.session.scalar(select(func.count()).select_from(PushOutbox).where(PushOutbox.status == SENT)) == 150


def test_the_claim_skips_rows_another_dispatcher_holds(app, make_shopper, fcm, make_dispatcher):
    shopper = make_shopper(consents={"marketing": True})
    add_device(shopper)
    _outbox_rows([shopper], per_shopper=4)
    engine = db.engine
    with engine.connect() as holder:  # another dispatcher, mid-claim: two rows locked
        held = holder.execute(select(PushOutbox.id).order_by(PushOutbox.next_attempt_at).limit(2)
                              .with_for_update(skip_locked=True)).scalars().all()
        totals = make_dispatcher(fcm, daily_cap=100).dispatch_once()
        assert totals.claimed == 2
        assert {reload(db.session.get(PushOutbox, i)).status for i in held} == {PENDING}
        holder.rollback()


class _Killed(BaseException):
    """The process dies (SIGKILL) while the provider is sending."""


class _DiesMidSend:
    name = "dies"

    def send(self, messages):
        raise _Killed

    def close(self) -> None:
        pass


def _die_mid_send(dispatcher_factory, **settings) -> None:
    with pytest.raises(_Killed):
        dispatcher_factory(_DiesMidSend(), **settings).drain()
    db.session.rollback()


def test_a_push_held_by_a_dead_dispatcher_is_sent_again_once_its_lease_expires(
    fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, clock
):
    _, row = issue_coupon(shopper, fence)
    _die_mid_send(make_dispatcher, lease_seconds=30)
    assert reload(row).status == SENDING
    heir = make_dispatcher(fcm, lease_seconds=30)
    assert heir.drain().claimed == 0  # the lease still holds
    clock.advance(31)
    totals = heir.drain()
    assert totals.sent == 1 and totals.duplicate_suspected == 1
    row = reload(row)
    assert row.status == SENT and row.duplicate_suspected and row.attempts == 2
    assert db.session.scalar(select(PushDailyCount.count)) == 1  # the slot was taken once


def test_a_push_whose_dispatchers_keep_dying_is_dead_lettered(fence, offer, shopper, device, fcm, make_dispatcher,
                                                              clock):
    _, row = issue_coupon(shopper, fence)
    for _ in range(2):
        _die_mid_send(make_dispatcher, lease_seconds=10, max_attempts=2)
        clock.advance(11)
    assert make_dispatcher(fcm, lease_seconds=10, max_attempts=2).drain().dead == {"lease_expired": 1}
    row = reload(row)
    assert row.status == DEAD and row.reason == "lease_expired" and row.attempts == 3


def test_an_outcome_is_not_recorded_over_a_lease_taken_over_meanwhile(
    app, fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher, clock
):
    _, row = issue_coupon(shopper, fence)
    slow = make_dispatcher(fcm, lease_seconds=5)
    fast = make_dispatcher(fcm, lease_seconds=5)

    def take_over(received) -> None:
        if len(fake_fcm.received) == 1:  # the slow dispatcher's send outlives its lease...
            clock.advance(6)
            with app.app_context():  # ...and another dispatcher takes the row over and sends it
                fast.drain()
                db.session.remove()

    fake_fcm.on_receive(take_over)
    totals = slow.drain()
    assert totals.lease_lost == 1
    assert len(fake_fcm.received) == 2
    row = reload(row)
    assert row.status == SENT and row.duplicate_suspected


def test_a_new_row_wakes_a_listening_dispatcher_at_once(app, fence, offer, shopper, device, fake_fcm, fcm,
                                                        make_dispatcher):
    dispatcher = make_dispatcher(fcm, listen_seconds=60, poll_seconds=60)  # only NOTIFY can wake it in time
    stop, first_look_done = threading.Event(), threading.Event()
    drain = dispatcher.drain

    def drain_and_tell(**kwargs):
        totals = drain(**kwargs)
        first_look_done.set()
        return totals

    dispatcher.drain = drain_and_tell

    def run() -> None:
        with app.app_context():
            dispatcher.run(stop)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert first_look_done.wait(5)  # LISTENing, the empty outbox seen: it goes to sleep for a minute
        issued = time.monotonic()
        issue_coupon(shopper, fence)
        fake_fcm.wait_for(lambda received: len(received) == 1, timeout=5)
        assert time.monotonic() - issued < 2
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_rolled_back_coupon_leaves_no_push_behind(fence, offer, shopper, device, fake_fcm, fcm, make_dispatcher):
    from wallet.offers import services as offers

    now = utcnow()
    with pytest.raises(RuntimeError):
        with transaction():
            offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger="enter",
                                 visit_started_at=now, at=now)
            raise RuntimeError("the location request failed after issuing")
    assert make_dispatcher(fcm).drain().claimed == 0 and fake_fcm.received == []


def test_dispatch_keeps_going_when_a_round_fails(app, make_dispatcher, monkeypatch):
    dispatcher: Dispatcher = make_dispatcher(poll_seconds=0.05)
    stop = threading.Event()
    calls = []

    def failing_drain(stop=None):
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        raise RuntimeError("database went away")

    monkeypatch.setattr(dispatcher, "drain", failing_drain)
    monkeypatch.setattr("wallet.push.dispatcher.Waiter.wait", lambda self, at_most=None: None)
    dispatcher.run(stop)
    assert len(calls) == 3
