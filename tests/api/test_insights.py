"""Offer funnels for brand staff: exact figures of a scripted scenario, small counts withheld,
CSV and pictures, and only the brand's own analysts may look."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from tests.conftest import PASSWORD
from tests.insight_support import CHATELET_FIGURES, TOTAL_FIGURES, build_scenario
from tests.push_support import clock, make_dispatcher  # noqa: F401  (fixtures)
from wallet.auth.models import Role
from wallet.brands.models import Store
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
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
