"""The till's one-statement path (``wallet.pos.fast``) against the general one, on PostgreSQL: the
same answers, byte for byte but for identifiers and times, the same ledger; what the statement
does not do (a full stamp card, bonus points, a refusal) it leaves to the general path; and a POS
key's remembered principal lapses within its bound when the key is revoked elsewhere."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select, update

from tests.loyalty_support import (
    TEXTS,
    add_reward,
    add_tier,
    audit,
    enrol,
    issue,
    make_offer,
    member_token,
    purchase,
    redeem,
    scan,
    set_program,
)
from wallet.auth.models import PosApiKey, Role
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.loyalty.models import LoyaltyAccount, Purchase
from wallet.offers.models import Coupon, Offer
from wallet.passes import codes as pass_codes
from wallet.passes.models import Pass
from wallet.pos import fast
from wallet.push.models import PushOutbox
from wallet.push.wakeup import CHANNEL

pytestmark = pytest.mark.postgis

VARYING = {"purchase_id", "order_reference", "membership_id", "created_at", "redemption_id", "redeemed_at"}


@pytest.fixture
def brand(make_brand):
    brand = make_brand("Lumière")
    set_program(brand)
    return brand


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def ran(monkeypatch):
    """What the statement did for each purchase and redemption: "fast" (answered), "prior" (found
    the purchase already recorded: its answer is replayed if the request is the same, else the
    general path refuses it), "general" (nothing: the general path answers)."""
    seen: list[str] = []
    for name in ("record_purchase", "redeem"):
        original = getattr(fast, name)

        def spy(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            outcome = _original(*args, **kwargs)
            seen.append("fast" if isinstance(outcome, dict) else
                        "prior" if isinstance(outcome, fast.PriorPurchase) else "general")
            return outcome

        monkeypatch.setattr(fast, name, spy)
    return seen


def _general_only(monkeypatch):
    monkeypatch.setattr(fast, "available", lambda: False)


def _same(fast_body: dict[str, Any], general_body: dict[str, Any]) -> None:
    assert {k: v for k, v in fast_body.items() if k not in VARYING} == {
        k: v for k, v in general_body.items() if k not in VARYING}
    assert set(fast_body) == set(general_body)


def _member(make_shopper, brand):
    shopper = make_shopper(email=f"m-{uuid.uuid4().hex[:8]}@example.test")
    return shopper, enrol(shopper, brand)


@pytest.mark.parametrize("setup", ["plain", "tiers", "override", "stamp_card"])
def test_a_purchase_is_answered_alike_by_the_statement_and_the_general_path(
        client, brand, till, make_shopper, monkeypatch, ran, setup):
    if setup in ("tiers", "override"):
        silver, gold = add_tier(brand, "Silver", 50), add_tier(brand, "Gold", 5000)
    if setup == "stamp_card":
        set_program(brand, stamp_card={"size": 5, "min_amount_minor": 500, "reward_id": add_reward(brand, 900).id})
    members = [_member(make_shopper, brand)[1] for _ in range(2)]
    if setup == "override":
        with transaction() as session:
            for member in members:
                session.add(LoyaltyAccount(membership_id=member.id, brand_id=brand.id, balance=0, stamps=0,
                                           tier_override_id=gold.id, tier_override_until=None))
    answers = []
    for index, member in enumerate(members):
        token = member_token(client, till, member)
        first = purchase(client, till, token, 4_999)  # across Silver's threshold (50 points) when tiers exist
        assert first.status_code == 201, first.get_json()
        second = purchase(client, till, token, 7_250)
        assert second.status_code == 201, second.get_json()
        answers.append((first.get_json(), second.get_json()))
        if index == 0:
            _general_only(monkeypatch)  # the second member's purchases take the general path
    assert ran == ["fast", "fast"]
    for fast_body, general_body in zip(*answers):
        _same(fast_body, general_body)
    assert answers[0][1]["balance"] == 49 + 72
    if setup == "tiers":
        assert answers[0][0]["tier"] is None and answers[0][1]["tier"]["id"] == str(silver.id)
    if setup == "override":
        assert answers[0][0]["tier"]["name"] == "Gold"
    for member in members:
        result = audit(member.id)
        assert result.balance == result.ledger_sum == 121


def test_a_purchase_replayed_gets_its_stored_answer_from_the_statement(client, brand, till, make_shopper, ran):
    _, member = _member(make_shopper, brand)
    token = member_token(client, till, member)
    first = purchase(client, till, token, 1_250, order_reference="ORD-R1")
    again = purchase(client, till, token, 1_250, order_reference="ORD-R1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = purchase(client, till, token, 1_300, order_reference="ORD-R1")  # another purchase: general path's 409
    assert other.status_code == 409 and other.get_json()["reason"] == "order_reference_reused"
    assert ran == ["fast", "prior", "prior"]
    assert audit(member.id).balance == 12


def _stamp_card(brand, size=2, **reward_fields):
    reward = add_reward(brand, 900, **reward_fields)
    set_program(brand, stamp_card={"size": size, "min_amount_minor": 500, "reward_id": reward.id})
    return reward


def _reward_rows(shopper) -> dict[str, Any]:
    """What issuing a reward wrote for ``shopper``: its coupon, pass and push, read fresh."""
    db.session.expire_all()
    coupon = db.session.scalars(select(Coupon).where(Coupon.shopper_id == shopper.id)).one()
    pass_ = db.session.get(Pass, coupon.pass_id)
    push = db.session.scalars(select(PushOutbox).where(PushOutbox.coupon_id == coupon.id)).one()
    return {
        "coupon": {"offer_id": coupon.offer_id, "brand_id": coupon.brand_id, "trigger": coupon.trigger,
                   "status": coupon.status, "geofence_id": coupon.geofence_id, "store_id": coupon.store_id,
                   "lifetime": coupon.expires_at - coupon.issued_at},
        "pass": {"kind": pass_.kind, "brand_id": pass_.brand_id, "shopper_id": pass_.shopper_id == shopper.id,
                 "short_id": len(pass_.short_id), "secret": len(pass_.secret), "failed_attempts": pass_.failed_attempts,
                 "last_accepted_step": pass_.last_accepted_step, "locked_until": pass_.locked_until},
        "push": {"brand_id": push.brand_id, "kind": push.kind, "collapse_key": push.collapse_key,
                 "ttl_seconds": push.ttl_seconds, "status": push.status, "attempts": push.attempts,
                 "duplicate_suspected": push.duplicate_suspected,
                 "payload": {**push.payload, "data": {**push.payload["data"], "coupon_id": None, "deep_link": None,
                                                      "notification_id": None}},
                 "data": (push.payload["data"]["coupon_id"], push.payload["data"]["deep_link"],
                          push.payload["data"]["notification_id"])
                 == (str(coupon.id), f"wallet://coupons/{coupon.id}", str(push.id)),
                 "due": push.next_attempt_at <= utcnow()},
        "answer": {"id": str(coupon.id), "issued_at": coupon.issued_at.isoformat(),
                   "expires_at": coupon.expires_at.isoformat()},
    }


@pytest.mark.parametrize("push_locale", ["en-GB", "de-DE"])
def test_the_purchase_that_fills_the_stamp_card_is_answered_and_written_alike_by_the_statement_and_the_general_path(
        client, brand, till, make_shopper, monkeypatch, ran, push_locale):
    reward = _stamp_card(brand)
    answers, written = [], []
    for index in range(2):
        shopper = make_shopper(email=f"m-{uuid.uuid4().hex[:8]}@example.test", locale=push_locale)
        token = member_token(client, till, enrol(shopper, brand))
        assert purchase(client, till, token, 600).get_json()["stamps"] == 1
        if index == 1:
            _general_only(monkeypatch)
        full = purchase(client, till, token, 700)
        assert full.status_code == 201, full.get_json()
        answers.append(full.get_json())
        written.append(_reward_rows(shopper))
    assert ran == ["fast", "fast", "fast"]  # the first member's full card too
    (fast_body, general_body), (fast_rows, general_rows) = answers, written
    [fast_reward], [general_reward] = fast_body.pop("rewards_issued"), general_body.pop("rewards_issued")
    _same(fast_body, general_body)
    assert fast_body["stamps"] == 0 and fast_body["balance"] == 13
    for coupon, rows in ((fast_reward, fast_rows), (general_reward, general_rows)):
        assert {key: coupon[key] for key in ("id", "issued_at", "expires_at")} == rows.pop("answer")
    varying = ("id", "issued_at", "expires_at", "redemption_token")
    assert {k: v for k, v in fast_reward.items() if k not in varying} == {
        k: v for k, v in general_reward.items() if k not in varying}
    assert set(fast_reward) == set(general_reward)
    assert fast_reward["offer_id"] == str(reward.offer_id) and fast_reward["usable"] is True
    assert fast_rows == general_rows
    # The push speaks the shopper's language where the offer has it, else the offer's default.
    assert fast_rows["push"]["payload"]["title"] == TEXTS["en" if push_locale == "en-GB" else "fr"]["title"]
    db.session.expire_all()
    assert db.session.get(Offer, reward.offer_id).issued_count == 2
    # The token in the statement's answer redeems the coupon it names.
    redeemed = redeem(client, till, fast_reward["redemption_token"])
    assert redeemed.status_code == 201 and redeemed.get_json()["coupon"]["id"] == fast_reward["id"]


def test_the_reward_issued_by_the_statement_wakes_the_push_dispatchers(client, brand, till, make_shopper, ran):
    _stamp_card(brand)
    _, member = _member(make_shopper, brand)
    token = member_token(client, till, member)
    purchase(client, till, token, 600)
    with psycopg.connect(db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        assert purchase(client, till, token, 700).get_json()["rewards_issued"]
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert ran == ["fast", "fast"]
    assert [notify.channel for notify in heard] == [CHANNEL]


def test_a_replayed_card_filling_purchase_gets_its_stored_answer(client, brand, till, make_shopper, ran):
    _stamp_card(brand)
    shopper, member = _member(make_shopper, brand)
    token = member_token(client, till, member)
    purchase(client, till, token, 600)
    first = purchase(client, till, token, 700, order_reference="ORD-FULL")
    again = purchase(client, till, token, 700, order_reference="ORD-FULL")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and len(first.get_json()["rewards_issued"]) == 1
    assert ran == ["fast", "fast", "prior"]
    assert db.session.scalar(select(func.count(Coupon.id)).where(Coupon.shopper_id == shopper.id)) == 1
    result = audit(member.id)
    assert result.balance == result.ledger_sum == 13


def _stamps_of(member) -> int:
    db.session.expire_all()
    return db.session.scalar(select(LoyaltyAccount.stamps).where(LoyaltyAccount.membership_id == member.id))


@pytest.mark.parametrize("case", ["reward_offer_ended", "reward_offer_lifetime_zero", "one_stamp_card_first_purchase",
                                  "short_id_taken", "card_filled_meanwhile"])
def test_what_the_card_filling_statement_cannot_do_is_left_to_the_general_path(
        client, brand, till, make_shopper, monkeypatch, ran, case):
    """Each case still ends right (the general path's answer), and nothing is written twice."""
    reward = _stamp_card(brand, size=1 if case == "one_stamp_card_first_purchase" else 2)
    shopper, member = _member(make_shopper, brand)
    token = member_token(client, till, member)
    if case != "one_stamp_card_first_purchase":
        assert purchase(client, till, token, 600).get_json()["stamps"] == 1
        ran.clear()
    if case in ("reward_offer_ended", "reward_offer_lifetime_zero"):
        values = ({"valid_until": utcnow() - dt.timedelta(minutes=1)} if case == "reward_offer_ended"
                  else {"coupon_ttl_minutes": 0})
        with transaction():
            db.session.execute(update(Offer).where(Offer.id == reward.offer_id).values(**values))
    if case == "short_id_taken":
        # The statement draws the member card's short id; the general path then draws its own.
        drawn, draw = iter([db.session.get(Pass, member.pass_id).short_id]), pass_codes.generate_short_id
        monkeypatch.setattr(pass_codes, "generate_short_id", lambda *args: next(drawn, None) or draw(*args))
    if case == "card_filled_meanwhile":  # another till fills the card between the two statements
        execute = fast._execute

        def meanwhile(sql, parameters):
            if sql is fast.FILLING_PURCHASE_SQL:
                with db.engine.begin() as other:
                    other.execute(update(LoyaltyAccount).where(LoyaltyAccount.membership_id == member.id)
                                  .values(stamps=0))
            return execute(sql, parameters)

        monkeypatch.setattr(fast, "_execute", meanwhile)
    response = purchase(client, till, token, 700)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert ran == ["general"]
    coupons = db.session.scalar(select(func.count(Coupon.id)).where(Coupon.shopper_id == shopper.id))
    if case == "card_filled_meanwhile":  # this purchase only stamped the emptied card
        assert (body["stamps"], body["rewards_issued"], coupons, _stamps_of(member)) == (1, [], 0, 1)
    else:
        assert (body["stamps"], len(body["rewards_issued"]), coupons, _stamps_of(member)) == (0, 1, 1, 0)
    result = audit(member.id)
    assert result.balance == result.ledger_sum == (7 if case == "one_stamp_card_first_purchase" else 13)
    assert db.session.scalar(select(func.count(Purchase.id)).where(Purchase.membership_id == member.id)) == (
        1 if case == "one_stamp_card_first_purchase" else 2)


def test_refusals_are_left_to_the_general_path(client, brand, till, make_shopper, make_brand, ran):
    _, member = _member(make_shopper, brand)
    token = member_token(client, till, member)
    wrong = purchase(client, till, token, 1_000, currency="USD")
    assert wrong.status_code == 422 and wrong.get_json()["reason"] == "currency_mismatch"
    assert ran == ["general"]
    assert audit(member.id).entries == 0


def _coupon_with(brand, shopper, fence, **offer_fields):
    make_offer(brand, [fence] if fence is not None else None, **offer_fields)
    return issue(shopper, fence)[-1]


@pytest.mark.parametrize("kind", ["fenced", "all_stores", "mixed_case_locale", "whole_second", "reward"])
def test_a_redemption_is_answered_alike_by_the_statement_and_the_general_path(
        client, brand, store, till, make_shopper, make_geofence, monkeypatch, ran, kind):
    fence = make_geofence(store)
    answers = []
    for index in range(2):
        shopper, member = _member(make_shopper, brand)
        if kind == "reward":
            set_program(brand, stamp_card={"size": 1, "min_amount_minor": 1, "reward_id": add_reward(brand, 5).id})
            token = member_token(client, till, member)
            [reward] = purchase(client, till, token, 100).get_json()["rewards_issued"]  # the card fills at once
            coupon_token = reward["redemption_token"]
        else:
            fields: dict[str, Any] = {"reward_type": "amount_off", "reward_percent": None, "reward_amount_minor": 150,
                                      "reward_currency": "EUR"}
            if kind == "all_stores":
                fields["all_stores"] = True
            coupon = _coupon_with(brand, shopper, fence, **fields)
            if kind == "mixed_case_locale":  # texts found by language, whatever the case of their keys
                with transaction():
                    db.session.execute(update(Offer).where(Offer.id == coupon.offer_id).values(
                        content={"en-GB": {"title": "Tea", "description": "Any"},
                                 "FR-fr": {"title": "Thé", "description": "Au choix"}}, default_locale="fr"))
            if kind == "whole_second":
                with transaction():
                    db.session.execute(update(Coupon).where(Coupon.id == coupon.id).values(
                        issued_at=coupon.issued_at.replace(microsecond=0)))
            coupon_token = scan(client, till, coupon.pass_id)["coupon"]["redemption_token"]
        if index == 1:
            _general_only(monkeypatch)
        ran.clear()
        response = redeem(client, till, coupon_token)
        assert response.status_code == 201, response.get_json()
        answers.append(response.get_json())
        assert ran == (["fast"] if index == 0 else [])
    fast_body, general_body = answers
    _same({**fast_body, "coupon": None}, {**general_body, "coupon": None})
    for body in answers:  # the coupons differ in their ids and times, each as the database holds them
        coupon = db.session.get(Coupon, uuid.UUID(body["coupon"]["id"]), populate_existing=True)
        assert body["coupon"]["issued_at"] == coupon.issued_at.isoformat()
        assert body["coupon"]["expires_at"] == coupon.expires_at.isoformat()
    assert {k: v for k, v in fast_body["coupon"].items() if k not in ("id", "offer_id", "issued_at", "expires_at")} == {
        k: v for k, v in general_body["coupon"].items() if k not in ("id", "offer_id", "issued_at", "expires_at")}
    if kind == "mixed_case_locale":
        assert fast_body["coupon"]["title"] == "Thé"


def test_a_redemption_replayed_or_refused_is_left_to_the_general_path(client, brand, store, till, make_shopper,
                                                                       make_geofence, ran):
    fence = make_geofence(store)
    shopper, _ = _member(make_shopper, brand)
    coupon = _coupon_with(brand, shopper, fence)
    token = scan(client, till, coupon.pass_id)["coupon"]["redemption_token"]
    first = redeem(client, till, token, key="K-1")
    replay = redeem(client, till, token, key="K-1")
    second = redeem(client, till, token, key="K-2")
    assert first.status_code == replay.status_code == 201 and replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert second.status_code == 409 and second.get_json()["reason"] == "coupon_already_redeemed"
    assert ran == ["fast", "general", "general"]


def test_a_bonus_points_coupon_is_left_to_the_general_path(client, brand, store, till, make_shopper, make_geofence,
                                                           ran):
    fence = make_geofence(store)
    shopper, member = _member(make_shopper, brand)
    coupon = _coupon_with(brand, shopper, fence, reward_type="bonus_points", reward_percent=None, reward_points=40)
    token = scan(client, till, coupon.pass_id)["coupon"]["redemption_token"]
    response = redeem(client, till, token)
    assert response.status_code == 201 and response.get_json()["bonus_points"] == 40
    assert ran == ["general"]
    result = audit(member.id)
    assert result.balance == result.ledger_sum == 40


# --- the POS key's remembered principal ------------------------------------------------------------


def test_a_key_revoked_by_another_process_stops_working_within_the_cache_bound(client, app, store, monkeypatch,
                                                                                make_pos_key):
    monkeypatch.setitem(app.config, "POS_KEY_CACHE_SECONDS", 0.5)
    key = make_pos_key(store)
    headers = {"X-API-Key": key}
    assert client.get("/v1/pos/context", headers=headers).status_code == 200
    # Another process revokes it: a plain UPDATE, no ORM event reaches this one.
    with db.engine.begin() as connection:
        connection.execute(update(PosApiKey).where(PosApiKey.store_id == store.id).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert client.get("/v1/pos/context", headers=headers).status_code == 200  # remembered, within the bound
    time.sleep(0.6)
    refused = client.get("/v1/pos/context", headers=headers)
    assert refused.status_code == 401 and refused.get_json()["reason"] == "invalid_api_key"


def test_without_a_cache_bound_a_revoked_key_stops_at_once(client, app, store, monkeypatch, make_pos_key):
    monkeypatch.setitem(app.config, "POS_KEY_CACHE_SECONDS", 0)
    key = make_pos_key(store)
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 200
    with db.engine.begin() as connection:
        connection.execute(update(PosApiKey).where(PosApiKey.store_id == store.id).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 401


def test_deleting_the_keys_store_stops_the_key_at_once_in_this_process(client, brand, store, make_pos_key, make_staff,
                                                                       login):
    key = make_pos_key(store)
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 200
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    assert client.delete(f"/v1/brands/{brand.id}/stores/{store.id}", headers=admin).status_code in (200, 204)
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 401


def test_looking_a_key_up_never_rolls_back_so_the_prepared_statements_survive(client, app, store, make_pos_key,
                                                                              monkeypatch):
    """psycopg deallocates every statement it prepared on a connection when that connection rolls
    back: a lookup every few seconds per key and process would make the till's hot statements be
    planned again and again. The lookup commits, also when it only read or refused the key."""
    monkeypatch.setitem(app.config, "POS_KEY_CACHE_SECONDS", 0)
    key = make_pos_key(store)
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 200  # records last_used_at
    rollbacks: list[Any] = []

    def count(connection: Any) -> None:
        rollbacks.append(connection)

    event.listen(db.engine, "rollback", count)
    try:
        for _ in range(3):  # read only: last_used_at is recent
            assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v1/pos/context", headers={"X-API-Key": "wk_nothere_" + "x" * 43}).status_code == 401
    finally:
        event.remove(db.engine, "rollback", count)
    assert rollbacks == []


def test_an_unknown_key_is_refused_every_time(client):
    for _ in range(2):
        response = client.get("/v1/pos/context", headers={"X-API-Key": "wk_nothere_" + "x" * 43})
        assert response.status_code == 401 and response.get_json()["reason"] == "invalid_api_key"


def test_the_last_use_of_a_key_is_recorded(client, store, make_pos_key):
    key = make_pos_key(store)
    assert client.get("/v1/pos/context", headers={"X-API-Key": key}).status_code == 200
    assert db.session.scalar(select(PosApiKey.last_used_at).where(PosApiKey.store_id == store.id)) is not None
