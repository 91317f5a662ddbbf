"""Readiness says whether the database answers; liveness only that the process does."""

from tests.conftest import TEST_CONFIG
from wallet import create_app


def test_readyz_is_ok_on_a_reachable_database(client):
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable_while_healthz_stays_200():
    app = create_app({**TEST_CONFIG, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}}})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["database"] == "unreachable"
    assert client.get("/healthz").status_code == 200
