"""Checkout at the till: the scan tells points, tier and what is usable here; purchases earn points
once per order reference; refunds take them back in proportion; coupons and rewards are redeemed
exactly once under an idempotency key; other brands and other stores are refused."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from tests.loyalty_support import (
    add_reward,
    audit,
    enrol,
    issue,
    make_offer,
    member_token,
    purchase,
    redeem,
    refund,
    scan,
    set_program,
)
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER, Principal
from wallet.loyalty import services as loyalty
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.loyalty.models import BONUS, EARN, REFUND, LedgerEntry, Purchase
from wallet.offers.models import ISSUED, REDEEMED, Coupon
from wallet.pos import tokens
from wallet.pos.models import Redemption
from wallet.privacy.models import BrandConsent


@pytest.fixture
def brand(make_brand):
    brand = make_brand("Lumière")
    set_program(brand)
    return brand


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def other_store(make_store, brand):
    return make_store(brand, "Marais", lat=48.8590, lon=2.3620)


@pytest.fixture
def till(make_staff, brand, store, login):
    return login(make_staff(Role.CASHIER, brand, [store]))


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(display_name="Camille Martin", locale="fr-FR")


@pytest.fixture
def member(shopper, brand):
    return enrol(shopper, brand)


@pytest.fixture
def fence(make_geofence, store):
    return make_geofence(store)


@pytest.fixture
def other_fence(make_geofence, other_store):
    return make_geofence(other_store)


@pytest.fixture
def rival(make_brand, make_store, make_staff, login):
    """Another brand with its own program, store and cashier."""
    rival = make_brand("Maison Verte")
    set_program(rival)
    rival_store = make_store(rival, "Bastille")
    return rival, rival_store, login(make_staff(Role.CASHIER, rival, [rival_store]))


def _token(client, till, member, **extra):
    return member_token(client, till, member, **extra)


# --- the scan -------------------------------------------------------------------------------------


def test_scanning_a_member_card_tells_points_tier_and_what_is_usable_at_this_store(
        client, till, brand, store, member, shopper, fence, other_fence):
    from tests.loyalty_support import add_tier

    add_tier(brand, "Silver", 10)
    here = make_offer(brand, [fence])
    elsewhere = make_offer(brand, [other_fence], reward_percent=20)
    everywhere = make_offer(brand, reward_type="free_item", reward_percent=None, reward_item="Croissant")
    issue(shopper, fence)
    issue(shopper, other_fence)
    assert purchase(client, till, _token(client, till, member), 2599).status_code == 201
    add_reward(brand, 20)

    body = scan(client, till, member.pass_id)
    assert body["kind"] == "member_card" and body["member"]["display_name"] == "Camille Martin"
    assert body["loyalty"]["balance"] == 25 and body["loyalty"]["tier"]["name"] == "Silver"
    assert body["loyalty"]["tier_source"] == "computed" and body["loyalty"]["qualifying_points"] == 25
    offer_ids = sorted(coupon["offer_id"] for coupon in body["coupons"])
    # The all-stores offer issued at both fences; the Marais-only coupon is not usable here.
    assert offer_ids == sorted([str(here.id), str(everywhere.id), str(everywhere.id)])
    assert str(elsewhere.id) not in offer_ids
    assert all(coupon["usable"] and coupon["redemption_token"] for coupon in body["coupons"])
    assert body["rewards"] == [] and [r["points_cost"] for r in body["affordable_rewards"]] == [20]
    assert body["member_token"] and dt.datetime.fromisoformat(body["token_expires_at"]) > utcnow()


def test_scanning_a_coupon_limited_to_another_store_says_so_and_gives_no_token(
        client, till, brand, shopper, member, other_fence):
    make_offer(brand, [other_fence])
    [coupon] = issue(shopper, other_fence)
    body = scan(client, till, coupon.pass_id)
    assert body["kind"] == "coupon"
    assert body["coupon"]["usable"] is False and body["coupon"]["why_not"] == "other_store"
    assert "redemption_token" not in body["coupon"]


def test_a_member_of_a_brand_without_program_is_scanned_without_loyalty(client, make_brand, make_store, make_staff,
                                                                         login, shopper):
    plain = make_brand("Sans programme")
    plain_till = login(make_staff(Role.CASHIER, plain, [make_store(plain)]))
    membership = enrol(shopper, plain)
    body = scan(client, plain_till, membership.pass_id)
    assert body["loyalty"] is None and body["affordable_rewards"] == []
    response = purchase(client, plain_till, body["member_token"], 1000)
    assert response.status_code == 409 and response.get_json()["reason"] == "no_program"


# --- purchases ----------------------------------------------------------------------------------


def test_a_purchase_earns_points_rounded_down_once_per_order_reference(client, till, member, store):
    token = _token(client, till, member)
    first = purchase(client, till, token, 1299, "ORD-42")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["points_earned"] == 12 and body["balance"] == 12  # floor(1299 × 1 / 100)
    assert body["order_reference"] == "ORD-42" and body["store_id"] == str(store.id)
    assert "Idempotent-Replayed" not in first.headers

    replay = purchase(client, till, token, 1299, "ORD-42")
    assert replay.status_code == 201 and replay.get_json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.membership_id == member.id)).all()
    assert [(e.kind, e.points, e.order_reference) for e in entries] == [(EARN, 12, "ORD-42")]
    assert audit(member.id).balance == 12


@pytest.mark.parametrize("change", [{"amount_minor": 1300}, {"currency": "USD"}], ids=["amount", "currency"])
def test_the_same_order_reference_for_another_purchase_is_a_conflict(client, till, member, change):
    token = _token(client, till, member)
    assert purchase(client, till, token, 1299, "ORD-7").status_code == 201
    body = {"member_token": token, "amount_minor": 1299, "currency": "EUR", "order_reference": "ORD-7", **change}
    response = client.post("/v1/pos/purchases", json=body, headers=till)
    if change.get("currency") == "USD":
        assert response.status_code == 422 and response.get_json()["reason"] == "currency_mismatch"
    else:
        assert response.status_code == 409 and response.get_json()["reason"] == "order_reference_reused"
    assert audit(member.id).balance == 12


def test_the_same_order_reference_for_another_member_is_a_conflict(client, till, member, brand, make_shopper):
    assert purchase(client, till, _token(client, till, member), 1000, "ORD-9").status_code == 201
    someone_else = enrol(make_shopper(), brand)
    response = purchase(client, till, _token(client, till, someone_else), 1000, "ORD-9")
    assert response.status_code == 409 and response.get_json()["reason"] == "order_reference_reused"
    assert audit(someone_else.id).entries == 0


def test_order_references_are_per_brand(client, till, member, rival, make_shopper):
    rival_brand, _, rival_till = rival
    assert purchase(client, till, _token(client, till, member), 1000, "ORD-1").status_code == 201
    other_member = enrol(make_shopper(), rival_brand)
    response = purchase(client, rival_till, _token(client, rival_till, other_member), 500, "ORD-1")
    assert response.status_code == 201 and response.get_json()["points_earned"] == 5


def test_earning_follows_the_programs_rate_and_rounding(client, till, brand, member):
    set_program(brand, points_per_unit=3, unit_minor=200)  # 3 points per 2 euros
    response = purchase(client, till, _token(client, till, member), 1999)
    assert response.get_json()["points_earned"] == 29  # floor(1999 × 3 / 200) = floor(29.985)
    tiny = purchase(client, till, _token(client, till, member), 66)
    assert tiny.status_code == 201 and tiny.get_json()["points_earned"] == 0
    assert audit(member.id).entries == 1  # no zero entry


@pytest.mark.parametrize("body, field", [
    ({"amount_minor": 0}, "amount_minor"),
    ({"amount_minor": -5}, "amount_minor"),
    ({"amount_minor": 12.5}, "amount_minor"),
    ({"currency": "EURO"}, "currency"),
    ({"order_reference": ""}, "order_reference"),
    ({"order_reference": "x" * 65}, "order_reference"),
    ({"order_reference": "has space"}, "order_reference"),
    ({"member_token": ""}, "member_token"),
    ({"extra": 1}, "extra"),
])
def test_malformed_purchases_are_refused_field_by_field(client, till, member, body, field):
    full = {"member_token": _token(client, till, member), "amount_minor": 1000, "currency": "EUR",
            "order_reference": "ORD-1", **body}
    response = client.post("/v1/pos/purchases", json=full, headers=till)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert audit(member.id).entries == 0


def test_tokens_are_checked_for_genuineness_age_brand_and_store(client, till, brand, store, other_store, member,
                                                               make_staff, login, rival, monkeypatch):
    token = _token(client, till, member)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = purchase(client, till, forged, 1000)
    assert response.status_code == 422 and response.get_json()["reason"] == "token_invalid"
    # A cashier of both stores: the token names the store where the card was scanned.
    both = login(make_staff(Role.CASHIER, brand, [store, other_store]))
    response = purchase(client, both, token, 1000, store_id=str(other_store.id))
    assert response.status_code == 422 and response.get_json()["reason"] == "token_other_store"
    # Another brand's till cannot use it, even knowing it.
    _, _, rival_till = rival
    response = purchase(client, rival_till, token, 1000)
    assert response.status_code == 422 and response.get_json()["reason"] == "token_invalid"
    monkeypatch.setattr(tokens, "TOKEN_TTL", -1)
    response = purchase(client, till, token, 1000)
    assert response.status_code == 422 and response.get_json()["reason"] == "token_expired"
    assert audit(member.id).entries == 0


def test_a_cashier_acts_only_for_their_own_stores(client, brand, store, other_store, member, make_staff, login):
    cashier = login(make_staff(Role.CASHIER, brand, [store]))
    token = _token(client, cashier, member)
    response = purchase(client, cashier, token, 1000, store_id=str(other_store.id))
    assert response.status_code == 403
    response = refund(client, cashier, "ORD-NONE", 100, store_id=str(other_store.id))
    assert response.status_code == 403


def test_a_pos_key_records_purchases_for_its_store(client, member, store, make_pos_key):
    key = {"X-API-Key": make_pos_key(store)}
    response = purchase(client, key, _token(client, key, member), 5000)
    assert response.status_code == 201 and response.get_json()["store_id"] == str(store.id)
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.membership_id == member.id)).one()
    assert entry.actor_kind == "pos_key" and entry.store_id == store.id


# --- refunds ------------------------------------------------------------------------------------


def test_partial_refunds_take_back_points_in_proportion_and_a_full_refund_all_of_them(client, till, member):
    assert purchase(client, till, _token(client, till, member), 1000, "ORD-R").get_json()["points_earned"] == 10
    first = refund(client, till, "ORD-R", 250, "RF-1")
    assert first.status_code == 201, first.get_json()
    # Kept: floor(10 × 750 / 1000) = 7, so 3 go back.
    assert first.get_json()["points_reversed"] == 3 and first.get_json()["balance"] == 7
    second = refund(client, till, "ORD-R", 50, "RF-2")
    # Kept: floor(10 × 700 / 1000) = 7 still: nothing goes back yet, the fraction waits.
    assert second.get_json()["points_reversed"] == 0 and second.get_json()["balance"] == 7
    rest = refund(client, till, "ORD-R", 700, "RF-3")
    assert rest.status_code == 201
    assert rest.get_json()["points_reversed"] == 7 and rest.get_json()["balance"] == 0
    purchase_after = rest.get_json()["purchase"]
    assert (purchase_after["refunded_amount_minor"], purchase_after["points"], purchase_after["points_reversed"]) == (
        1000, 10, 10)
    result = audit(member.id)
    assert (result.balance, result.ledger_sum, result.entries) == (0, 0, 3)  # no entry for a zero reversal


def test_refunds_are_idempotent_by_reference_and_never_exceed_the_purchase(client, till, member):
    purchase(client, till, _token(client, till, member), 2000, "ORD-X")
    first = refund(client, till, "ORD-X", 500, "RF-X")
    replay = refund(client, till, "ORD-X", 500, "RF-X")
    assert replay.status_code == 201 and replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = refund(client, till, "ORD-X", 600, "RF-X")
    assert other.status_code == 409 and other.get_json()["reason"] == "refund_reference_reused"
    too_much = refund(client, till, "ORD-X", 1501, "RF-Y")
    assert too_much.status_code == 422 and too_much.get_json()["reason"] == "refund_exceeds_purchase"
    assert "amount_minor" in too_much.get_json()["errors"]["json"]
    wrong_currency = refund(client, till, "ORD-X", 100, "RF-Z", currency="USD")
    assert wrong_currency.status_code == 422 and wrong_currency.get_json()["reason"] == "currency_mismatch"
    assert audit(member.id).balance == 15  # 20 earned, 5 taken back once


def test_a_refund_never_takes_the_balance_below_zero(client, till, brand, member):
    purchase(client, till, _token(client, till, member), 3000, "ORD-S")
    reward = add_reward(brand, 25)
    loyalty.claim_reward(principal=Principal(id=member.shopper_id, role=SHOPPER), brand_id=brand.id,
                         reward_id=reward.id)
    response = refund(client, till, "ORD-S", 3000)
    assert response.status_code == 201
    assert response.get_json()["points_reversed"] == 5 and response.get_json()["points_unrecovered"] == 25
    assert response.get_json()["balance"] == 0
    assert audit(member.id).balance == audit(member.id).ledger_sum == 0


def test_refunds_of_unknown_or_other_brands_orders_are_not_found(client, till, member, rival, make_shopper):
    rival_brand, _, rival_till = rival
    purchase(client, rival_till, _token(client, rival_till, enrol(make_shopper(), rival_brand)), 1000, "ORD-RIVAL")
    response = refund(client, till, "ORD-RIVAL", 100)
    assert response.status_code == 404
    assert refund(client, till, "ORD-NEVER", 100).status_code == 404


def test_a_return_may_be_taken_at_another_store_of_the_brand(client, brand, store, other_store, member, make_staff,
                                                           login, till):
    purchase(client, till, _token(client, till, member), 1000, "ORD-M")
    marais = login(make_staff(Role.CASHIER, brand, [other_store]))
    response = refund(client, marais, "ORD-M", 1000)
    assert response.status_code == 201 and response.get_json()["store_id"] == str(other_store.id)


# --- redemptions --------------------------------------------------------------------------------


@pytest.fixture
def coupon(shopper, brand, fence, member):
    make_offer(brand, [fence])
    [coupon] = issue(shopper, fence)
    return coupon


def _coupon_token(client, till, coupon, **extra):
    body = scan(client, till, coupon.pass_id, **extra)
    assert body["coupon"]["usable"], body
    return body["coupon"]["redemption_token"]


def test_a_coupon_is_redeemed_once_and_a_replay_of_the_key_gets_the_first_answer(client, till, coupon, store):
    token = _coupon_token(client, till, coupon)
    first = redeem(client, till, token, key="till-1-0001", order_reference="ORD-100")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["coupon"]["id"] == str(coupon.id) and body["coupon"]["status"] == "redeemed"
    assert body["store_id"] == str(store.id) and body["order_reference"] == "ORD-100"
    db.session.expire_all()
    redeemed = db.session.get(Coupon, coupon.id)
    assert redeemed.status == REDEEMED and redeemed.redeemed_store_id == store.id and redeemed.redeemed_at

    replay = redeem(client, till, token, key="till-1-0001", order_reference="ORD-100")
    assert replay.status_code == 201 and replay.get_json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"

    reused = redeem(client, till, token, key="till-1-0001", order_reference="ORD-101")
    assert reused.status_code == 409 and reused.get_json()["reason"] == "idempotency_key_reused"
    again = redeem(client, till, token, key="till-1-0002", order_reference="ORD-100")
    assert again.status_code == 409 and again.get_json()["reason"] == "coupon_already_redeemed"
    assert db.session.scalar(select(Redemption.id).where(Redemption.coupon_id == coupon.id)) is not None


def test_rescanning_for_a_retry_with_the_same_key_still_gets_the_first_answer(client, till, coupon, member):
    first = redeem(client, till, _coupon_token(client, till, coupon), key="K-1")
    # The shopper's member card lists the coupon no more; a fresh token of the same coupon, made
    # the way the scan makes it, with the same key and order is the same request.
    fresh = tokens.issue_token(tokens.REDEMPTION, subject_id=coupon.id, brand_id=coupon.brand_id,
                               store_id=uuid.UUID(first.get_json()["store_id"]))
    assert redeem(client, till, fresh, key="K-1").get_json() == first.get_json()
    assert scan(client, till, member.pass_id)["coupons"] == []


def test_the_idempotency_key_is_required_and_well_formed(client, till, coupon):
    token = _coupon_token(client, till, coupon)
    response = client.post("/v1/pos/redemptions", json={"redemption_token": token, "order_reference": "O-1"},
                           headers=till)
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["errors"]["headers"]
    response = redeem(client, till, token, key="x" * 256)
    assert response.status_code == 422
    assert db.session.get(Coupon, coupon.id).status == ISSUED


def test_an_expired_coupon_is_refused_and_stays_as_it_was(client, till, coupon):
    token = _coupon_token(client, till, coupon)
    with transaction():
        db.session.execute(update(Coupon).where(Coupon.id == coupon.id).values(
            expires_at=utcnow() - dt.timedelta(seconds=1)))
    response = redeem(client, till, token)
    assert response.status_code == 409 and response.get_json()["reason"] == "coupon_expired"
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == ISSUED
    assert db.session.scalar(select(Redemption.id)) is None


def test_a_void_coupon_is_refused(client, till, coupon):
    token = _coupon_token(client, till, coupon)
    with transaction():
        db.session.execute(update(Coupon).where(Coupon.id == coupon.id).values(status="void"))
    response = redeem(client, till, token)
    assert response.status_code == 409 and response.get_json()["reason"] == "coupon_void"


def test_a_coupon_limited_to_another_stores_fences_is_refused_here(client, app, till, brand, shopper, member, store,
                                                                   other_fence):
    make_offer(brand, [other_fence])
    [coupon] = issue(shopper, other_fence)
    # Even with a token for this store (which no scan hands out for it), the rule holds.
    token = tokens.issue_token(tokens.REDEMPTION, subject_id=coupon.id, brand_id=brand.id, store_id=store.id)
    response = redeem(client, till, token)
    assert response.status_code == 422 and response.get_json()["reason"] == "coupon_not_valid_here"
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == ISSUED


def test_a_coupon_of_an_all_stores_offer_is_redeemed_at_any_store_of_the_brand(
        client, brand, shopper, member, fence, other_store, make_staff, login):
    make_offer(brand)  # all stores
    [coupon] = issue(shopper, fence)
    marais = login(make_staff(Role.CASHIER, brand, [other_store]))
    response = redeem(client, marais, _coupon_token(client, marais, coupon))
    assert response.status_code == 201


def test_other_brands_and_other_stores_cannot_redeem(client, till, coupon, brand, store, other_store, make_staff,
                                                     login, rival):
    _, rival_store, rival_till = rival
    # The rival's till cannot even scan it.
    from tests.loyalty_support import live_code

    response = client.post("/v1/pos/scan", json={"code": live_code(coupon.pass_id)}, headers=rival_till)
    assert response.status_code == 422 and response.get_json()["reason"] == "code_other_brand"
    token = _coupon_token(client, till, coupon)
    response = redeem(client, rival_till, token)
    assert response.status_code == 422 and response.get_json()["reason"] == "token_invalid"
    forged_for_rival = tokens.issue_token(tokens.REDEMPTION, subject_id=coupon.id, brand_id=rival_store.brand_id,
                                          store_id=rival_store.id)
    response = redeem(client, rival_till, forged_for_rival)
    assert response.status_code == 404  # not a coupon of that brand
    marais = login(make_staff(Role.CASHIER, brand, [other_store]))
    response = redeem(client, marais, token, store_id=str(store.id))
    assert response.status_code == 403
    response = redeem(client, marais, token)
    assert response.status_code == 422 and response.get_json()["reason"] == "token_other_store"
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == ISSUED


def test_a_bonus_points_coupon_credits_its_points_when_redeemed(client, till, brand, shopper, member, fence):
    make_offer(brand, [fence], reward_type="bonus_points", reward_percent=None, reward_points=50)
    [coupon] = issue(shopper, fence)
    response = redeem(client, till, _coupon_token(client, till, coupon), order_reference="ORD-B")
    assert response.status_code == 201
    assert response.get_json()["bonus_points"] == 50 and response.get_json()["balance"] == 50
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.membership_id == member.id)).one()
    assert (entry.kind, entry.points, entry.coupon_id, entry.order_reference) == (BONUS, 50, coupon.id, "ORD-B")


def test_a_bonus_points_coupon_of_a_non_member_is_refused_and_stays_usable(client, till, brand, make_shopper, fence):
    make_offer(brand, [fence], reward_type="bonus_points", reward_percent=None, reward_points=50)
    outsider = make_shopper()
    with transaction() as session:
        session.add(BrandConsent(shopper_id=outsider.id, brand_id=brand.id, opted_in=True, source="test"))
    [coupon] = issue(outsider, fence)
    response = redeem(client, till, _coupon_token(client, till, coupon))
    assert response.status_code == 409 and response.get_json()["reason"] == "membership_required"
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == ISSUED


# --- stamp cards and reward coupons at the till ---------------------------------------------------


def test_a_full_stamp_card_issues_its_reward_at_the_till(client, till, brand, member, shopper):
    reward = add_reward(brand, 1000)
    set_program(brand, stamp_card={"size": 3, "min_amount_minor": 500, "reward_id": reward.id})
    token = _token(client, till, member)
    answers = [purchase(client, till, token, amount).get_json() for amount in (600, 499, 500)]
    assert [a["stamps"] for a in answers] == [1, 1, 2]
    assert all(a["rewards_issued"] == [] for a in answers)
    full = purchase(client, till, token, 1500).get_json()
    assert full["stamps"] == 0 and full["stamp_card_size"] == 3
    [issued] = full["rewards_issued"]
    assert issued["kind"] == "reward" and issued["usable"] and issued["redemption_token"]
    # The reward is in the wallet, listed at the next scan, and redeemed like any coupon.
    assert [c["id"] for c in scan(client, till, member.pass_id)["rewards"]] == [issued["id"]]
    assert redeem(client, till, issued["redemption_token"]).status_code == 201
    # It cost no points, and it reached the phone: its push waits in the outbox.
    from wallet.push.models import PushOutbox

    assert audit(member.id).balance == 6 + 4 + 5 + 15
    assert db.session.scalar(select(PushOutbox.id).where(PushOutbox.coupon_id == uuid.UUID(issued["id"])))


def test_a_refund_below_the_minimum_withdraws_the_stamp(client, till, brand, member):
    reward = add_reward(brand, 1000)
    set_program(brand, stamp_card={"size": 5, "min_amount_minor": 500, "reward_id": reward.id})
    token = _token(client, till, member)
    assert purchase(client, till, token, 800, "ORD-ST").get_json()["stamps"] == 1
    refund(client, till, "ORD-ST", 200)
    assert scan(client, till, member.pass_id)["loyalty"]["stamps"] == 1  # 600 left: still qualifies
    refund(client, till, "ORD-ST", 200)
    assert scan(client, till, member.pass_id)["loyalty"]["stamps"] == 0
    refund(client, till, "ORD-ST", 400)
    assert scan(client, till, member.pass_id)["loyalty"]["stamps"] == 0  # withdrawn once only
    assert db.session.scalars(select(Purchase).where(Purchase.order_reference == "ORD-ST")).one().stamped is False


def test_the_balance_is_always_the_sum_of_the_ledger(client, till, brand, member, shopper, fence):
    make_offer(brand, [fence], reward_type="bonus_points", reward_percent=None, reward_points=7)
    token = _token(client, till, member)
    for index, amount in enumerate((1234, 999, 5000, 1)):
        purchase(client, till, token, amount, f"ORD-{index}")
    refund(client, till, "ORD-2", 1234)
    [coupon] = issue(shopper, fence)
    redeem(client, till, _coupon_token(client, till, coupon))
    result = audit(member.id)
    assert result.balance == result.ledger_sum == 12 + 9 + 50 - 13 + 7
    kinds = db.session.scalars(select(LedgerEntry.kind).where(LedgerEntry.membership_id == member.id)).all()
    assert sorted(kinds) == sorted([EARN, EARN, EARN, REFUND, BONUS])
