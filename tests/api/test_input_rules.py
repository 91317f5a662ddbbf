"""Input rules every route shares: text a database can store, one-line names and references, JSON
nested within bounds, strict booleans, times within the calendar in UTC, pages within 64-bit
offsets, a JSON object wherever a body is taken. Each refusal is a 4xx in the one error format
and writes nothing."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.loyalty_support import enrol, issue, make_offer, member_token, purchase, set_program
from wallet.auth.models import Role, Shopper
from wallet.brands.models import Brand
from wallet.extensions import db
from wallet.loyalty.models import Purchase

SIGN_UP = "/v1/auth/shoppers"


def _sign_up(**fields):
    return {"email": f"s-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "display_name": "Camille",
            **fields}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _refused(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status and body["reason"] == reason and body["message"]
    return body


def _json(text: str) -> dict:
    return {"data": text, "content_type": "application/json"}


# --- text a database can store -------------------------------------------------------------------


@pytest.mark.parametrize("body, path", [
    ('{"email": "a@b.fr", "password": "correct-horse-battery", "display_name": "Ca\\u0000mille"}', ["display_name"]),
    ('{"email": "a@b.fr", "password": "correct-horse-battery", "display_name": "Ca\\ud800mille"}', ["display_name"]),
    ('{"email": "a@b.fr", "password": "correct-horse-\\u0000battery", "display_name": "Camille"}', ["password"]),
    ('{"email": "a@b.fr", "password": "correct-horse-battery", "display_name": "C", '
     '"consents": {"marketing\\u0000": true}}', ["consents", "marketing\x00".replace("\x00", "\ufffd")]),
    ('{"email": "a@b.fr", "password": "correct-horse-battery", "display_name": "C", '
     '"consents": {"x": [1, {"y": "\\udfff"}]}}', ["consents", "x", "1", "y"]),
], ids=["nul", "lone-surrogate", "nul-in-password", "nul-in-a-key", "surrogate-deep-in-a-list"])
def test_nul_and_lone_surrogates_anywhere_in_a_body_are_refused_naming_where(client, body, path):
    errors = _refused(client.post(SIGN_UP, **_json(body)), 422, "validation_failed")["errors"]["json"]
    for part in path:
        errors = errors[part]
    assert errors == ["Text must not contain NUL characters or unpaired surrogates."]
    assert _count(Shopper) == 0


def test_a_surrogate_pair_is_a_character_like_any_other(client):
    response = client.post(SIGN_UP, **_json('{"email": "emoji@example.com", "password": "correct-horse-battery", '
                                            '"display_name": "Camille \\ud83d\\ude00"}'))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["shopper"]["display_name"] == "Camille \U0001f600"


@pytest.mark.parametrize("query", ["q=a%00b", "a%00=1", "q=ok&q=a%00"])
def test_nul_in_the_query_string_is_refused_anonymously(client, query):
    body = _refused(client.get(f"/v1/catalogue/brands?{query}"), 422, "validation_failed")
    assert list(body["errors"]) == ["query"]


def test_a_body_that_is_not_utf8_is_malformed_even_on_the_fast_paths(client, make_shopper, login):
    shopper = login(make_shopper())
    raw = b'{"fixes": [{"lat": 48.85, "lon": 2.35, "accuracy_m": 5, "recorded_at": "\xed\xa0\x80"}]}'
    _refused(client.post("/v1/me/locations", data=raw, content_type="application/json", headers=shopper),
             400, "malformed_json")
    _refused(client.post(SIGN_UP, data=b'{"display_name": "\xff"}', content_type="application/json"),
             400, "malformed_json")


# --- nesting depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SIGN_UP, "/v1/me/locations", "/v1/pos/purchases", "/v1/pos/scan"])
def test_json_nested_a_thousand_levels_deep_is_malformed_on_any_endpoint(client, path):
    deep = '{"fixes": ' + "[" * 1000 + "]" * 1000 + "}"
    body = _refused(client.post(path, **_json(deep)), 400, "malformed_json")
    assert "64 levels" in body["message"]


def test_json_within_the_depth_limit_is_read_by_the_schema(client):
    nested = '{"display_name": ' + "[" * 63 + "]" * 63 + "}"
    assert "display_name" in _refused(client.post(SIGN_UP, **_json(nested)), 422, "validation_failed")["errors"]["json"]


def test_brackets_inside_strings_do_not_count_as_depth(client):
    response = client.post(SIGN_UP, json=_sign_up(display_name="[" * 150))
    assert response.status_code == 422  # too long a name, not too deep a document
    assert "display_name" in response.get_json()["errors"]["json"]


# --- single-line text ------------------------------------------------------------------------------


@pytest.fixture
def till_and_member(client, make_brand, make_store, make_staff, make_shopper, login):
    brand = make_brand("Lumière")
    set_program(brand)
    store = make_store(brand)
    till = login(make_staff(Role.CASHIER, brand, [store]))
    return till, enrol(make_shopper(), brand)


@pytest.mark.parametrize("reference", ["abc\n", "abc\t", "a\x7fbc", "abc\u2028"])
def test_an_order_reference_with_a_control_character_is_refused(client, till_and_member, reference):
    till, member = till_and_member
    token = member_token(client, till, member)
    body = _refused(purchase(client, till, token, 1000, order_reference=reference), 422, "validation_failed")
    assert "order_reference" in body["errors"]["json"]
    assert _count(Purchase) == 0
    assert purchase(client, till, token, 1000, order_reference="abc").status_code == 201


@pytest.mark.parametrize("field, value", [("display_name", "Camille\nMartin"), ("display_name", "Ca\tmille"),
                                          ("email", "a@b\n.fr"), ("locale", "fr\r")])
def test_names_and_emails_are_single_lines(client, field, value):
    body = _refused(client.post(SIGN_UP, json=_sign_up(**{field: value})), 422, "validation_failed")
    assert field in body["errors"]["json"]
    assert _count(Shopper) == 0


def test_descriptions_keep_their_line_breaks_but_no_other_control_character(client, make_staff, login):
    admin = login(make_staff(Role.PLATFORM_ADMIN))
    created = client.post("/v1/brands", json={"name": "Lumière", "description": "Pain.\n\tViennoiseries."},
                          headers=admin)
    assert created.status_code == 201 and created.get_json()["description"] == "Pain.\n\tViennoiseries."
    refused = client.post("/v1/brands", json={"name": "Autre", "description": "Pain\x07"}, headers=admin)
    assert "description" in _refused(refused, 422, "validation_failed")["errors"]["json"]
    assert _count(Brand) == 1


# --- booleans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("consents", [{"marketing": "yes"}, {"location": 1}, {"location": "true"}, {"marketing": 0}])
def test_consents_are_json_booleans_and_nothing_else(client, consents):
    body = _refused(client.post(SIGN_UP, json=_sign_up(consents=consents)), 422, "validation_failed")
    assert set(body["errors"]["json"]["consents"]) == set(consents)
    assert _count(Shopper) == 0


def test_a_brand_flag_is_a_json_boolean(client, make_staff, make_brand, login):
    admin = login(make_staff(Role.PLATFORM_ADMIN))
    brand = make_brand("Lumière")
    _refused(client.patch(f"/v1/brands/{brand.id}", json={"listed": 0}, headers=admin), 422, "validation_failed")
    assert client.patch(f"/v1/brands/{brand.id}", json={"listed": False}, headers=admin).get_json()["listed"] is False


@pytest.mark.parametrize("value, status", [("true", 200), ("false", 200), ("1", 422), ("yes", 422)])
def test_query_string_flags_are_the_words_true_and_false(client, make_staff, make_brand, login, value, status):
    brand = make_brand("Lumière")
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    assert client.get(f"/v1/brands/{brand.id}/pos-keys?include_revoked={value}", headers=admin).status_code == status


# --- times -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("recorded_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:30:00-05:00"])
def test_a_fix_whose_time_leaves_the_calendar_in_utc_is_refused(client, make_shopper, login, recorded_at):
    shopper = login(make_shopper(consents={"location": True}))
    fix = {"lat": 48.85, "lon": 2.35, "accuracy_m": 5, "recorded_at": recorded_at}
    for batch in ({"fixes": [fix]}, {"fixes": [{**fix, "mocked": False, "speed_mps": None}]}):
        body = _refused(client.post("/v1/me/locations", json=batch, headers=shopper), 422, "validation_failed")
        assert "recorded_at" in body["errors"]["json"]["fixes"]["0"]


def test_an_offer_valid_from_before_year_1_in_utc_is_refused(client, make_brand, make_staff, login):
    brand = make_brand("Lumière")
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    offer = {"reward": {"type": "percent_off", "percent": 10},
             "content": {lang: {"title": "T", "description": "D"} for lang in ("fr", "en")},
             "valid_from": "0001-01-01T00:00:00+01:00", "valid_until": "2030-01-01T00:00:00Z", "all_stores": True}
    body = _refused(client.post(f"/v1/brands/{brand.id}/offers", json=offer, headers=admin), 422, "validation_failed")
    assert "valid_from" in body["errors"]["json"]


@pytest.mark.parametrize("query, field", [("to=9999-12-31", "to"), ("from=9999-12-30", "from"),
                                          ("to=0001-01-02", "to")])
def test_a_funnel_range_at_the_ends_of_the_calendar_is_refused(client, make_brand, make_staff, login, query, field):
    brand = make_brand("Lumière")
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    offer = make_offer(brand)
    for path in ("funnel", "funnel/rows", "funnel.csv", "funnel/chart"):
        response = client.get(f"/v1/brands/{brand.id}/offers/{offer.id}/{path}?{query}", headers=admin)
        assert field in _refused(response, 422, "validation_failed")["errors"]["query"], path


# --- pagination ------------------------------------------------------------------------------------


def _paginated_lists(app: Flask) -> list[str]:
    rules = []
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        get = getattr(view_class, "get", None)
        if get is not None and "pagination" in getattr(get, "_apidoc", {}):
            rules.append(rule.rule)
    return sorted(rules)


def test_every_paginated_list_is_found(app):
    assert len(_paginated_lists(app)) == 18


def test_pages_beyond_64_bit_offsets_are_refused_on_every_list(app, client, make_brand, make_staff, make_shopper,
                                                                login):
    brand = make_brand("Lumière")
    shopper = login(make_shopper())
    admin = login(make_staff(Role.PLATFORM_ADMIN))
    for rule in _paginated_lists(app):
        path = re.sub(r"<uuid:brand_id>", str(brand.id), rule)
        path = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), path)
        headers = shopper if rule.startswith("/v1/me") else admin
        for query in ("page=922337203685477582", "page=92233720368547759&page_size=100", f"page={10**30}"):
            response = client.get(f"{path}?{query}", headers=headers)
            assert "page" in _refused(response, 422, "validation_failed")["errors"]["query"], (rule, query)


def test_the_last_page_within_64_bit_offsets_is_an_empty_page(client):
    response = client.get(f"/v1/catalogue/brands?page={(2**63 - 1) // 100}&page_size=100")
    assert response.status_code == 200 and response.get_json() == []


# --- request bodies --------------------------------------------------------------------------------


def _patch_routes(app: Flask) -> list[str]:
    return sorted(rule.rule for rule in app.url_map.iter_rules() if "PATCH" in rule.methods)


def test_every_patch_without_a_body_is_refused(app, client, make_brand, make_staff, make_shopper, login):
    brand = make_brand("Lumière", listed=True)
    shopper = login(make_shopper())
    admin = login(make_staff(Role.PLATFORM_ADMIN))
    routes = _patch_routes(app)
    assert len(routes) == 9
    for rule in routes:
        path = re.sub(r"<uuid:brand_id>", str(brand.id), rule)
        path = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), path)
        headers = shopper if rule.startswith("/v1/me") else admin
        for request in ({}, {"data": "", "content_type": "application/json"}, {"data": "{}", "content_type": "text/plain"}):
            response = client.patch(path, headers=headers, **request)
            body = _refused(response, 422, "validation_failed")
            assert "json" in body["errors"], (rule, request)
    assert db.session.get(Brand, brand.id).listed is True


@pytest.mark.parametrize("body", ["[]", "null", '"name"', "5", "true"])
def test_a_body_must_be_a_json_object(client, make_brand, make_staff, login, body):
    brand = make_brand("Lumière")
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    response = client.patch(f"/v1/brands/{brand.id}", headers=admin, **_json(body))
    assert _refused(response, 422, "validation_failed")["errors"]["json"]
    response = client.post(SIGN_UP, **_json(body))
    assert _refused(response, 422, "validation_failed")["errors"]["json"]


# --- headers ---------------------------------------------------------------------------------------


def test_barcode_images_leave_the_date_header_to_the_server(client, make_brand, make_store, make_geofence,
                                                           make_shopper, login):
    brand = make_brand("Lumière")
    fence = make_geofence(make_store(brand))
    shopper = make_shopper()
    enrol(shopper, brand)
    make_offer(brand, [fence])
    [coupon] = issue(shopper, fence)
    headers = login(shopper)
    card = client.post("/v1/me/cards", json={"shop_name": "Corner", "number": "C-1", "symbology": "code128"},
                       headers=headers).get_json()
    for path in (f"/v1/me/cards/{card['id']}/barcode?format=svg", f"/v1/me/coupons/{coupon.id}/barcode"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200 and response.headers.getlist("Date") == [], path
