"""Bad input gets a clear 4xx in the one error format, and changes nothing."""

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from wallet.auth.models import Shopper
from wallet.core.error_catalogue import DOC_PATH
from wallet.core.errors import HTTP_REASONS, _reason_of
from wallet.extensions import db

SIGN_UP = "/v1/auth/shoppers"


def _shopper_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Shopper))


def _assert_error(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status and body["reason"] == reason and body["message"]
    return body


def test_malformed_json_is_a_400_json_error_and_creates_nothing(client):
    response = client.post(SIGN_UP, data='{"email": "a@b.fr", ', content_type="application/json")
    _assert_error(response, 400, "malformed_json")
    assert _shopper_count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": 42, "password": PASSWORD, "display_name": "A"}, "email"),
        ({"email": "a@b.fr", "password": ["x"], "display_name": "A"}, "password"),
        ({"email": "a@b.fr", "password": PASSWORD, "display_name": "A", "is_admin": True}, "is_admin"),
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "A"}, "email"),
        ({"email": "a@b.fr", "password": "short", "display_name": "A"}, "password"),
        ({"email": "a@b.fr", "password": PASSWORD, "display_name": "A", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"email": "a@b.fr", "password": PASSWORD}, "display_name"),
    ],
    ids=["wrong-type", "list-password", "unknown-field", "invalid-email", "short-password", "bad-zone", "missing"],
)
def test_invalid_fields_are_a_422_naming_the_field(client, payload, field):
    body = _assert_error(client.post(SIGN_UP, json=payload), 422, "validation_failed")
    assert field in body["errors"]["json"]
    assert _shopper_count() == 0


def test_a_json_array_instead_of_an_object_is_refused(client):
    _assert_error(client.post(SIGN_UP, json=[1, 2, 3]), 422, "validation_failed")


def test_oversized_body_is_a_413_json_error(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    payload = '{"email": "a@b.fr", "display_name": "' + "x" * (limit + 1) + '"}'
    body = _assert_error(client.post(SIGN_UP, data=payload, content_type="application/json"), 413,
                         "request_entity_too_large")
    assert str(limit) in body["message"]
    assert _shopper_count() == 0


def test_unknown_path_is_a_404_json_error(client):
    _assert_error(client.get("/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_405_json_error_with_allow(client):
    response = client.put("/v1/catalogue/brands")
    _assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_malformed_uuid_in_path_is_a_404(client):
    _assert_error(client.get("/v1/catalogue/brands/not-a-uuid"), 404, "not_found")


def test_unexpected_failure_is_a_500_json_error_without_details(app, client, monkeypatch):
    from wallet.brands import services

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "list_catalogue", explode)
    body = _assert_error(client.get("/v1/catalogue/brands"), 500, "internal_error")
    assert "secret" not in body["message"]


@pytest.mark.parametrize("query", ["page=0", "page_size=1000", "page=abc"])
def test_bad_pagination_arguments_are_a_422(client, query):
    _assert_error(client.get(f"/v1/catalogue/brands?{query}"), 422, "validation_failed")


def test_the_http_layer_answers_with_the_reasons_it_declares(client):
    for status in (404, 405, 413):
        assert _reason_of(status) in HTTP_REASONS and HTTP_REASONS[_reason_of(status)][0] == status
    answers = [client.get("/v1/no-such-thing"), client.delete("/v1/catalogue/brands"),
               client.post("/v1/auth/shoppers", data="{", content_type="application/json")]
    assert [answer.get_json()["reason"] for answer in answers] == ["not_found", "method_not_allowed", "malformed_json"]
    assert {answer.get_json()["reason"] for answer in answers} <= set(re.findall(r"^\| `([a-z0-9_]+)` \|", DOC_PATH.read_text(), flags=re.M))
