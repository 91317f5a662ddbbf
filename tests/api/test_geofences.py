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
        ({}, "no shape"),
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


def _count_fences() -> int:
    import sqlalchemy as sa

    from wallet.extensions import db
    from wallet.geo.models import Geofence

    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Geofence))


def _refused(response, reason: str) -> dict:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["reason"] == reason and body["code"] == 422
    return body


def test_a_fence_with_neither_shape_says_what_is_missing(client, brand, store, marketer):
    body = _refused(client.post(f"/v1/brands/{brand.id}/geofences", json={"store_id": str(store.id), "name": "X"},
                                headers=marketer), "validation_failed")
    assert "no shape" in body["message"] and "not both" not in json.dumps(body)
    assert set(body["errors"]["json"]) == {"circle", "polygon"}


# The polygon: 0.02° of longitude across ±180°, which planar longitude/latitude reads as the
# whole equator but for that sliver.
ACROSS = {"type": "Polygon", "coordinates": [[[179.99, 0], [-179.99, 0], [-179.99, 0.01], [179.99, 0.01],
                                              [179.99, 0]]]}


@pytest.mark.parametrize(("shape", "where"), [
    ({"polygon": ACROSS}, (0.005, 179.995)),
    ({"polygon": {"type": "MultiPolygon", "coordinates": [  # cut in two at ±180° as RFC 7946 §3.1.9 has it
        [[[179.99, 0], [180, 0], [180, 0.01], [179.99, 0.01], [179.99, 0]]],
        [[[-180, 0], [-179.99, 0], [-179.99, 0.01], [-180, 0.01], [-180, 0]]]]}}, (0.005, 179.995)),
    ({"circle": _circle(lon=179.9995, lat=-16.8, radius=100)}, (-16.8, 179.9995)),
    ({"circle": _circle(lon=-179.9995, lat=-16.8, radius=100)}, (-16.8, -179.9995)),
    ({"circle": _circle(lon=0, lat=89.9995, radius=100)}, (89.9995, 0)),  # round the pole: every longitude
], ids=["polygon-across", "multipolygon-cut-at-180", "circle-east", "circle-west", "circle-round-the-pole"])
def test_a_fence_across_the_antimeridian_is_refused_with_its_own_reason(client, brand, make_store, marketer, shape,
                                                                      where):
    store = make_store(brand, "Taveuni", lat=where[0], lon=where[1])
    body = _refused(client.post(f"/v1/brands/{brand.id}/geofences", json={"store_id": str(store.id), "name": "X",
                                                                         **shape}, headers=marketer),
                    "crosses_antimeridian")
    assert "±180" in body["message"] and list(body["errors"]["json"]) == list(shape)
    assert _count_fences() == 0 and geo.current_index().index.nearest(where[0], where[1]) == []


def test_a_fence_beside_the_antimeridian_is_accepted(client, brand, make_store, marketer):
    store = make_store(brand, "Taveuni", lat=-16.8, lon=179.99)
    response = client.post(f"/v1/brands/{brand.id}/geofences", json={
        "store_id": str(store.id), "name": "X", "circle": _circle(lon=179.99, lat=-16.8, radius=100)}, headers=marketer)
    assert response.status_code == 201


@pytest.mark.parametrize("shape", [
    {"circle": _circle(lon=48.85745, lat=2.35104)},
    {"polygon": {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in SQUARE["coordinates"][0]]]}},
], ids=["circle", "polygon"])
def test_a_paris_fence_drawn_with_latitude_and_longitude_swapped_is_refused_and_the_message_says_so(
        client, brand, store, marketer, shape):
    body = _refused(client.post(f"/v1/brands/{brand.id}/geofences", json={"store_id": str(store.id), "name": "X",
                                                                         **shape}, headers=marketer),
                    "geofence_too_far_from_store")
    assert "swapped" in body["message"] and list(body["errors"]["json"]) == list(shape)
    assert _count_fences() == 0


def test_every_point_of_a_fence_must_lie_within_the_configured_distance_of_its_store(app, client, brand, store,
                                                                                     marketer, monkeypatch):
    url = f"/v1/brands/{brand.id}/geofences"

    def draw(circle):
        return client.post(url, json={"store_id": str(store.id), "name": "X", "circle": circle}, headers=marketer)

    bastille = _circle(lon=2.3692, lat=48.8532, radius=50)  # 1.4 km from the store
    assert draw(bastille).status_code == 201
    body = _refused(draw(_circle(lon=2.3692, lat=48.8532, radius=700)), "geofence_too_far_from_store")
    assert "2.11 km" in body["message"] and "2.00 km" in body["message"] and "swapped" not in body["message"]
    _refused(draw(_circle(radius=2_050)), "geofence_too_far_from_store")
    assert draw(_circle(radius=1_950)).status_code == 201
    monkeypatch.setitem(app.config, "GEOFENCE_MAX_STORE_DISTANCE_M", 1_000)
    _refused(draw(bastille), "geofence_too_far_from_store")
    assert _count_fences() == 2


def test_a_polygon_must_fit_in_the_largest_circle(app, client, brand, store, marketer, monkeypatch):
    monkeypatch.setitem(app.config, "GEOFENCE_MAX_STORE_DISTANCE_M", 50_000)
    # A 24 km long sliver of 2.4 km²: small, but wider than any circular fence may be.
    sliver = {"type": "Polygon", "coordinates": [[[2.19, 48.857], [2.51, 48.857], [2.51, 48.858], [2.19, 48.858],
                                                  [2.19, 48.857]]]}
    body = _refused(client.post(f"/v1/brands/{brand.id}/geofences", json={
        "store_id": str(store.id), "name": "X", "polygon": sliver}, headers=marketer), "geofence_too_large")
    assert "10.00 km" in body["message"]
    assert _count_fences() == 0


def test_changing_a_fences_shape_or_store_keeps_it_near_its_store(client, brand, store, marketer, make_store):
    url = f"/v1/brands/{brand.id}/geofences"
    fence = client.post(url, json={"store_id": str(store.id), "name": "Door", "circle": _circle()},
                        headers=marketer).get_json()
    _refused(client.patch(f"{url}/{fence['id']}", json={"circle": _circle(lon=2.3, lat=48.9)}, headers=marketer),
             "geofence_too_far_from_store")
    _refused(client.patch(f"{url}/{fence['id']}", json={"polygon": ACROSS}, headers=marketer),
             "crosses_antimeridian")
    far_store = make_store(brand, "La Défense", lat=48.8918, lon=2.2385)
    body = _refused(client.patch(f"{url}/{fence['id']}", json={"store_id": str(far_store.id)}, headers=marketer),
                    "geofence_too_far_from_store")
    assert list(body["errors"]["json"]) == ["store_id"]
    unchanged = client.get(f"{url}/{fence['id']}", headers=marketer).get_json()
    assert unchanged["store_id"] == str(store.id) and unchanged["circle"] == fence["circle"]
    moved = client.patch(f"{url}/{fence['id']}", json={"store_id": str(far_store.id),
                                                       "circle": _circle(lon=2.2385, lat=48.8918)}, headers=marketer)
    assert moved.status_code == 200 and moved.get_json()["store_id"] == str(far_store.id)


def test_a_store_cannot_move_away_from_its_active_fences(client, brand, store, marketer, make_staff, login):
    admin = login(make_staff(Role.BRAND_ADMIN, brand))
    fences = f"/v1/brands/{brand.id}/geofences"
    fence = client.post(fences, json={"store_id": str(store.id), "name": "Door", "circle": _circle()},
                        headers=marketer).get_json()
    store_url = f"/v1/brands/{brand.id}/stores/{store.id}"
    la_defense = {"location": {"type": "Point", "coordinates": [2.2385, 48.8918]}}
    body = _refused(client.patch(store_url, json=la_defense, headers=admin), "geofence_too_far_from_store")
    assert "Door" in body["message"] and list(body["errors"]["json"]) == ["location"]
    assert client.get(store_url, headers=admin).get_json()["location"]["coordinates"] == [2.35104, 48.85745]
    nearby = {"location": {"type": "Point", "coordinates": [2.3515, 48.8577]}}  # across the street
    assert client.patch(store_url, json=nearby, headers=admin).status_code == 200
    # An inactive fence does not hold the store; it is checked again when it is turned back on.
    assert client.patch(f"{fences}/{fence['id']}", json={"active": False}, headers=marketer).status_code == 200
    assert client.patch(store_url, json=la_defense, headers=admin).status_code == 200
    body = _refused(client.patch(f"{fences}/{fence['id']}", json={"active": True}, headers=marketer),
                    "geofence_too_far_from_store")
    assert list(body["errors"]["json"]) == ["active"]
    assert client.patch(f"{fences}/{fence['id']}", json={"name": "Old door"}, headers=marketer).status_code == 200


def test_fences_written_before_the_rules_never_reach_the_index_or_the_phones(app, client, brand, store,
                                                                              make_geofence, make_shopper, login,
                                                                              make_staff, caplog):
    import shapely

    from wallet.core.transaction import transaction
    from wallet.geo.geometry import circle
    from wallet.geo.models import CIRCLE, POLYGON, Geofence
    from tests.conftest import bump_geofence_version_for_tests

    real = make_geofence(store)
    across = shapely.Polygon(ACROSS["coordinates"][0])
    swapped = circle(2.35104, 48.85745, 50)
    legacy = [Geofence(brand_id=brand.id, store_id=store.id, name="Across", kind=POLYGON, area=across),
              Geofence(brand_id=brand.id, store_id=store.id, name="Swapped", kind=CIRCLE,
                       center=shapely.Point(48.85745, 2.35104), radius_m=50, area=swapped.to_polygon())]
    with transaction() as session:
        session.add_all(legacy)
        bump_geofence_version_for_tests()
    loaded = geo.current_index()
    assert set(loaded.fences) == {str(real.id)} and len(loaded.index) == 1
    assert "left out of the index" in caplog.text
    shopper = login(make_shopper(consents={"location": True}))
    for lat, lon in ((48.85745, 2.35104), (0.005, 0.0), (2.35104, 48.85745)):
        regions = client.get(f"/v1/me/geofences/nearby?lat={lat}&lon={lon}", headers=shopper).get_json()["regions"]
        assert [r["geofence_id"] for r in regions] in ([str(real.id)], [])
        assert all(r["radius_m"] <= 10_000 for r in regions)
    # Such a fence can be deactivated, but not changed while active without being put right.
    url = f"/v1/brands/{brand.id}/geofences"
    marketer = login(make_staff(Role.MARKETER, brand))
    body = _refused(client.patch(f"{url}/{legacy[1].id}", json={"name": "Renamed"}, headers=marketer),
                    "geofence_too_far_from_store")
    assert list(body["errors"]["json"]) == ["circle"] and "swapped" in body["message"]
    assert client.patch(f"{url}/{legacy[0].id}", json={"active": False}, headers=marketer).status_code == 200
