"""Loyalty programs: brand admins set the rules, tiers and rewards (marketers read them); members
see their points, history and rewards and claim rewards atomically; tiers move by themselves and
can be overridden; offers may target tiers; points expire first in, first out, idempotently."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.loyalty_support import (
    TEXTS,
    add_reward,
    add_tier,
    audit,
    enrol,
    issue,
    member_token,
    purchase,
    refund,
    set_program,
)
from wallet.auth.models import Role
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.loyalty import rules
from wallet.loyalty import services as loyalty
from wallet.loyalty.models import ADJUST, EARN, EXPIRE, REDEEM_REWARD, LedgerEntry
from wallet.offers.models import Coupon


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet")


@pytest.fixture
def admin(make_staff, brand, login):
    return login(make_staff(Role.BRAND_ADMIN, brand))


@pytest.fixture
def marketer(make_staff, brand, login):
    return login(make_staff(Role.MARKETER, brand))


@pytest.fixture
def till(make_staff, brand, store, login):
    return login(make_staff(Role.CASHIER, brand, [store]))


@pytest.fixture
def program(brand):
    set_program(brand)


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(locale="en-GB")


@pytest.fixture
def me(login, shopper):
    return login(shopper)


@pytest.fixture
def member(shopper, brand):
    return enrol(shopper, brand)


def _earn(client, till, member, amount_minor, order_reference=None):
    response = purchase(client, till, member_token(client, till, member), amount_minor, order_reference)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _post_entry(member, points, at, kind=EARN):
    """A ledger movement at a chosen moment (as if it had happened then)."""
    actor = loyalty.Actor.system()
    with transaction():
        if points > 0:
            loyalty._add_points(member.id, member.brand_id, points, at)
        else:
            loyalty._take_points(member.id, -points, at)
        loyalty._append(membership_id=member.id, brand_id=member.brand_id, kind=kind, points=points, reason="test",
                        actor=actor, at=at)


# --- the program ----------------------------------------------------------------------------------


PROGRAM = {"currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": 24}


def test_a_brand_admin_sets_up_the_program_and_a_marketer_reads_it(client, brand, admin, marketer):
    assert client.get(f"/v1/brands/{brand.id}/loyalty", headers=admin).status_code == 404
    response = client.put(f"/v1/brands/{brand.id}/loyalty", json=PROGRAM, headers=admin)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in PROGRAM} == PROGRAM and body["stamp_card"] is None
    assert client.get(f"/v1/brands/{brand.id}/loyalty", headers=marketer).get_json() == body
    response = client.put(f"/v1/brands/{brand.id}/loyalty", json=PROGRAM, headers=marketer)
    assert response.status_code == 403


def test_replacing_the_program_keeps_its_identity(client, brand, admin):
    first = client.put(f"/v1/brands/{brand.id}/loyalty", json=PROGRAM, headers=admin).get_json()
    second = client.put(f"/v1/brands/{brand.id}/loyalty", json={**PROGRAM, "points_per_unit": 2,
                                                                "points_expiry_months": None}, headers=admin)
    assert second.get_json()["id"] == first["id"] and second.get_json()["points_per_unit"] == 2
    assert second.get_json()["points_expiry_months"] is None


@pytest.mark.parametrize("change, field", [
    ({"currency": "XXX"}, "currency"),
    ({"points_per_unit": 0}, "points_per_unit"),
    ({"unit_minor": 0}, "unit_minor"),
    ({"points_expiry_months": 0}, "points_expiry_months"),
    ({"points_per_unit": "1"}, "points_per_unit"),
    ({"stamp_card": {"size": 1, "reward_id": str(uuid.uuid4())}}, "stamp_card"),
    ({"bonus": True}, "bonus"),
])
def test_bad_program_rules_are_refused_field_by_field(client, brand, admin, change, field):
    response = client.put(f"/v1/brands/{brand.id}/loyalty", json={**PROGRAM, **change}, headers=admin)
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"]


def test_a_stamp_card_must_give_a_reward_of_the_brand(client, brand, admin, program, make_brand):
    other = make_brand("Other")
    set_program(other)
    foreign = add_reward(other, 10)
    response = client.put(f"/v1/brands/{brand.id}/loyalty", headers=admin, json={
        **PROGRAM, "stamp_card": {"size": 5, "reward_id": str(foreign.id)}})
    assert response.status_code == 422
    own = add_reward(brand, 10)
    response = client.put(f"/v1/brands/{brand.id}/loyalty", headers=admin, json={
        **PROGRAM, "stamp_card": {"size": 5, "min_amount_minor": 300, "reward_id": str(own.id)}})
    assert response.get_json()["stamp_card"] == {"size": 5, "min_amount_minor": 300, "reward_id": str(own.id)}
    response = client.delete(f"/v1/brands/{brand.id}/loyalty/rewards/{own.id}", headers=admin)
    assert response.status_code == 409 and response.get_json()["reason"] == "reward_in_use"


# --- tiers ----------------------------------------------------------------------------------------


def test_tiers_are_managed_by_admins_and_read_by_marketers(client, brand, admin, marketer, program):
    url = f"/v1/brands/{brand.id}/loyalty/tiers"
    gold = client.post(url, json={"name": "Gold", "threshold_points": 1000}, headers=admin)
    assert gold.status_code == 201
    client.post(url, json={"name": "Silver", "threshold_points": 300}, headers=admin)
    assert [t["name"] for t in client.get(url, headers=marketer).get_json()] == ["Silver", "Gold"]
    assert client.post(url, json={"name": "Bronze", "threshold_points": 0}, headers=marketer).status_code == 403
    duplicate = client.post(url, json={"name": "Gold", "threshold_points": 5000}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.get_json()["reason"] == "tier_exists"
    tier_url = f"{url}/{gold.get_json()['id']}"
    assert client.patch(tier_url, json={"threshold_points": 800}, headers=admin).get_json()["threshold_points"] == 800
    assert client.patch(tier_url, json={"threshold_points": 300}, headers=admin).status_code == 409
    assert client.delete(tier_url, headers=admin).status_code == 204
    assert [t["name"] for t in client.get(url, headers=admin).get_json()] == ["Silver"]


def test_tiers_and_rewards_need_a_program_first(client, brand, admin):
    response = client.post(f"/v1/brands/{brand.id}/loyalty/tiers", json={"name": "Gold", "threshold_points": 1},
                           headers=admin)
    assert response.status_code == 409 and response.get_json()["reason"] == "no_program"


def test_tiers_move_with_points_earned_over_a_rolling_twelve_months(client, brand, program, till, member, me):
    add_tier(brand, "Silver", 100)
    add_tier(brand, "Gold", 500)
    url = f"/v1/me/loyalty/{brand.id}"
    assert client.get(url, headers=me).get_json()["tier"] is None
    _earn(client, till, member, 12000, "ORD-1")
    body = client.get(url, headers=me).get_json()
    assert body["tier"]["name"] == "Silver" and body["next_tier"]["name"] == "Gold"
    assert body["points_to_next_tier"] == 380 and body["qualifying_points"] == 120
    _earn(client, till, member, 40000, "ORD-2")
    assert client.get(url, headers=me).get_json()["tier"]["name"] == "Gold"
    refund(client, till, "ORD-2", 40000)
    assert client.get(url, headers=me).get_json()["tier"]["name"] == "Silver"  # down again with the refund
    # Spending points does not demote: the tier counts what was earned.
    reward = add_reward(brand, 100)
    assert client.post(f"{url}/rewards/{reward.id}/claim", headers=me).status_code == 201
    assert client.get(url, headers=me).get_json()["tier"]["name"] == "Silver"


def test_points_older_than_twelve_months_do_not_count_towards_the_tier(client, brand, program, member, me):
    add_tier(brand, "Silver", 100)
    now = utcnow()
    _post_entry(member, 150, rules.add_months(now, -12) - dt.timedelta(days=1))
    _post_entry(member, 60, rules.add_months(now, -11))
    body = client.get(f"/v1/me/loyalty/{brand.id}", headers=me).get_json()
    assert body["qualifying_points"] == 60 and body["tier"] is None and body["balance"] == 210


def test_a_brand_admin_overrides_a_tier_and_lifts_the_override(client, brand, program, admin, member, till, me):
    silver, gold = add_tier(brand, "Silver", 100), add_tier(brand, "Gold", 500)
    _earn(client, till, member, 15000)
    url = f"/v1/brands/{brand.id}/loyalty/members/{member.id}/tier"
    until = (utcnow() + dt.timedelta(days=90)).isoformat()
    response = client.put(url, json={"tier_id": str(gold.id), "until": until, "reason": "VIP event"}, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["tier"]["name"] == "Gold" and response.get_json()["tier_source"] == "override"
    assert client.get(f"/v1/me/loyalty/{brand.id}", headers=me).get_json()["tier"]["name"] == "Gold"
    assert client.put(url, json={"tier_id": str(gold.id)}, headers=admin).status_code == 422  # no reason given
    past = client.put(url, json={"tier_id": str(gold.id), "until": "2020-01-01T00:00:00+00:00", "reason": "x"},
                      headers=admin)
    assert past.status_code == 422
    lifted = client.put(url, json={"tier_id": None}, headers=admin)
    assert lifted.get_json()["tier"]["id"] == str(silver.id) and lifted.get_json()["tier_source"] == "computed"


def test_an_override_lapses_by_itself(client, brand, program, admin, member, me):
    gold = add_tier(brand, "Gold", 500)
    url = f"/v1/brands/{brand.id}/loyalty/members/{member.id}/tier"
    client.put(url, json={"tier_id": str(gold.id), "reason": "Welcome"}, headers=admin)
    from wallet.loyalty.models import LoyaltyAccount

    with transaction():
        db.session.execute(sa.update(LoyaltyAccount).where(LoyaltyAccount.membership_id == member.id).values(
            tier_override_until=utcnow() - dt.timedelta(seconds=1)))
    assert client.get(f"/v1/me/loyalty/{brand.id}", headers=me).get_json()["tier"] is None


def test_offers_may_target_tiers(client, brand, program, admin, member, shopper, till, make_geofence, store,
                                 make_shopper, make_brand):
    gold = add_tier(brand, "Gold", 100)
    fence = make_geofence(store)
    body = {"reward": {"type": "percent_off", "percent": 20},
            "content": {"fr": {"title": "-20 %", "description": "Gold"},
                        "en": {"title": "20% off", "description": "Gold"}},
            "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2099-01-01T00:00:00+00:00",
            "all_stores": True, "tier_ids": [str(gold.id)]}
    created = client.post(f"/v1/brands/{brand.id}/offers", json=body, headers=admin)
    assert created.status_code == 201 and created.get_json()["tier_ids"] == [str(gold.id)]
    offer_id = created.get_json()["id"]
    assert client.post(f"/v1/brands/{brand.id}/offers/{offer_id}/activate", headers=admin).status_code == 200
    assert issue(shopper, fence) == []  # a member, but not Gold yet
    _earn(client, till, member, 10000)
    [coupon] = issue(shopper, fence)
    assert str(coupon.offer_id) == offer_id
    # A tier of another brand is refused.
    other = make_brand("Other")
    set_program(other)
    foreign = add_tier(other, "Gold", 1)
    response = client.patch(f"/v1/brands/{brand.id}/offers/{offer_id}", json={"tier_ids": [str(foreign.id)]},
                            headers=admin)
    assert response.status_code == 422 and "tier_ids" in response.get_json()["errors"]["json"]


# --- rewards --------------------------------------------------------------------------------------


REWARD = {"points_cost": 150, "reward": {"type": "free_item", "item": "Croissant"}, "content": TEXTS}


def test_a_brand_admin_manages_the_rewards_catalogue(client, brand, program, admin, marketer):
    url = f"/v1/brands/{brand.id}/loyalty/rewards"
    created = client.post(url, json={**REWARD, "stock": 100}, headers=admin)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "active" and body["stock"] == 100 and body["claimed"] == 0
    assert body["reward"] == {"type": "free_item", "item": "Croissant"} and body["available_until"] is None
    assert body["coupon_ttl_minutes"] == 30 * 24 * 60
    reward_url = f"{url}/{body['id']}"
    assert client.get(reward_url, headers=marketer).get_json() == body
    assert client.post(url, json=REWARD, headers=marketer).status_code == 403
    paused = client.patch(reward_url, json={"active": False, "points_cost": 120}, headers=admin).get_json()
    assert paused["status"] == "paused" and paused["points_cost"] == 120
    assert client.delete(reward_url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).get_json() == []
    [retired] = client.get(f"{url}?include_retired=true", headers=admin).get_json()
    assert retired["status"] == "retired"
    assert client.patch(reward_url, json={"points_cost": 1}, headers=admin).status_code == 409


def test_a_reward_cannot_give_points_and_needs_its_texts(client, brand, program, admin):
    url = f"/v1/brands/{brand.id}/loyalty/rewards"
    response = client.post(url, json={**REWARD, "reward": {"type": "bonus_points", "points": 10}}, headers=admin)
    assert response.status_code == 422
    response = client.post(url, json={**REWARD, "content": {"fr": TEXTS["fr"]}}, headers=admin)
    assert response.status_code == 422 and "content" in response.get_json()["errors"]["json"]
    response = client.post(url, json={**REWARD, "default_locale": "de"}, headers=admin)
    assert response.status_code == 422 and "default_locale" in response.get_json()["errors"]["json"]


def test_reward_offers_stay_out_of_the_offers_api(client, brand, program, admin):
    reward = add_reward(brand, 10)
    assert client.get(f"/v1/brands/{brand.id}/offers", headers=admin).get_json() == []
    response = client.get(f"/v1/brands/{brand.id}/offers/{reward.offer_id}", headers=admin)
    assert response.status_code == 404


def test_a_member_sees_the_rewards_they_can_afford(client, brand, program, till, member, me):
    cheap, dear = add_reward(brand, 50), add_reward(brand, 500)
    _earn(client, till, member, 10000)
    url = f"/v1/me/loyalty/{brand.id}/rewards"
    listed = client.get(url, headers=me).get_json()
    assert [(r["id"], r["affordable"]) for r in listed] == [(str(cheap.id), True), (str(dear.id), False)]
    assert listed[0]["title"] == "A free coffee" and listed[0]["locale"] == "en"
    assert [r["id"] for r in client.get(f"{url}?affordable=true", headers=me).get_json()] == [str(cheap.id)]


def test_claiming_a_reward_spends_points_and_puts_its_coupon_in_the_wallet(client, brand, program, till, member,
                                                                           me):
    reward = add_reward(brand, 50)
    _earn(client, till, member, 12000)
    response = client.post(f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim", headers=me)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["points_spent"] == 50 and body["balance"] == 70
    assert body["coupon"]["status"] == "active" and body["coupon"]["title"] == "A free coffee"
    assert [c["id"] for c in client.get("/v1/me/coupons", headers=me).get_json()] == [body["coupon"]["id"]]
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == REDEEM_REWARD)).one()
    assert entry.points == -50 and str(entry.coupon_id) == body["coupon"]["id"] and entry.actor_kind == "shopper"
    # No push for a coupon the shopper is holding in the answer.
    from wallet.push.models import PushOutbox

    assert db.session.scalar(select(PushOutbox.id).where(PushOutbox.coupon_id == entry.coupon_id)) is None


def test_a_claim_beyond_the_balance_is_refused_and_changes_nothing(client, brand, program, till, member, me):
    reward = add_reward(brand, 500)
    _earn(client, till, member, 12000)
    response = client.post(f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim", headers=me)
    assert response.status_code == 409 and response.get_json()["reason"] == "insufficient_points"
    assert audit(member.id).balance == 120 and db.session.scalar(select(sa.func.count(Coupon.id))) == 0


def test_a_reward_out_of_stock_or_paused_gives_the_points_back(client, brand, program, till, member, me, admin):
    reward = add_reward(brand, 10, stock=1)
    _earn(client, till, member, 10000)
    url = f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim"
    assert client.post(url, headers=me).status_code == 201
    response = client.post(url, headers=me)
    assert response.status_code == 409 and response.get_json()["reason"] == "reward_unavailable"
    paused = add_reward(brand, 10)
    client.patch(f"/v1/brands/{brand.id}/loyalty/rewards/{paused.id}", json={"active": False}, headers=admin)
    response = client.post(f"/v1/me/loyalty/{brand.id}/rewards/{paused.id}/claim", headers=me)
    assert response.status_code == 409 and response.get_json()["reason"] == "reward_unavailable"
    assert audit(member.id).balance == 90 == audit(member.id).ledger_sum


def test_a_reward_for_a_tier_is_refused_to_others(client, brand, program, till, member, me):
    gold = add_tier(brand, "Gold", 1000)
    reward = add_reward(brand, 10, tier_ids=[gold.id])
    _earn(client, till, member, 10000)
    listed = client.get(f"/v1/me/loyalty/{brand.id}/rewards", headers=me).get_json()
    assert listed[0]["eligible"] is False and listed[0]["affordable"] is True
    response = client.post(f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim", headers=me)
    assert response.status_code == 403 and response.get_json()["reason"] == "tier_required"


def test_a_shopper_claims_only_at_brands_they_are_a_member_of(client, brand, program, me, make_brand):
    reward = add_reward(brand, 10)
    other = make_brand("Other")
    assert client.post(f"/v1/me/loyalty/{other.id}/rewards/{reward.id}/claim", headers=me).status_code == 404
    assert client.post(f"/v1/me/loyalty/{brand.id}/rewards/{reward.id}/claim", headers=me).status_code == 404


def test_another_brands_reward_cannot_be_claimed(client, brand, program, member, me, make_brand):
    other = make_brand("Other")
    set_program(other)
    foreign = add_reward(other, 1)
    response = client.post(f"/v1/me/loyalty/{brand.id}/rewards/{foreign.id}/claim", headers=me)
    assert response.status_code == 404


# --- the shopper's view ---------------------------------------------------------------------------


def test_my_loyalty_lists_every_membership_with_balance_and_tier(client, brand, program, till, member, me, shopper,
                                                                 make_brand):
    plain = make_brand("Sans programme")
    enrol(shopper, plain)
    _earn(client, till, member, 4567)
    listed = client.get("/v1/me/loyalty", headers=me).get_json()
    by_brand = {entry["brand"]["name"]: entry for entry in listed}
    assert by_brand["Lumière"]["balance"] == 45 and by_brand["Lumière"]["has_program"] is True
    assert by_brand["Lumière"]["member_number"] == member.member_number
    assert by_brand["Sans programme"]["has_program"] is False and by_brand["Sans programme"]["balance"] == 0


def test_the_history_is_paginated_newest_first_without_staff_details(client, brand, program, till, member, me):
    for index in range(3):
        _earn(client, till, member, 1000 * (index + 1), f"ORD-{index}")
    response = client.get(f"/v1/me/loyalty/{brand.id}/history?page=1&page_size=2", headers=me)
    assert response.status_code == 200
    assert [e["points"] for e in response.get_json()] == [30, 20]
    assert "actor_id" not in response.get_json()[0] and response.get_json()[0]["order_reference"] == "ORD-2"
    assert '"total": 3' in response.headers["X-Pagination"]
    assert client.get(f"/v1/me/loyalty/{uuid.uuid4()}/history", headers=me).status_code == 404


# --- members and adjustments (brand admins) -------------------------------------------------------


def test_a_brand_admin_finds_a_member_and_reads_their_ledger(client, brand, program, admin, marketer, till, member):
    _earn(client, till, member, 2500, "ORD-A")
    found = client.get(f"/v1/brands/{brand.id}/loyalty/members?member_number={member.member_number}",
                       headers=admin).get_json()
    assert [m["membership_id"] for m in found] == [str(member.id)] and found[0]["balance"] == 25
    ledger = client.get(f"/v1/brands/{brand.id}/loyalty/members/{member.id}/ledger", headers=admin).get_json()
    assert [(e["kind"], e["points"], e["actor_kind"]) for e in ledger] == [("earn", 25, "cashier")]
    assert client.get(f"/v1/brands/{brand.id}/loyalty/members/{member.id}", headers=marketer).status_code == 403


def test_adjustments_are_recorded_and_never_take_the_balance_below_zero(client, brand, program, admin, member):
    url = f"/v1/brands/{brand.id}/loyalty/members/{member.id}/adjustments"
    response = client.post(url, json={"points": 40, "reason": "Damaged parcel"}, headers=admin)
    assert response.status_code == 201 and response.get_json()["balance"] == 40
    entry = response.get_json()["entry"]
    assert entry["kind"] == ADJUST and entry["actor_kind"] == "brand_admin" and entry["reason"] == "Damaged parcel"
    response = client.post(url, json={"points": -41, "reason": "Correction"}, headers=admin)
    assert response.status_code == 409 and response.get_json()["reason"] == "insufficient_points"
    assert client.post(url, json={"points": 0, "reason": "Nothing"}, headers=admin).status_code == 422
    assert client.post(url, json={"points": -40, "reason": "Correction"}, headers=admin).get_json()["balance"] == 0
    assert audit(member.id).ledger_sum == 0


def test_staff_of_another_brand_learn_nothing_of_its_members(client, brand, program, member, make_brand, make_staff,
                                                            login):
    other = make_brand("Other")
    stranger = login(make_staff(Role.BRAND_ADMIN, other))
    for owner in (brand, other):
        url = f"/v1/brands/{owner.id}/loyalty/members/{member.id}"
        assert client.get(url, headers=stranger).status_code == 404


# --- expiry ---------------------------------------------------------------------------------------


def test_points_expire_first_in_first_out_and_the_job_is_idempotent(client, brand, member, me):
    set_program(brand, points_expiry_months=12)
    now = utcnow()
    _post_entry(member, 100, now - dt.timedelta(days=500))  # expired by now
    _post_entry(member, 50, now - dt.timedelta(days=400))   # expired by now
    _post_entry(member, -120, now - dt.timedelta(days=300), kind=REDEEM_REWARD)  # used the oldest 120
    _post_entry(member, 70, now - dt.timedelta(days=100))   # still valid
    report = loyalty.expire_points(at=now)
    assert (report.accounts, report.points) == (1, 30)  # 150 earned long ago, 120 of them spent
    assert loyalty.expire_points(at=now) == loyalty.ExpiryReport(0, 0)
    result = audit(member.id)
    assert result.balance == result.ledger_sum == 70
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EXPIRE)).one()
    assert entry.points == -30 and entry.actor_kind == "system"
    # The next expiry, 12 months after the last 70 were earned.
    assert loyalty.expire_points(at=rules.add_months(now - dt.timedelta(days=100), 12)).points == 70
    assert audit(member.id).balance == 0


def test_the_shopper_is_told_what_expires_in_the_next_thirty_days(client, brand, member, me):
    set_program(brand, points_expiry_months=12)
    now = utcnow()
    _post_entry(member, 40, rules.add_months(now, -12) + dt.timedelta(days=10))
    _post_entry(member, 25, now - dt.timedelta(days=10))
    body = client.get(f"/v1/me/loyalty/{brand.id}", headers=me).get_json()
    assert body["expiring_points"] == 40 and dt.datetime.fromisoformat(body["expiring_by"]) > now


def test_points_never_expire_without_a_policy(brand, member):
    set_program(brand)
    _post_entry(member, 100, utcnow() - dt.timedelta(days=3000))
    assert loyalty.expire_points() == loyalty.ExpiryReport(0, 0)


def test_the_expire_points_command_reports_what_it_did(app, brand, member):
    set_program(brand, points_expiry_months=6)
    _post_entry(member, 80, utcnow() - dt.timedelta(days=400))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["expire-points"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "expired 80 points on 1 accounts"
    assert runner.invoke(args=["expire-points"]).output.strip() == "expired 0 points on 0 accounts"
    assert runner.invoke(args=["expire-points", "--at", "2026-01-01"]).exit_code != 0  # needs its offset


# --- the ledger itself ----------------------------------------------------------------------------


def test_the_ledger_refuses_changes_to_its_entries(client, brand, program, till, member):
    _earn(client, till, member, 1000)
    entry_id = db.session.scalar(select(LedgerEntry.id))
    with pytest.raises(sa.exc.DBAPIError):
        with transaction():
            db.session.execute(sa.update(LedgerEntry).where(LedgerEntry.id == entry_id).values(points=1000))
    assert audit(member.id).ledger_sum == 10


def test_a_deleted_store_leaves_the_ledger_whole(client, brand, program, till, member, store, admin):
    _earn(client, till, member, 1000)
    assert client.delete(f"/v1/brands/{brand.id}/stores/{store.id}", headers=admin).status_code == 204
    entry = db.session.scalars(select(LedgerEntry)).one()
    db.session.refresh(entry)
    assert entry.store_id == store.id and entry.points == 10  # the store is archived, still named
