"""Geofences: circles and GeoJSON polygons around stores, validated, tenant-scoped, and seen by the
in-process index as soon as they change."""

import json

import pytest

from wallet.auth.models import Role
from wallet.geo import services as geo

SQUARE = {"type": "Polygon", "coordinates": [[[2.3500, 48.8570], [2.3510, 48.8570], [2.3510, 48.8578],
                                              [2.3500, 48.8578], [2.3500, 48.8570]]]}


@pytest.fixture
def brand(make_brand):
    return make_brand("Lumière")


@pytest.fixture
def store(make_store, brand):
    return make_store(brand, "Châtelet", lat=48.85745, lon=2.35104)


@pytest.fixture
def marketer(make_staff, brand, login):
    return login(make_staff(Role.MARKETER, brand))


def _circle(lon=2.35104, lat=48.85745, radius=50):
    return {"center": {"type": "Point", "coordinates": [lon, lat]}, "radius_m": radius}


def test_a_marketer_draws_a_circle_and_a_polygon_and_reads_them_back_as_geojson(client, brand, store, marketer):
    url = f"/v1/brands/{brand.id}/geofences"
    circle = client.post(url, json={"store_id": str(store.id), "name": "Door", "circle": _circle()}, headers=marketer)
    assert circle.status_code == 201
    assert circle.get_json()["kind"] == "circle" and circle.get_json()["circle"]["radius_m"] == 50
    polygon = client.post(url, json={"store_id": str(store.id), "name": "Shop", "polygon": SQUARE}, headers=marketer)
    assert polygon.status_code == 201
    body = polygon.get_json()
    assert body["kind"] == "polygon" and body["polygon"]["type"] == "Polygon" and body["circle"] is None
    ring = body["polygon"]["coordinates"][0]
    assert {tuple(p) for p in ring} == {tuple(p) for p in SQUARE["coordinates"][0]}
    listed = client.get(f"{url}?store_id={store.id}", headers=marketer).get_json()
    assert {g["name"] for g in listed} == {"Door", "Shop"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"polygon": {"type": "Polygon", "coordinates": [[[2.35, 48.85], [2.36, 48.86], [2.35, 48.86], [2.36, 48.85],
                                                         [2.35, 48.85]]]}}, "self-intersection"),
        ({"polygon": {"type": "Polygon", "coordinates": [[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86],
                                                         [2.35, 48.86]]]}}, "not closed"),
        # Tokyo, written [lat, lon]: the "latitude" 139.76 cannot be one.
        ({"polygon": {"type": "Polygon", "coordinates": [[[35.68, 139.76], [35.69, 139.76], [35.69, 139.77],
                                                         [35.68, 139.76]]]}}, "swapped"),
        ({"polygon": {"type": "Polygon", "coordinates": []}}, "empty"),
        ({"polygon": {"type": "Polygon", "coordinates": [[[2.35 + i * 1e-5, 48.85 + (i % 2) * 1e-5]
                                                          for i in range(2100)] + [[2.35, 48.85]]]}}, "maximum"),
        ({"polygon": {"type": "Point", "coordinates": [2.35, 48.85]}}, "Polygon"),
        ({"circle": _circle(radius=5)}, "radius_m"),
        ({"circle": _circle(radius=20_000)}, "radius_m"),
        ({"circle": _circle(lat=95)}, "latitude"),
        ({"circle": _circle(), "polygon": SQUARE}, "not both"),
        ({}, "circle or a polygon"),
    ],
    ids=["self-intersection", "unclosed", "swapped", "empty", "too-many-vertices", "not-a-polygon",
         "tiny-circle", "huge-circle", "bad-latitude", "both", "neither"],
)
def test_invalid_shapes_are_422_with_a_message_that_says_what_is_wrong(client, brand, store, marketer, payload,
                                                                       message):
    response = client.post(f"/v1/brands/{brand.id}/geofences", json={"store_id": str(store.id), "name": "X",
                                                                      **payload}, headers=marketer)
    assert response.status_code == 422
    assert message in json.dumps(response.get_json())


def test_a_fence_for_another_brands_store_is_refused(client, brand, marketer, make_brand, make_store):
    foreign = make_store(make_brand("Other"))
    response = client.post(f"/v1/brands/{brand.id}/geofences",
                           json={"store_id": str(foreign.id), "name": "X", "circle": _circle()}, headers=marketer)
    assert response.status_code == 422 and "store_id" in response.get_json()["errors"]["json"]


def test_fence_changes_reach_the_index_at_once(app, client, brand, store, marketer):
    url = f"/v1/brands/{brand.id}/geofences"
    assert geo.current_index().index.locate(48.85745, 2.35104) == []
    fence = client.post(url, json={"store_id": str(store.id), "name": "Door", "circle": _circle()},
                        headers=marketer).get_json()
    hits = geo.current_index().index.locate(48.85745, 2.35104)
    assert [h.fence_id for h in hits] == [fence["id"]] and hits[0].distance_m == pytest.approx(-50, abs=0.01)
    client.patch(f"{url}/{fence['id']}", json={"circle": _circle(radius=80)}, headers=marketer)
    assert geo.current_index().index.locate(48.85745, 2.35104)[0].distance_m == pytest.approx(-80, abs=0.01)
    client.patch(f"{url}/{fence['id']}", json={"active": False}, headers=marketer)
    assert geo.current_index().index.locate(48.85745, 2.35104) == []
    client.patch(f"{url}/{fence['id']}", json={"active": True}, headers=marketer)
    assert client.delete(f"{url}/{fence['id']}", headers=marketer).status_code == 204
    assert geo.current_index().index.locate(48.85745, 2.35104) == []


def test_the_index_is_rebuilt_only_when_the_version_moves(app, make_geofence, store):
    make_geofence(store)
    first = geo.current_index()
    assert geo.current_index().index is first.index
    make_geofence(store, name="Second")
    assert geo.current_index().index is not first.index and len(geo.current_index().index) == 2


def test_the_polygon_column_is_a_real_postgis_geometry(app, make_geofence, store):
    import shapely
    import sqlalchemy as sa

    from wallet.extensions import db

    fence = make_geofence(store, polygon=shapely.Polygon([(2.35, 48.857), (2.351, 48.857), (2.351, 48.8578),
                                                          (2.35, 48.8578)]))
    inside = db.session.execute(sa.text(
        "SELECT ST_Covers(area, ST_SetSRID(ST_MakePoint(2.3505, 48.8574), 4326)) FROM geofences WHERE id = :id"),
        {"id": fence.id}).scalar()
    assert inside is True
