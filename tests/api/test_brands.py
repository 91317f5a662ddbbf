"""Brands, stores, staff and POS keys, as their administrators and the public catalogue see them."""

import json

import pytest

from tests.conftest import PASSWORD
from wallet.auth.models import Role

STORE = {
    "name": "Rivoli",
    "street": "12 rue de Rivoli",
    "postal_code": "75004",
    "city": "Paris",
    "location": {"type": "Point", "coordinates": [2.35104, 48.85745]},
}


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière", card_number_pattern=r"^\d{13}$", default_symbology="ean13")


@pytest.fixture
def admin(make_staff, brand, login):
    return login(make_staff(Role.BRAND_ADMIN, brand))


@pytest.fixture
def platform(make_staff, login):
    return login(make_staff(Role.PLATFORM_ADMIN))


def test_platform_admin_creates_a_brand_and_names_are_unique_regardless_of_case(client, platform):
    created = client.post("/v1/brands", json={"name": "Maison Verte", "primary_color": "#2E7D32",
                                              "card_number_pattern": r"^MV\d{8}$"}, headers=platform)
    assert created.status_code == 201
    assert created.get_json()["default_symbology"] == "code128" and created.get_json()["listed"] is True
    again = client.post("/v1/brands", json={"name": "maison verte"}, headers=platform)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "primary_color": "red"}, "primary_color"),
        ({"name": "X", "card_number_pattern": "(unclosed"}, "card_number_pattern"),
        ({"name": "X", "default_symbology": "pdf417"}, "default_symbology"),
        ({"name": "X", "logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_brand_fields_are_refused(client, platform, payload, field):
    response = client.post("/v1/brands", json=payload, headers=platform)
    assert response.status_code == 422 and field in response.get_json()["errors"]["json"]


def test_brand_admin_updates_own_brand(client, brand, admin):
    response = client.patch(f"/v1/brands/{brand.id}", json={"description": "Pain au levain", "listed": False},
                            headers=admin)
    assert response.status_code == 200 and response.get_json()["description"] == "Pain au levain"


def test_brand_list_shows_staff_only_their_brand(client, make_brand, brand, admin, platform):
    make_brand("Other")
    assert [b["name"] for b in client.get("/v1/brands", headers=admin).get_json()] == ["Lumière"]
    assert len(client.get("/v1/brands", headers=platform).get_json()) == 2


def test_store_lifecycle_with_geojson_location(client, brand, admin):
    created = client.post(f"/v1/brands/{brand.id}/stores", json=STORE, headers=admin)
    assert created.status_code == 201
    store = created.get_json()
    assert store["location"] == STORE["location"] and store["time_zone"] == "Europe/Paris"
    assert store["country_code"] == "FR"
    url = f"/v1/brands/{brand.id}/stores/{store['id']}"
    moved = client.patch(url, json={"location": {"type": "Point", "coordinates": [2.36, 48.858]},
                                    "time_zone": "Europe/Paris"}, headers=admin)
    assert moved.get_json()["location"]["coordinates"] == [2.36, 48.858]
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ({"type": "Point", "coordinates": [48.85745, 182.35]}, "latitude"),
        ({"type": "Point", "coordinates": [2.35, 91]}, "swapped"),
        ({"type": "Point", "coordinates": ["2.35", 48.8]}, "finite number"),
        ({"type": "Point", "coordinates": [2.35]}, "[longitude, latitude]"),
        ({"type": "Polygon", "coordinates": []}, "GeoJSON Point"),
        ([2.35, 48.85], "GeoJSON Point"),
    ],
)
def test_out_of_range_or_malformed_store_locations_are_422_with_a_message(client, brand, admin, location, message):
    response = client.post(f"/v1/brands/{brand.id}/stores", json={**STORE, "location": location}, headers=admin)
    assert response.status_code == 422
    assert message in json.dumps(response.get_json()["errors"]["json"]["location"])


def test_store_time_zone_must_be_iana(client, brand, admin):
    response = client.post(f"/v1/brands/{brand.id}/stores", json={**STORE, "time_zone": "CET+1"}, headers=admin)
    assert response.status_code == 422 and "time_zone" in response.get_json()["errors"]["json"]


def test_another_brands_store_is_not_found_even_through_the_right_brand_admin(
    client, brand, admin, make_brand, make_store
):
    other_store = make_store(make_brand("Other"))
    # The store exists, but not under this brand: same answer as a store that does not exist.
    assert client.get(f"/v1/brands/{brand.id}/stores/{other_store.id}", headers=admin).status_code == 404
    assert client.patch(f"/v1/brands/{other_store.brand_id}/stores/{other_store.id}", json={"name": "Mine"},
                        headers=admin).status_code == 404


def test_lists_are_paginated(client, brand, admin, make_store):
    for index in range(5):
        make_store(brand, f"Store {index}")
    response = client.get(f"/v1/brands/{brand.id}/stores?page=2&page_size=2", headers=admin)
    assert [s["name"] for s in response.get_json()] == ["Store 2", "Store 3"]
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 5 and pagination["total_pages"] == 3 and pagination["page"] == 2


def test_brand_admin_manages_staff_and_cashiers_are_scoped_to_their_stores(client, brand, admin, make_store,
                                                                              make_brand):
    store = make_store(brand)
    foreign_store = make_store(make_brand("Other"))
    base = {"email": "till@lumiere.fr", "password": PASSWORD, "display_name": "Till", "role": "cashier"}
    no_store = client.post(f"/v1/brands/{brand.id}/staff", json=base, headers=admin)
    assert no_store.status_code == 422 and "store_ids" in no_store.get_json()["errors"]["json"]
    foreign = client.post(f"/v1/brands/{brand.id}/staff", json={**base, "store_ids": [str(foreign_store.id)]},
                          headers=admin)
    assert foreign.status_code == 422
    created = client.post(f"/v1/brands/{brand.id}/staff", json={**base, "store_ids": [str(store.id)]}, headers=admin)
    assert created.status_code == 201 and created.get_json()["store_ids"] == [str(store.id)]
    duplicate = client.post(f"/v1/brands/{brand.id}/staff", json={**base, "store_ids": [str(store.id)]},
                            headers=admin)
    assert duplicate.status_code == 409
    marketer_with_store = client.post(
        f"/v1/brands/{brand.id}/staff",
        json={**base, "email": "m@lumiere.fr", "role": "marketer", "store_ids": [str(store.id)]}, headers=admin)
    assert marketer_with_store.status_code == 422
    promoted = client.patch(f"/v1/brands/{brand.id}/staff/{created.get_json()['id']}", json={"role": "marketer"},
                            headers=admin)
    assert promoted.status_code == 200 and promoted.get_json()["store_ids"] == []


def test_brand_admins_cannot_create_platform_admins(client, brand, admin):
    response = client.post(f"/v1/brands/{brand.id}/staff", json={
        "email": "boss@lumiere.fr", "password": PASSWORD, "display_name": "Boss", "role": "platform_admin"},
        headers=admin)
    assert response.status_code == 422


def test_an_admin_cannot_lock_themselves_out(client, brand, make_staff, login):
    me = make_staff(Role.BRAND_ADMIN, brand)
    headers = login(me)
    url = f"/v1/brands/{brand.id}/staff/{me.id}"
    assert client.patch(url, json={"is_active": False}, headers=headers).status_code == 409
    assert client.patch(url, json={"role": "marketer"}, headers=headers).status_code == 409
    assert client.delete(url, headers=headers).status_code == 409


def test_pos_key_is_shown_once_listed_by_prefix_and_stops_working_when_revoked(client, brand, admin, make_store):
    store = make_store(brand)
    created = client.post(f"/v1/brands/{brand.id}/pos-keys", json={"name": "Till 1", "store_id": str(store.id)},
                          headers=admin).get_json()
    key = created["key"]
    assert key.startswith(created["prefix"] + "_")
    listed = client.get(f"/v1/brands/{brand.id}/pos-keys", headers=admin).get_json()
    assert [k["prefix"] for k in listed] == [created["prefix"]] and "key" not in listed[0]

    context = client.get("/v1/pos/context", headers={"X-API-Key": key})
    assert context.status_code == 200 and context.get_json()["store_ids"] == [str(store.id)]

    revoked = client.delete(f"/v1/brands/{brand.id}/pos-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    refused = client.get("/v1/pos/context", headers={"X-API-Key": key})
    assert refused.status_code == 401 and refused.get_json()["reason"] == "invalid_api_key"
    assert client.get(f"/v1/brands/{brand.id}/pos-keys", headers=admin).get_json() == []
    assert len(client.get(f"/v1/brands/{brand.id}/pos-keys?include_revoked=true", headers=admin).get_json()) == 1


def test_pos_key_for_another_brands_store_is_refused(client, brand, admin, make_brand, make_store):
    foreign = make_store(make_brand("Other"))
    response = client.post(f"/v1/brands/{brand.id}/pos-keys", json={"name": "T", "store_id": str(foreign.id)},
                           headers=admin)
    assert response.status_code == 422


def test_a_forged_api_key_is_401(client):
    assert client.get("/v1/pos/context", headers={"X-API-Key": "wk_deadbeef_forged"}).status_code == 401


def test_public_catalogue_lists_only_listed_brands_and_their_stores(client, make_brand, make_store):
    listed = make_brand("Lumière")
    hidden = make_brand("Secret", listed=False)
    make_store(listed, "Rivoli")
    names = [b["name"] for b in client.get("/v1/catalogue/brands").get_json()]
    assert names == ["Lumière"]
    assert "listed" not in client.get(f"/v1/catalogue/brands/{listed.id}").get_json()
    assert client.get(f"/v1/catalogue/brands/{hidden.id}").status_code == 404
    assert client.get(f"/v1/catalogue/brands/{hidden.id}/stores").status_code == 404
    assert [s["name"] for s in client.get(f"/v1/catalogue/brands/{listed.id}/stores").get_json()] == ["Rivoli"]
    assert [b["name"] for b in client.get("/v1/catalogue/brands?q=lumi").get_json()] == ["Lumière"]
    assert client.get("/v1/catalogue/brands?q=%25").get_json() == []
