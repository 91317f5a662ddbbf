"""Shopper sign-up and profile, sign-in for both audiences, refresh rotation, sign-out, throttling."""

import datetime as dt
import uuid

import jwt
import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, bearer
from wallet.auth.models import ConsentEvent, Role
from wallet.core.time import utcnow
from wallet.extensions import db


def _sign_up(client, email="camille@example.com", **extra):
    return client.post(
        "/v1/auth/shoppers", json={"email": email, "password": PASSWORD, "display_name": "Camille", **extra}
    )


def test_sign_up_returns_the_profile_with_every_consent_off_and_working_tokens(client):
    response = _sign_up(client, email="  Camille@Example.COM ")
    assert response.status_code == 201
    body = response.get_json()
    assert body["shopper"]["email"] == "camille@example.com"
    assert body["shopper"]["consents"] == {"location": False, "marketing": False}
    assert body["shopper"]["locale"] == "fr-FR" and body["shopper"]["time_zone"] == "Europe/Paris"
    uuid.UUID(body["shopper"]["id"])
    me = client.get("/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.get_json()["id"] == body["shopper"]["id"]


TOKEN_FIELDS = {"token_type", "access_token", "expires_in", "refresh_token", "refresh_expires_in"}


def test_sign_up_sign_in_and_refresh_give_their_tokens_in_one_shape(client, make_brand, make_staff):
    """The tokens are top-level fields of every answer that hands them out; sign-up adds the profile."""
    signed_up = _sign_up(client, email="one@example.com").get_json()
    signed_in = client.post("/v1/auth/shoppers/sign-in", json={"email": "one@example.com", "password": PASSWORD})
    staff = make_staff(Role.BRAND_ADMIN, make_brand())
    staff_in = client.post("/v1/auth/staff/sign-in", json={"email": staff.email, "password": PASSWORD})
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": signed_up["refresh_token"]})
    assert set(signed_up) == TOKEN_FIELDS | {"shopper"}
    for answer in (signed_in.get_json(), staff_in.get_json(), refreshed.get_json()):
        assert set(answer) == TOKEN_FIELDS and answer["token_type"] == signed_up["token_type"] == "Bearer"
    assert client.get("/v1/me", headers=bearer(refreshed.get_json()["access_token"])).status_code == 200


def test_the_spec_documents_the_one_token_shape(app):
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    schemas = spec["components"]["schemas"]

    def answer(path, status):
        ref = spec["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]["properties"]

    assert set(answer("/v1/auth/shoppers", "201")) == TOKEN_FIELDS | {"shopper"}
    for path in ("/v1/auth/shoppers/sign-in", "/v1/auth/staff/sign-in", "/v1/auth/refresh"):
        assert set(answer(path, "200")) == TOKEN_FIELDS


def test_sign_up_twice_with_one_email_is_a_conflict(client):
    assert _sign_up(client).status_code == 201
    response = _sign_up(client, email="CAMILLE@example.com")
    assert response.status_code == 409 and response.get_json()["reason"] == "email_taken"


def test_consents_given_at_sign_up_and_changed_later_are_recorded_with_their_source(client):
    body = _sign_up(client, consents={"location": True}).get_json()
    headers = bearer(body["access_token"])
    assert body["shopper"]["consents"] == {"location": True, "marketing": False}
    response = client.patch("/v1/me", json={"consents": {"location": False, "marketing": True}}, headers=headers)
    assert response.get_json()["consents"] == {"location": False, "marketing": True}
    client.patch("/v1/me", json={"consents": {"marketing": True}}, headers=headers)  # no change, no event
    events = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.recorded_at, ConsentEvent.consent)).all()
    assert [(e.consent, e.granted, e.source) for e in events] == [
        ("location", True, "sign_up"),
        ("location", False, "profile"),
        ("marketing", True, "profile"),
    ]


def test_profile_update_validates_time_zone_locale_and_birthday(client):
    headers = bearer(_sign_up(client).get_json()["access_token"])
    for payload in ({"time_zone": "Europe/Pariss"}, {"locale": "french"}, {"birthday": "1990-02-30"}):
        assert client.patch("/v1/me", json=payload, headers=headers).status_code == 422
    ok = client.patch("/v1/me", json={"time_zone": "America/Montreal", "birthday": "1990-02-28"}, headers=headers)
    assert ok.status_code == 200
    assert ok.get_json()["time_zone"] == "America/Montreal" and ok.get_json()["birthday"] == "1990-02-28"


def test_shopper_sign_in_with_the_right_password_gives_tokens_and_a_wrong_one_401(client, make_shopper):
    shopper = make_shopper(email="lea@example.com")
    good = client.post("/v1/auth/shoppers/sign-in", json={"email": "LEA@example.com", "password": PASSWORD})
    assert good.status_code == 200 and good.get_json()["token_type"] == "Bearer"
    bad = client.post("/v1/auth/shoppers/sign-in", json={"email": shopper.email, "password": "wrong-password!"})
    assert bad.status_code == 401 and bad.get_json()["reason"] == "invalid_credentials"
    unknown = client.post("/v1/auth/shoppers/sign-in", json={"email": "nobody@example.com", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.get_json()["message"] == bad.get_json()["message"]


def test_staff_sign_in_and_staff_profile(client, make_brand, make_store, make_staff):
    brand = make_brand()
    store = make_store(brand)
    cashier = make_staff(Role.CASHIER, brand, [store])
    tokens = client.post("/v1/auth/staff/sign-in", json={"email": cashier.email, "password": PASSWORD}).get_json()
    me = client.get("/v1/staff/me", headers=bearer(tokens["access_token"])).get_json()
    assert me["role"] == "cashier" and me["brand_id"] == str(brand.id) and me["store_ids"] == [str(store.id)]


def test_repeated_failed_sign_ins_lock_the_account_even_for_the_right_password(app, client, make_shopper):
    shopper = make_shopper()
    limit = app.config["SIGN_IN_MAX_FAILURES"]
    for _ in range(limit):
        response = client.post("/v1/auth/shoppers/sign-in", json={"email": shopper.email, "password": "nope-nope-1"})
        assert response.status_code == 401
    locked = client.post("/v1/auth/shoppers/sign-in", json={"email": shopper.email, "password": PASSWORD})
    assert locked.status_code == 429 and locked.get_json()["reason"] == "sign_in_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= app.config["SIGN_IN_LOCKOUT"] + 1
    # The lock is per account: another shopper still signs in.
    other = client.post("/v1/auth/shoppers", json={"email": "other@example.com", "password": PASSWORD,
                                                   "display_name": "O"})
    assert other.status_code == 201


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(client, make_shopper):
    shopper = make_shopper()
    first = client.post("/v1/auth/shoppers/sign-in", json={"email": shopper.email, "password": PASSWORD}).get_json()
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/v1/me", headers=bearer(second["access_token"])).status_code == 200

    replay = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.get_json()["reason"] == "token_reused"
    # Theft suspected: the whole session is gone, including the newest tokens.
    assert client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert client.get("/v1/me", headers=bearer(second["access_token"])).status_code == 401


def test_an_unknown_refresh_token_is_401(client):
    assert client.post("/v1/auth/refresh", json={"refresh_token": "made-up"}).status_code == 401


def test_sign_out_revokes_the_access_and_refresh_tokens_of_that_session_only(client, make_shopper):
    shopper = make_shopper()
    sign_in = {"email": shopper.email, "password": PASSWORD}
    phone = client.post("/v1/auth/shoppers/sign-in", json=sign_in).get_json()
    tablet = client.post("/v1/auth/shoppers/sign-in", json=sign_in).get_json()
    assert client.post("/v1/auth/sign-out", headers=bearer(phone["access_token"])).status_code == 204
    assert client.get("/v1/me", headers=bearer(phone["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}).status_code == 401
    assert client.get("/v1/me", headers=bearer(tablet["access_token"])).status_code == 200


def _claims(app, token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _forge(app, claims: dict, key: str | None = None) -> str:
    return jwt.encode(claims, key or "access-token:" + app.config["SECRET_KEY"], algorithm="HS256")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: {**c, "exp": int((utcnow() - dt.timedelta(minutes=1)).timestamp())}, "token_expired"),
        (lambda c: {**c, "aud": "wallet:partner"}, "invalid_token"),
        (lambda c: {**c, "iss": "someone-else"}, "invalid_token"),
        (lambda c: {k: v for k, v in c.items() if k != "sid"}, "invalid_token"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "no-session"],
)
def test_expired_or_foreign_tokens_are_401(app, client, make_shopper, login, mutate, reason):
    token = login(make_shopper())["Authorization"].split()[1]
    forged = _forge(app, mutate(_claims(app, token)))
    response = client.get("/v1/me", headers=bearer(forged))
    assert response.status_code == 401 and response.get_json()["reason"] == reason
    assert "Bearer" in response.headers["WWW-Authenticate"]


def _clock_at(monkeypatch, moment: dt.datetime) -> None:
    """The time the token check reads (the signature is verified once per token, the times every time)."""
    monkeypatch.setattr("wallet.auth.tokens.utcnow", lambda: moment)


def test_a_token_that_passed_before_is_refused_once_it_has_expired(app, client, make_shopper, login, monkeypatch):
    headers = login(make_shopper())
    assert client.get("/v1/me", headers=headers).status_code == 200  # verified, and remembered
    ttl = dt.timedelta(seconds=app.config["ACCESS_TOKEN_TTL"])
    _clock_at(monkeypatch, utcnow() + ttl - dt.timedelta(seconds=30))
    assert client.get("/v1/me", headers=headers).status_code == 200
    _clock_at(monkeypatch, utcnow() + ttl + dt.timedelta(seconds=30))
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401 and response.get_json()["reason"] == "token_expired"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_a_clock_ahead_of_ours_is_refused_until_its_time(app, client, make_shopper, login, monkeypatch,
                                                                         claim):
    token = login(make_shopper())["Authorization"].split()[1]
    claims = _claims(app, token)
    ahead = utcnow() + dt.timedelta(minutes=5)
    claims = {**claims, claim: int(ahead.timestamp()), "exp": int((ahead + dt.timedelta(minutes=15)).timestamp())}
    early = _forge(app, claims)
    for _ in range(2):  # refused, and again once its signature is known to be good
        response = client.get("/v1/me", headers=bearer(early))
        assert response.status_code == 401 and response.get_json()["reason"] == "invalid_token"
    _clock_at(monkeypatch, ahead + dt.timedelta(seconds=1))
    assert client.get("/v1/me", headers=bearer(early)).status_code == 200


def test_claims_of_the_wrong_type_are_401_not_500(app, client, make_shopper, login):
    token = login(make_shopper())["Authorization"].split()[1]
    claims = _claims(app, token)
    for bad in ({**claims, "exp": "tomorrow"}, {**claims, "sub": 42}, {**claims, "sid": "not-a-uuid"},
                {**claims, "iat": None}):
        response = client.get("/v1/me", headers=bearer(_forge(app, bad)))
        assert response.status_code == 401 and response.get_json()["reason"] == "invalid_token", bad


def test_tampered_and_unsigned_tokens_are_401(app, client, make_shopper, login):
    token = login(make_shopper())["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    other_key = _forge(app, _claims(app, token), key="not-our-secret-not-our-secret-0000")
    unsigned = jwt.encode(_claims(app, token), key=None, algorithm="none")
    for bad in (tampered, other_key, unsigned, "garbage", ""):
        assert client.get("/v1/me", headers=bearer(bad)).status_code == 401
    assert client.get("/v1/me", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_a_deactivated_staff_member_is_signed_out_everywhere(client, make_brand, make_staff, login):
    brand = make_brand()
    admin = make_staff(Role.BRAND_ADMIN, brand)
    marketer = make_staff(Role.MARKETER, brand)
    marketer_headers = login(marketer)
    response = client.patch(f"/v1/brands/{brand.id}/staff/{marketer.id}", json={"is_active": False},
                            headers=login(admin))
    assert response.status_code == 200
    assert client.get("/v1/staff/me", headers=marketer_headers).status_code == 401
    sign_in = client.post("/v1/auth/staff/sign-in", json={"email": marketer.email, "password": PASSWORD})
    assert sign_in.status_code == 401
