"""Offers as retailers manage them: every bad field is a 422 naming it, the lifecycle only moves
draft → active ⇄ paused → ended, and no one reaches another brand's offers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from wallet.auth.models import Role
from wallet.core.time import utcnow


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
def marketer(make_staff, login, brand):
    return login(make_staff(Role.MARKETER, brand))


@pytest.fixture
def other_fence(make_brand, make_store, make_geofence):
    return make_geofence(make_store(make_brand("Maison Verte"), "Bastille"))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def offer_body(fence, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    body = {
        "reward": {"type": "percent_off", "percent": 20},
        "content": {
            "fr": {"title": "-20 % sur les viennoiseries", "description": "Aujourd'hui seulement",
                   "terms": "Hors promotions"},
            "en": {"title": "20% off pastries", "description": "Today only"},
        },
        "valid_from": _iso(now - dt.timedelta(hours=1)),
        "valid_until": _iso(now + dt.timedelta(days=30)),
        "geofence_ids": [str(fence.id)],
    }
    body.update(changes)
    return body


def _offers_url(brand, *parts: object) -> str:
    return "/".join([f"/v1/brands/{brand.id}/offers", *(str(part) for part in parts)])


def _create(client, headers, brand, body):
    return client.post(_offers_url(brand), json=body, headers=headers)


def _created(client, headers, brand, fence, **changes) -> dict[str, Any]:
    response = _create(client, headers, brand, offer_body(fence, **changes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _action(client, headers, brand, offer, action):
    return client.post(_offers_url(brand, offer["id"], action), headers=headers)


# --- creation and validation ---------------------------------------------------------------------


def test_a_new_offer_is_a_draft_with_its_fences_and_no_coupons_issued(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence, reward={"type": "amount_off", "amount_minor": 500,
                                                              "currency": "EUR"})
    assert offer["status"] == "draft" and offer["issued_count"] == 0
    assert offer["geofence_ids"] == [str(fence.id)] and offer["all_stores"] is False
    assert offer["reward"] == {"type": "amount_off", "amount_minor": 500, "currency": "EUR"}
    assert offer["trigger"] == "enter" and offer["audience"] == "opted_in" and offer["coupon_ttl_minutes"] == 120
    assert offer["content"]["en"]["terms"] == "" and offer["default_locale"] == "fr"
    assert client.get(_offers_url(brand, offer["id"]), headers=marketer).get_json() == offer


def test_every_reward_type_keeps_exactly_its_own_fields(client, marketer, brand, fence):
    for reward in ({"type": "percent_off", "percent": 100}, {"type": "free_item", "item": "Un croissant"},
                   {"type": "bonus_points", "points": 50},
                   {"type": "amount_off", "amount_minor": 1, "currency": "JPY"}):
        assert _created(client, marketer, brand, fence, reward=reward)["reward"] == reward


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Any], None]:
    """A mutation of the request body: set (or with value DELETE, remove) the item at a dotted path."""

    def mutate(body: dict[str, Any], other_fence: Any) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value(other_fence) if callable(value) else value

    return mutate


DELETE = object()
LONG = "x" * 2001
BAD_FIELDS = [
    ("percent-zero", _set("reward.percent", 0), ("reward", "percent")),
    ("percent-over-100", _set("reward.percent", 101), ("reward", "percent")),
    ("percent-with-currency", _set("reward.currency", "EUR"), ("reward", "currency")),
    ("percent-missing", _set("reward.percent", DELETE), ("reward", "percent")),
    ("reward-type-unknown", _set("reward.type", "bogo"), ("reward", "type")),
    ("amount-without-currency", _set("reward", {"type": "amount_off", "amount_minor": 500}), ("reward", "currency")),
    ("amount-zero", _set("reward", {"type": "amount_off", "amount_minor": 0, "currency": "EUR"}),
     ("reward", "amount_minor")),
    ("amount-fractional", _set("reward", {"type": "amount_off", "amount_minor": 4.99, "currency": "EUR"}),
     ("reward", "amount_minor")),
    ("amount-not-iso-currency", _set("reward", {"type": "amount_off", "amount_minor": 500, "currency": "EURO"}),
     ("reward", "currency")),
    ("amount-made-up-currency", _set("reward", {"type": "amount_off", "amount_minor": 500, "currency": "XYZ"}),
     ("reward", "currency")),
    ("free-item-without-item", _set("reward", {"type": "free_item"}), ("reward", "item")),
    ("free-item-with-points", _set("reward", {"type": "free_item", "item": "Café", "points": 5}),
     ("reward", "points")),
    ("points-negative", _set("reward", {"type": "bonus_points", "points": -5}), ("reward", "points")),
    ("content-without-en", _set("content.en", DELETE), ("content",)),
    ("content-without-fr", _set("content.fr", DELETE), ("content",)),
    ("title-too-long", _set("content.fr.title", "x" * 81), ("content", "fr", "value", "title")),
    ("title-missing", _set("content.en.title", DELETE), ("content", "en", "value", "title")),
    ("description-too-long", _set("content.fr.description", "x" * 501),
     ("content", "fr", "value", "description")),
    ("terms-too-long", _set("content.fr.terms", LONG), ("content", "fr", "value", "terms")),
    ("locale-malformed", _set("content.français", {"title": "t", "description": "d"}),
     ("content", "français", "key")),
    ("default-locale-without-texts", _set("default_locale", "de"), ("default_locale",)),
    ("valid-from-naive", _set("valid_from", "2026-06-01T09:00:00"), ("valid_from",)),
    ("valid-until-missing", _set("valid_until", DELETE), ("valid_until",)),
    ("valid-until-before-from", _set("valid_until", "2020-01-01T00:00:00+00:00"), ("valid_until",)),
    ("schedule-day-7", _set("schedule", [{"days": [7], "start": "09:00", "end": "12:00"}]),
     ("schedule", "0", "days")),
    ("schedule-no-day", _set("schedule", [{"days": [], "start": "09:00", "end": "12:00"}]),
     ("schedule", "0", "days")),
    ("schedule-across-midnight", _set("schedule", [{"days": [4], "start": "22:00", "end": "02:00"}]),
     ("schedule", "0", "end")),
    ("schedule-empty-window", _set("schedule", [{"days": [4], "start": "10:00", "end": "10:00"}]),
     ("schedule", "0", "end")),
    ("schedule-same-day-twice", _set("schedule", [{"days": [1, 1], "start": "09:00", "end": "10:00"}]),
     ("schedule", "0", "days")),
    ("schedule-bad-clock", _set("schedule", [{"days": [0], "start": "9:00", "end": "12:00"}]),
     ("schedule", "0", "start")),
    ("trigger-unknown", _set("trigger", "exit"), ("trigger",)),
    ("dwell-without-minutes", _set("trigger", "dwell"), ("dwell_minutes",)),
    ("dwell-minutes-too-long", _set("dwell_minutes", 241), ("dwell_minutes",)),
    ("dwell-minutes-for-enter", _set("dwell_minutes", 10), ("dwell_minutes",)),
    ("geofence-of-another-brand", _set("geofence_ids", lambda other: [str(other.id)]), ("geofence_ids",)),
    ("geofence-unknown", _set("geofence_ids", ["6b0e6f57-2f7d-4a3a-9f0a-2b1b7d1c0a11"]), ("geofence_ids",)),
    ("geofence-not-a-uuid", _set("geofence_ids", ["fence-1"]), ("geofence_ids",)),
    ("all-stores-and-fences", _set("all_stores", True), ("geofence_ids",)),
    ("audience-unknown", _set("audience", "everyone"), ("audience",)),
    ("max-per-shopper-zero", _set("max_per_shopper", 0), ("max_per_shopper",)),
    ("cooldown-negative", _set("cooldown_minutes", -1), ("cooldown_minutes",)),
    ("global-budget-zero", _set("global_budget", 0), ("global_budget",)),
    ("global-budget-overflow", _set("global_budget", 2**31), ("global_budget",)),
    ("daily-budget-text", _set("daily_budget", "ten"), ("daily_budget",)),
    ("coupon-ttl-too-short", _set("coupon_ttl_minutes", 4), ("coupon_ttl_minutes",)),
    ("coupon-ttl-too-long", _set("coupon_ttl_minutes", 43201), ("coupon_ttl_minutes",)),
    ("unknown-field", _set("colour", "red"), ("colour",)),
]


@pytest.mark.parametrize(("mutate", "path"), [case[1:] for case in BAD_FIELDS], ids=[case[0] for case in BAD_FIELDS])
def test_a_bad_field_is_a_422_naming_it(client, marketer, brand, fence, other_fence, mutate, path):
    body = offer_body(fence)
    mutate(body, other_fence)
    response = _create(client, marketer, brand, body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()
    assert error["reason"] == "validation_failed"
    located = json.loads(json.dumps(error["errors"]["json"]))
    for key in path:
        assert key in located, (path, error["errors"])
        located = located[key]
    assert client.get(_offers_url(brand), headers=marketer).get_json() == []  # nothing half-written


def test_a_dwell_offer_takes_its_minutes_and_a_schedule_in_windows(client, marketer, brand, fence):
    schedule = [{"days": [5, 4], "start": "22:00", "end": "24:00"}, {"days": [5, 6], "start": "00:00", "end": "02:00"}]
    offer = _created(client, marketer, brand, fence, trigger="dwell", dwell_minutes=15, schedule=schedule,
                     max_per_shopper=1, cooldown_minutes=60, global_budget=1000, daily_budget=50, audience="members")
    assert offer["trigger"] == "dwell" and offer["dwell_minutes"] == 15
    assert offer["schedule"][0] == {"days": [4, 5], "start": "22:00", "end": "24:00"}
    assert (offer["max_per_shopper"], offer["cooldown_minutes"], offer["global_budget"], offer["daily_budget"]) == (
        1, 60, 1000, 50)


def test_an_offer_for_all_stores_needs_no_fences(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence, geofence_ids=[], all_stores=True)
    assert offer["all_stores"] is True and offer["geofence_ids"] == []


def test_offers_of_an_unknown_brand_are_404_for_platform_admins(client, make_staff, login, fence):
    admin = login(make_staff(Role.PLATFORM_ADMIN))
    response = client.post("/v1/brands/6b0e6f57-2f7d-4a3a-9f0a-2b1b7d1c0a11/offers", json=offer_body(fence),
                           headers=admin)
    assert response.status_code == 404


# --- changes ------------------------------------------------------------------------------------


def test_patch_replaces_the_reward_whole_and_keeps_other_fields(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence, max_per_shopper=3)
    response = client.patch(_offers_url(brand, offer["id"]), headers=marketer,
                            json={"reward": {"type": "free_item", "item": "Un café"}, "max_per_shopper": None})
    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["reward"] == {"type": "free_item", "item": "Un café"}
    assert changed["max_per_shopper"] is None and changed["content"] == offer["content"]
    assert changed["geofence_ids"] == [str(fence.id)]


def test_patch_checks_rules_on_the_offer_as_it_would_become(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence)
    url = _offers_url(brand, offer["id"])
    too_early = client.patch(url, json={"valid_until": "2020-01-01T00:00:00+00:00"}, headers=marketer)
    assert too_early.status_code == 422 and "valid_until" in too_early.get_json()["errors"]["json"]
    dwell = client.patch(url, json={"trigger": "dwell"}, headers=marketer)
    assert dwell.status_code == 422 and "dwell_minutes" in dwell.get_json()["errors"]["json"]
    assert client.patch(url, json={"trigger": "dwell", "dwell_minutes": 5}, headers=marketer).status_code == 200
    both = client.patch(url, json={"all_stores": True}, headers=marketer)
    assert both.status_code == 422 and "geofence_ids" in both.get_json()["errors"]["json"]
    switched = client.patch(url, json={"all_stores": True, "geofence_ids": []}, headers=marketer)
    assert switched.status_code == 200 and switched.get_json()["geofence_ids"] == []
    assert client.get(url, headers=marketer).get_json()["trigger"] == "dwell"


def test_an_active_offer_cannot_lose_all_its_fences(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence)
    assert _action(client, marketer, brand, offer, "activate").status_code == 200
    response = client.patch(_offers_url(brand, offer["id"]), json={"geofence_ids": []}, headers=marketer)
    assert response.status_code == 422 and "geofence_ids" in response.get_json()["errors"]["json"]


# --- lifecycle ----------------------------------------------------------------------------------


def test_the_lifecycle_goes_draft_active_paused_active_ended(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence)
    for action, status in (("activate", "active"), ("pause", "paused"), ("activate", "active"), ("end", "ended")):
        response = _action(client, marketer, brand, offer, action)
        assert response.status_code == 200, (action, response.get_json())
        assert response.get_json()["status"] == status


@pytest.mark.parametrize(("setup", "action"), [
    ([], "pause"),
    (["activate"], "activate"),
    (["activate", "pause"], "pause"),
    (["end"], "activate"),
    (["end"], "pause"),
    (["end"], "end"),
], ids=["pause-a-draft", "activate-twice", "pause-twice", "reactivate-ended", "pause-ended", "end-twice"])
def test_any_other_transition_is_a_conflict(client, marketer, brand, fence, setup, action):
    offer = _created(client, marketer, brand, fence)
    for step in setup:
        assert _action(client, marketer, brand, offer, step).status_code == 200
    status_before = client.get(_offers_url(brand, offer["id"]), headers=marketer).get_json()["status"]
    response = _action(client, marketer, brand, offer, action)
    assert response.status_code == 409 and response.get_json()["reason"] == "invalid_transition"
    assert client.get(_offers_url(brand, offer["id"]), headers=marketer).get_json()["status"] == status_before


def test_activation_needs_a_future_end_and_somewhere_to_trigger(client, marketer, brand, fence):
    nowhere = _created(client, marketer, brand, fence, geofence_ids=[])
    response = _action(client, marketer, brand, nowhere, "activate")
    assert response.status_code == 409 and response.get_json()["reason"] == "offer_incomplete"
    assert "geofence_ids" in response.get_json()["errors"]["offer"]

    past = _created(client, marketer, brand, fence, valid_from="2020-01-01T00:00:00+00:00",
                    valid_until="2020-02-01T00:00:00+00:00")
    response = _action(client, marketer, brand, past, "activate")
    assert response.status_code == 409 and "valid_until" in response.get_json()["errors"]["offer"]
    assert client.get(_offers_url(brand, past["id"]), headers=marketer).get_json()["status"] == "draft"


def test_an_ended_offer_cannot_be_edited(client, marketer, brand, fence):
    offer = _created(client, marketer, brand, fence)
    _action(client, marketer, brand, offer, "end")
    response = client.patch(_offers_url(brand, offer["id"]), json={"max_per_shopper": 2}, headers=marketer)
    assert response.status_code == 409 and response.get_json()["reason"] == "offer_ended"


def test_only_drafts_can_be_deleted(client, marketer, brand, fence):
    live = _created(client, marketer, brand, fence)
    _action(client, marketer, brand, live, "activate")
    refused = client.delete(_offers_url(brand, live["id"]), headers=marketer)
    assert refused.status_code == 409 and refused.get_json()["reason"] == "offer_not_draft"
    draft = _created(client, marketer, brand, fence)
    assert client.delete(_offers_url(brand, draft["id"]), headers=marketer).status_code == 204
    assert client.get(_offers_url(brand, draft["id"]), headers=marketer).status_code == 404
    assert client.get(_offers_url(brand, live["id"]), headers=marketer).status_code == 200


def test_the_list_filters_by_status_and_is_paginated(client, marketer, brand, fence):
    first = _created(client, marketer, brand, fence)
    second = _created(client, marketer, brand, fence)
    _created(client, marketer, brand, fence)
    _action(client, marketer, brand, first, "activate")
    _action(client, marketer, brand, second, "activate")
    response = client.get(_offers_url(brand) + "?status=active&page_size=1", headers=marketer)
    assert response.status_code == 200 and len(response.get_json()) == 1
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    drafts = client.get(_offers_url(brand) + "?status=draft", headers=marketer).get_json()
    assert [offer["status"] for offer in drafts] == ["draft"]
    assert client.get(_offers_url(brand) + "?status=live", headers=marketer).status_code == 422


# --- tenancy and roles --------------------------------------------------------------------------


def test_staff_of_another_brand_are_told_the_offer_does_not_exist(client, marketer, brand, fence, make_brand,
                                                                  make_staff, login):
    offer = _created(client, marketer, brand, fence)
    other = make_brand("Librairie")
    stranger = login(make_staff(Role.BRAND_ADMIN, other))
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"max_per_shopper": 1}), ("DELETE", "", None),
                                 ("POST", "/activate", None), ("POST", "/end", None)):
        mine = client.open(_offers_url(brand, offer["id"]) + suffix, method=method, json=body, headers=stranger)
        assert mine.status_code == 404, (method, suffix)
        # Naming their own brand in the path does not reach the offer either.
        theirs = client.open(_offers_url(other, offer["id"]) + suffix, method=method, json=body, headers=stranger)
        assert theirs.status_code == 404, (method, suffix)
    assert client.get(_offers_url(brand, offer["id"]), headers=marketer).get_json()["status"] == "draft"
    assert client.get(_offers_url(other), headers=stranger).get_json() == []


def test_cashiers_may_not_see_or_manage_offers(client, marketer, brand, store, fence, make_staff, login):
    offer = _created(client, marketer, brand, fence)
    cashier = login(make_staff(Role.CASHIER, brand, [store]))
    assert client.get(_offers_url(brand), headers=cashier).status_code == 403
    assert _action(client, cashier, brand, offer, "activate").status_code == 403
