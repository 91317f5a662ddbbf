"""Offer funnels for brand staff: exact figures of a scripted scenario, small counts withheld,
CSV and pictures, and only the brand's own analysts may look."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.insight_support import CHATELET, CHATELET_FIGURES, TOTAL_FIGURES, build_scenario, walk_in
from tests.push_support import clock, make_dispatcher  # noqa: F401  (fixtures)
from wallet.auth.models import Role
from wallet.brands.models import Store
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import Geofence, Presence
from wallet.offers.models import Coupon
from wallet.privacy.retention import purge_expired


@pytest.fixture
def scenario(client, make_brand, make_store, make_geofence, make_shopper, make_staff, login, make_dispatcher):  # noqa: F811
    return build_scenario(client, make_brand=make_brand, make_store=make_store, make_geofence=make_geofence,
                          make_shopper=make_shopper, make_staff=make_staff, login=login,
                          make_dispatcher=make_dispatcher)


@pytest.fixture
def marketer(scenario, make_staff, login):
    return login(make_staff(Role.MARKETER, scenario.brand))


def _range() -> str:
    today = utcnow().date()
    return f"from={today - dt.timedelta(days=1)}&to={today}"


def _url(scenario, suffix: str = "") -> str:
    return f"/v1/brands/{scenario.brand.id}/offers/{scenario.offer.id}/funnel{suffix}"


def _figures(row: dict) -> dict:
    return {key: value for key, value in row.items() if key in CHATELET_FIGURES}


def test_funnel_figures_match_the_scripted_scenario(client, scenario, marketer):
    response = client.get(f"{_url(scenario)}?{_range()}", headers=marketer)
    assert response.status_code == 200, response.get_json()
    funnel = response.get_json()
    assert funnel["time_zone"] == "UTC" and funnel["min_shoppers"] == 5
    assert _figures(funnel["totals"]) == TOTAL_FIGURES
    assert funnel["totals"]["pushes_suppressed"]["no_device"] == 3
    assert funnel["totals"]["pushes_suppressed"]["no_marketing_consent"] == 1
    assert funnel["totals"]["pushes_suppressed"]["daily_cap"] == 0
    stores = {row["store_name"]: row for row in funnel["by_store"]}
    assert _figures(stores["Châtelet"]) == CHATELET_FIGURES
    assert stores["Châtelet"]["pushes_suppressed"]["no_device"] == 1
    assert len(funnel["by_day"]) == 2


def test_figures_about_fewer_than_five_shoppers_are_withheld(client, scenario, marketer):
    funnel = client.get(f"{_url(scenario)}?{_range()}", headers=marketer).get_json()
    bastille = next(row for row in funnel["by_store"] if row["store_name"] == "Bastille")
    assert bastille["suppressed"] is True
    assert all(bastille[key] is None for key in ("shoppers", "entries", "coupons_issued", "redemptions", "rates",
                                                 "pushes_suppressed"))
    only_bastille = client.get(f"{_url(scenario)}?{_range()}&store_id={scenario.bastille.id}",
                               headers=marketer).get_json()
    assert only_bastille["totals"]["suppressed"] is True and only_bastille["totals"]["entries"] is None


def test_a_higher_threshold_withholds_everything(app, client, scenario, marketer):
    app.config["FUNNEL_MIN_SHOPPERS"] = 9
    try:
        funnel = client.get(f"{_url(scenario)}?{_range()}", headers=marketer).get_json()
    finally:
        app.config["FUNNEL_MIN_SHOPPERS"] = 5
    assert funnel["totals"]["suppressed"] and all(row["suppressed"] for row in funnel["by_store"] + funnel["by_day"])


def test_staff_see_counts_never_shoppers(client, scenario, marketer):
    text = client.get(f"{_url(scenario)}?{_range()}", headers=marketer).get_data(as_text=True)
    text += client.get(f"{_url(scenario, '.csv')}?{_range()}", headers=marketer).get_data(as_text=True)
    for shopper in scenario.shoppers:
        assert str(shopper.id) not in text and shopper.email not in text


def test_rows_are_paginated_by_day_and_store(client, scenario, marketer):
    response = client.get(f"{_url(scenario, '/rows')}?{_range()}&page_size=1", headers=marketer)
    assert response.status_code == 200
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 2 and len(response.get_json()) == 1  # one (day, store) row per store


def test_the_funnel_exports_as_csv_with_withheld_cells_empty(client, scenario, marketer):
    response = client.get(f"{_url(scenario, '.csv')}?{_range()}", headers=marketer)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_store = {row["store_name"]: row for row in rows}
    assert by_store["Châtelet"]["entries"] == "6" and by_store["Châtelet"]["redeemed_value_minor"] == "900"
    assert by_store["Châtelet"]["suppressed_no_device"] == "1"
    assert by_store["Bastille"]["suppressed"] == "true" and by_store["Bastille"]["entries"] == ""


def test_a_store_name_cannot_run_as_a_formula_in_the_csv(client, scenario, marketer):
    with transaction():
        db.session.get(Store, scenario.chatelet.id).name = "\u200b =HYPERLINK(\"http://evil.example\";\"x\")"
    response = client.get(f"{_url(scenario, '.csv')}?{_range()}", headers=marketer)
    names = [row["store_name"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))]
    assert "'\u200b =HYPERLINK(\"http://evil.example\";\"x\")" in names
    # Text cells are quoted, so a spreadsheet splitting on ";" keeps the name in one cell.
    assert '"\'\u200b =HYPERLINK(""http://evil.example"";""x"")"' in response.get_data(as_text=True)


@pytest.mark.parametrize("kind", ["funnel", "daily"])
def test_charts_are_real_png_and_svg(client, scenario, marketer, kind):
    png = client.get(f"{_url(scenario, '/chart')}?{_range()}&kind={kind}&format=png", headers=marketer)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n") and len(png.data) > 2000
    svg = client.get(f"{_url(scenario, '/chart')}?{_range()}&kind={kind}&format=svg", headers=marketer)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data[:1000]


def test_a_chart_of_a_withheld_funnel_says_so(client, scenario, marketer):
    response = client.get(f"{_url(scenario, '/chart')}?{_range()}&store_id={scenario.bastille.id}&format=svg",
                          headers=marketer)
    assert response.status_code == 200 and b"Withheld" in response.data


def test_the_funnel_survives_erasure_and_retention(app, client, scenario, marketer):
    before = client.get(f"{_url(scenario)}?{_range()}", headers=marketer).get_json()
    erased = scenario.shoppers[0]  # redeemed, opened, dwelled
    response = client.delete("/v1/me", json={"password": PASSWORD},
                             headers=scenario.headers[str(erased.id)])
    assert response.status_code == 204, response.get_json()
    unredeemed = scenario.shoppers[4]
    response = client.delete("/v1/me", json={"password": PASSWORD},
                             headers=scenario.headers[str(unredeemed.id)])
    assert response.status_code == 204, response.get_json()
    purge_expired({**app.config, "RETENTION_PUSH_OUTBOX": 0}, now=utcnow() + dt.timedelta(seconds=1))
    after = client.get(f"{_url(scenario)}?{_range()}", headers=marketer).get_json()
    assert after["totals"] == before["totals"] and after["by_store"] == before["by_store"]
    assert after["by_day"] == before["by_day"]


def _everything(client, scenario, marketer, store_id=None) -> dict:
    """The funnel in every form it is read: JSON, rows, CSV and both charts."""
    query = _range() + (f"&store_id={store_id}" if store_id else "")
    readings = {"json": client.get(f"{_url(scenario)}?{query}", headers=marketer),
                "rows": client.get(f"{_url(scenario, '/rows')}?{query}&page_size=100", headers=marketer),
                "csv": client.get(f"{_url(scenario, '.csv')}?{query}", headers=marketer)}
    for kind in ("funnel", "daily"):
        readings[kind] = client.get(f"{_url(scenario, '/chart')}?{query}&kind={kind}&format=svg", headers=marketer)
    assert all(response.status_code == 200 for response in readings.values()), {
        name: response.status_code for name, response in readings.items()}
    return {name: response.get_json() if name in ("json", "rows") else response.data
            for name, response in readings.items()}


def test_the_funnel_reads_the_same_after_its_stores_fences_and_offer_are_deleted(
        client, scenario, marketer, make_staff, login):
    admin = login(make_staff(Role.BRAND_ADMIN, scenario.brand))
    brand = f"/v1/brands/{scenario.brand.id}"
    offer = f"{brand}/offers/{scenario.offer.id}"
    assert client.post(f"{offer}/end", headers=admin).status_code == 200
    before = _everything(client, scenario, marketer)
    before_chatelet = _everything(client, scenario, marketer, scenario.chatelet.id)
    assert before["json"]["by_store"] and before["json"]["totals"]["entries"] == 8
    coupons_before = {coupon.id: (coupon.store_id, coupon.geofence_id) for coupon in scenario.coupons.values()}
    bastille_fence = db.session.scalars(select(Geofence.id).where(Geofence.store_id == scenario.bastille.id)).one()

    assert client.delete(f"{brand}/geofences/{bastille_fence}", headers=admin).status_code == 204
    assert client.delete(f"{brand}/stores/{scenario.chatelet.id}", headers=admin).status_code == 204
    refused = client.delete(offer, headers=admin)
    assert refused.status_code == 409 and refused.get_json()["reason"] == "offer_not_draft"

    assert _everything(client, scenario, marketer) == before
    assert _everything(client, scenario, marketer, scenario.chatelet.id) == before_chatelet
    db.session.expire_all()
    assert {coupon.id: (coupon.store_id, coupon.geofence_id) for coupon in db.session.scalars(
        select(Coupon).where(Coupon.id.in_(coupons_before)))} == coupons_before


def test_a_deleted_store_and_its_fences_leave_every_list_and_stop_triggering(
        client, scenario, marketer, make_staff, make_shopper, login):
    admin = login(make_staff(Role.BRAND_ADMIN, scenario.brand))
    brand = f"/v1/brands/{scenario.brand.id}"
    chatelet = scenario.chatelet.id
    fences = db.session.scalars(select(Geofence.id).where(Geofence.store_id == chatelet)).all()
    cashier = login(make_staff(Role.CASHIER, scenario.brand, [scenario.chatelet, scenario.bastille]))
    assert client.delete(f"{brand}/stores/{chatelet}", headers=admin).status_code == 204

    listed = [store["id"] for store in client.get(f"{brand}/stores", headers=admin).get_json()]
    catalogue = [store["id"] for store in client.get(f"/v1/catalogue/brands/{scenario.brand.id}/stores").get_json()]
    assert str(chatelet) not in listed + catalogue and str(scenario.bastille.id) in listed
    assert client.get(f"{brand}/stores/{chatelet}", headers=admin).status_code == 404
    assert client.patch(f"{brand}/stores/{chatelet}", json={"name": "Back"}, headers=admin).status_code == 404
    assert client.delete(f"{brand}/stores/{chatelet}", headers=admin).status_code == 404
    fence_ids = [fence["id"] for fence in client.get(f"{brand}/geofences", headers=admin).get_json()]
    assert not {str(fence) for fence in fences} & set(fence_ids)
    assert all(client.get(f"{brand}/geofences/{fence}", headers=admin).status_code == 404 for fence in fences)
    new_fence = {"store_id": str(chatelet), "name": "Again",
                 "circle": {"center": {"type": "Point", "coordinates": [CHATELET[1], CHATELET[0]]}, "radius_m": 50}}
    assert client.post(f"{brand}/geofences", json=new_fence, headers=admin).status_code == 422
    assert client.get("/v1/pos/context", headers=cashier).get_json()["store_ids"] == [str(scenario.bastille.id)]

    newcomer = make_shopper(email=f"late-{uuid.uuid4().hex[:6]}@example.com",
                            consents={"location": True, "marketing": True})
    answer = walk_in(client, login(newcomer), CHATELET)
    assert answer["events"] == [] and answer["coupons"] == []
    monitored = {region["geofence_id"] for region in answer["monitor"]["regions"]}
    assert not {str(fence) for fence in fences} & monitored
    assert db.session.scalar(select(func.count()).select_from(Presence).where(Presence.geofence_id.in_(fences))) == 0


@pytest.mark.parametrize("query, field", [
    ("from=2026-03-10&to=2026-03-01", "from"),
    ("from=2024-01-01&to=2026-01-01", "to"),
    ("from=yesterday", "from"),
    ("store_id=not-a-uuid", "store_id"),
])
def test_bad_ranges_are_422_with_the_field(client, scenario, marketer, query, field):
    response = client.get(f"{_url(scenario)}?{query}", headers=marketer)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]


def test_charts_refuse_unknown_kinds_and_formats(client, scenario, marketer):
    assert client.get(f"{_url(scenario, '/chart')}?kind=pie", headers=marketer).status_code == 422
    assert client.get(f"{_url(scenario, '/chart')}?format=gif", headers=marketer).status_code == 422


def test_another_brands_staff_and_stores_get_404(client, scenario, make_staff, make_store, login):
    rival = login(make_staff(Role.BRAND_ADMIN, scenario.other_brand))
    response = client.get(_url(scenario), headers=rival)
    assert response.status_code == 404 and response.get_json()["reason"] == "not_found"
    # The offer through the rival's own brand path is not found either.
    response = client.get(f"/v1/brands/{scenario.other_brand.id}/offers/{scenario.offer.id}/funnel", headers=rival)
    assert response.status_code == 404
    rival_store = make_store(scenario.other_brand, "Rival store")
    admin = login(make_staff(Role.BRAND_ADMIN, scenario.brand))
    assert client.get(f"{_url(scenario)}?store_id={rival_store.id}", headers=admin).status_code == 404


def test_cashiers_pos_keys_and_shoppers_are_refused(client, scenario, make_staff, make_pos_key, login):
    cashier = login(make_staff(Role.CASHIER, scenario.brand, [scenario.chatelet]))
    assert client.get(_url(scenario), headers=cashier).status_code == 403
    assert client.get(_url(scenario), headers={"X-API-Key": make_pos_key(scenario.chatelet)}).status_code == 403
    shopper = scenario.headers[str(scenario.shoppers[0].id)]
    assert client.get(_url(scenario), headers=shopper).status_code == 403
    assert client.get(_url(scenario)).status_code == 401
