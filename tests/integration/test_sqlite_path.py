"""What `make run` does, on the embedded SQLite database: migrate, seed the demo, sign in as each role."""

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from tests.conftest import TEST_CONFIG, bearer
from wallet import create_app
from wallet.auth.models import Shopper, StaffMember
from wallet.brands.models import Brand, Store
from wallet.demo import DEMO_POS_KEY, PASSWORD, SHOPPER, seed_demo
from wallet.extensions import db


@pytest.fixture
def sqlite_app(tmp_path):
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}"})
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_demo_seed_is_idempotent_and_every_printed_account_signs_in(sqlite_app):
    first = seed_demo()
    counts = [db.session.scalar(select(func.count()).select_from(model)) for model in (Brand, Store, StaffMember)]
    second = seed_demo()
    assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Brand, Store, StaffMember)] == counts
    assert first.accounts == second.accounts and counts[0] == 3 and counts[1] >= 5
    assert db.session.scalar(select(func.count()).select_from(Shopper)) == 1

    client = sqlite_app.test_client()
    text = first.describe(base_url="http://127.0.0.1:5000")
    for role, email in first.accounts:
        assert email in text
        path = "/v1/auth/shoppers/sign-in" if role == "shopper" else "/v1/auth/staff/sign-in"
        response = client.post(path, json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, (role, email, response.get_json())
        me = client.get("/v1/me" if role == "shopper" else "/v1/staff/me",
                        headers=bearer(response.get_json()["access_token"]))
        assert me.status_code == 200
    till = client.get("/v1/pos/context", headers={"X-API-Key": DEMO_POS_KEY})
    assert till.status_code == 200 and till.get_json()["brand_name"] == "Boulangerie Lumière"


def test_the_demo_shopper_shows_a_member_card_the_demo_till_recognises(sqlite_app):
    seed_demo()
    client = sqlite_app.test_client()
    tokens = client.post("/v1/auth/shoppers/sign-in", json={"email": SHOPPER, "password": PASSWORD}).get_json()
    shopper = bearer(tokens["access_token"])
    cards = client.get("/v1/me/cards?near=48.8575,2.3510", headers=shopper).get_json()
    assert len(cards) == 3 and cards[0]["kind"] == "member" and cards[-1]["shop_name"] == "Fromagerie du Marché"
    live = client.get(f"/v1/me/cards/{cards[0]['id']}/pass", headers=shopper).get_json()["current_code"]
    scan = client.post("/v1/pos/scan", json={"code": live}, headers={"X-API-Key": DEMO_POS_KEY})
    assert scan.status_code == 200 and scan.get_json()["member"]["display_name"] == "Camille Martin"


def test_stores_round_trip_their_geometry_on_sqlite(sqlite_app):
    seed_demo()
    client = sqlite_app.test_client()
    brand = db.session.scalar(select(Brand).where(Brand.name == "Maison Verte"))
    stores = client.get(f"/v1/catalogue/brands/{brand.id}/stores").get_json()
    assert {tuple(s["location"]["coordinates"]) for s in stores} == {(2.37, 48.85365), (2.3379, 48.8846)}


def test_health_and_readiness_on_sqlite(sqlite_app):
    client = sqlite_app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}
    docs = client.get("/docs")
    assert docs.status_code == 200
    # The UI's scripts are served by us, not fetched from a CDN.
    assert b"/docs/assets/swagger-ui-bundle.js" in docs.data
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with client.get(f"/docs/assets/{asset}") as response:  # closes the streamed file
            assert response.status_code == 200 and len(response.data) > 1000


def test_a_walk_into_the_demo_store_enters_issues_and_leaves_on_sqlite(sqlite_app):
    """The location pipeline's statements (lock, presence read and upsert, last fix) on SQLite."""
    import datetime as dt
    import math

    from wallet.core.time import utcnow
    from wallet.geo.models import LastFix, Presence

    seed_demo()
    client = sqlite_app.test_client()
    tokens = client.post("/v1/auth/shoppers/sign-in", json={"email": SHOPPER, "password": PASSWORD}).get_json()
    shopper = bearer(tokens["access_token"])
    store = db.session.scalar(select(Store).where(Store.name == "Lumière Châtelet"))
    lat, lon = store.location.y, store.location.x
    now = utcnow()

    def fix(north_m: float, seconds_ago: int) -> dict:
        return {"lat": lat + math.degrees(north_m / 6_371_008.8), "lon": lon, "accuracy_m": 5,
                "recorded_at": (now - dt.timedelta(seconds=seconds_ago)).isoformat()}

    walk_in = client.post("/v1/me/locations", headers=shopper,
                          json={"fixes": [fix(120, 300), fix(60, 290), fix(0, 280), fix(2, 270), fix(0, 260)]})
    assert walk_in.status_code == 200, walk_in.get_json()
    answer = walk_in.get_json()
    assert [e["type"] for e in answer["events"]] == ["enter"]
    assert len(answer["coupons"]) == 1 and answer["coupons"][0]["trigger"] == "enter"
    [coupon] = answer["coupons"]
    listed = client.get(f"/v1/me/coupons/{coupon['id']}", headers=shopper).get_json()
    assert (coupon["title"], coupon["locale"], coupon["reward"]) == (listed["title"], listed["locale"], listed["reward"])
    assert coupon["issued_at"] == listed["issued_at"] and coupon["title"] == "Un croissant offert"
    assert answer["monitor"]["regions"][0]["distance_m"] < 0  # inside the Châtelet fence's circle
    walk_out = client.post("/v1/me/locations", headers=shopper,
                           json={"fixes": [fix(150, 100), fix(200, 90), fix(200, 80)]})
    assert [e["type"] for e in walk_out.get_json()["events"]] == ["exit"]
    rows = db.session.execute(select(Presence.inside, Presence.exited_at)).all()
    assert len(rows) == 1 and rows[0].inside is False and rows[0].exited_at is not None
    assert db.session.scalar(select(func.count()).select_from(LastFix)) == 1


def test_the_demo_till_credits_the_demo_member_fills_her_stamp_card_and_redeems_the_reward(sqlite_app):
    seed_demo()
    client = sqlite_app.test_client()
    tokens = client.post("/v1/auth/shoppers/sign-in", json={"email": SHOPPER, "password": PASSWORD}).get_json()
    shopper = bearer(tokens["access_token"])
    card = client.get("/v1/me/cards?near=48.8575,2.3510", headers=shopper).get_json()[0]
    live = client.get(f"/v1/me/cards/{card['id']}/pass", headers=shopper).get_json()["current_code"]
    till = {"X-API-Key": DEMO_POS_KEY}
    scan = client.post("/v1/pos/scan", json={"code": live}, headers=till).get_json()
    assert scan["loyalty"]["stamp_card_size"] == 5 and scan["loyalty"]["balance"] == 0
    answers = [client.post("/v1/pos/purchases", headers=till, json={
        "member_token": scan["member_token"], "amount_minor": 1250, "currency": "EUR",
        "order_reference": f"DEMO-{n}"}) for n in range(5)]
    assert [answer.status_code for answer in answers] == [201] * 5
    last = answers[-1].get_json()
    assert (last["balance"], last["stamps"]) == (60, 0)
    [reward] = last["rewards_issued"]
    assert reward["title"] == "Une viennoiserie offerte" and reward["usable"]
    redeemed = client.post("/v1/pos/redemptions", headers={**till, "Idempotency-Key": "demo-1"},
                           json={"redemption_token": reward["redemption_token"], "order_reference": "DEMO-5"})
    assert redeemed.status_code == 201 and redeemed.get_json()["coupon"]["status"] == "redeemed"
    mine = client.get(f"/v1/me/loyalty/{scan['brand_id']}", headers=shopper).get_json()
    assert mine["balance"] == 60
