"""Exactly once under concurrency, on PostgreSQL: 50 requests released together at a barrier, each
in its own thread, app context, session and connection, through the HTTP layer.

- 50 tills redeeming one coupon (50 keys): one redemption; 50 replays of one key: one redemption,
  50 identical answers;
- 50 claims of a reward with points for one: one coupon, the balance never below zero;
- 50 replays of one purchase: its points once, 50 identical answers;
- 50 purchases of one member at once, on a stamp card of 10: the card fills 5 times, 5 rewards;
- 50 refunds of one purchase: never more than its amount.

Each with a cashier and with a POS key (the till's one-statement path, ``wallet.pos.fast``).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.concurrency import RACERS, race
from tests.loyalty_support import add_reward, audit, enrol, issue, make_offer, member_token, scan, set_program
from wallet.extensions import db
from wallet.loyalty.models import LedgerEntry, LoyaltyAccount, Purchase, Refund
from wallet.offers.models import REDEEMED, Coupon, Offer
from wallet.pos.models import Redemption
from wallet.push.models import PushOutbox


@pytest.fixture
def brand(make_brand):
    brand = make_brand("Lumière")
    set_program(brand)
    return brand


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def shopper(make_shopper):
    return make_shopper()


@pytest.fixture
def member(shopper, brand):
    return enrol(shopper, brand)


@pytest.fixture
def coupon(brand, shopper, member, make_geofence, store):
    fence = make_geofence(store)
    make_offer(brand, [fence])
    [coupon] = issue(shopper, fence)
    return coupon


def _redemption_token(client, till, coupon) -> str:
    return scan(client, till, coupon.pass_id)["coupon"]["redemption_token"]


def test_fifty_tills_redeeming_one_coupon_redeem_it_once(app, client, till, coupon):
    token = _redemption_token(client, till, coupon)

    def redeem(racer, index):
        return racer.post("/v1/pos/redemptions", json={"redemption_token": token, "order_reference": f"ORD-{index}"},
                          headers={**till, "Idempotency-Key": f"till-{index}"})

    results = race(app, redeem)
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1)
    assert {body["reason"] for status, body, _ in results if status == 409} == {"coupon_already_redeemed"}
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == REDEEMED
    assert db.session.scalar(select(func.count(Redemption.id))) == 1


def test_fifty_replays_of_one_redemption_get_the_same_answer(app, client, till, coupon):
    token = _redemption_token(client, till, coupon)

    def redeem(racer, _):
        return racer.post("/v1/pos/redemptions", json={"redemption_token": token, "order_reference": "ORD-1"},
                          headers={**till, "Idempotency-Key": "one-key"})

    results = race(app, redeem)
    assert {status for status, _, _ in results} == {201}
    bodies = {str(body) for _, body, _ in results}
    assert len(bodies) == 1
    assert sum(1 for _, _, replayed in results if not replayed) == 1
    assert db.session.scalar(select(func.count(Redemption.id))) == 1


def test_fifty_claims_with_points_for_one_get_one_reward(app, client, brand, till, member, shopper, login):
    reward = add_reward(brand, 100)
    response = client.post("/v1/pos/purchases", headers=till, json={
        "member_token": member_token(client, till, member), "amount_minor": 19999, "currency": "EUR",
        "order_reference": "ORD-POINTS"})
    assert response.get_json()["balance"] == 199  # enough for one, not two
    me = login(shopper)
    url = f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim"  # read here: the racers share no ORM object

    def claim(racer, _):
        return racer.post(url, headers=me)

    results = race(app, claim)
    assert sorted(status for status, _, _ in results) == [201] + [409] * (RACERS - 1)
    assert {body["reason"] for status, body, _ in results if status == 409} == {"insufficient_points"}
    result = audit(member.id)
    assert result.balance == result.ledger_sum == 99
    assert db.session.scalar(select(func.count(Coupon.id)).where(Coupon.shopper_id == shopper.id)) == 1


def test_fifty_replays_of_one_purchase_earn_its_points_once(app, client, till, member):
    token = member_token(client, till, member)

    def buy(racer, _):
        return racer.post("/v1/pos/purchases", headers=till, json={
            "member_token": token, "amount_minor": 4250, "currency": "EUR", "order_reference": "ORD-RACE"})

    results = race(app, buy)
    assert {status for status, _, _ in results} == {201}
    assert len({str(body) for _, body, _ in results}) == 1
    assert sum(1 for _, _, replayed in results if not replayed) == 1
    result = audit(member.id)
    assert (result.balance, result.ledger_sum, result.entries) == (42, 42, 1)
    assert db.session.scalar(select(func.count(Purchase.id))) == 1


def test_fifty_purchases_of_one_member_at_once_fill_a_card_of_ten_five_times(app, client, brand, till, member,
                                                                            shopper):
    reward = add_reward(brand, 900)
    set_program(brand, stamp_card={"size": 10, "min_amount_minor": 500, "reward_id": reward.id})
    token = member_token(client, till, member)

    def buy(racer, index):
        return racer.post("/v1/pos/purchases", headers=till, json={
            "member_token": token, "amount_minor": 1000, "currency": "EUR", "order_reference": f"ORD-{index}"})

    results = race(app, buy)
    assert {status for status, _, _ in results} == {201}
    issued = [coupon["id"] for _, body, _ in results for coupon in body["rewards_issued"]]
    assert len(issued) == len(set(issued)) == RACERS // 10
    # Each answer's stamps are the card after its own stamp: every count from 0 to 9, five times.
    assert sorted(body["stamps"] for _, body, _ in results) == sorted(list(range(10)) * (RACERS // 10))
    assert all((body["stamps"] == 0) == bool(body["rewards_issued"]) for _, body, _ in results)
    db.session.expire_all()
    coupons = db.session.scalars(select(Coupon).where(Coupon.shopper_id == shopper.id)).all()
    assert sorted(str(coupon.id) for coupon in coupons) == sorted(issued)
    assert db.session.scalar(select(func.count(PushOutbox.id)).where(PushOutbox.shopper_id == shopper.id)) == 5
    assert db.session.get(Offer, reward.offer_id).issued_count == RACERS // 10
    assert db.session.get(LoyaltyAccount, member.id).stamps == 0
    result = audit(member.id)
    assert result.balance == result.ledger_sum == RACERS * 10


def test_fifty_refunds_of_one_purchase_never_exceed_its_amount(app, client, till, member):
    client.post("/v1/pos/purchases", headers=till, json={
        "member_token": member_token(client, till, member), "amount_minor": 1000, "currency": "EUR",
        "order_reference": "ORD-REFUNDED"})

    def give_back(racer, index):
        return racer.post("/v1/pos/refunds", headers=till, json={
            "order_reference": "ORD-REFUNDED", "refund_reference": f"RF-{index}", "amount_minor": 300,
            "currency": "EUR"})

    results = race(app, give_back)
    assert sorted(status for status, _, _ in results) == [201] * 3 + [422] * (RACERS - 3)
    refunded = db.session.scalar(select(func.sum(Refund.amount_minor)))
    assert refunded == 900
    result = audit(member.id)
    # floor(10 × 100 / 1000) = 1 point kept.
    assert result.balance == result.ledger_sum == 1
    assert db.session.scalar(select(func.count(LedgerEntry.id)).where(LedgerEntry.kind == "refund")) == 3
