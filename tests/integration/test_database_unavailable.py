"""A database the app cannot reach answers 503 with Retry-After in the one error format, never 500;
errors that are the statement's own stay 500s."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import exc

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.core.errors import is_database_unavailable


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once the probe is closed: nothing listens there


@pytest.fixture(params=["postgresql", "sqlite"])
def unreachable_app(request, tmp_path):
    if request.param == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/wallet"
    else:
        url = f"sqlite:///{tmp_path / 'missing-directory' / 'wallet.db'}"
    return create_app({**TEST_CONFIG, "DATABASE_URL": url, "DATABASE_RETRY_AFTER": 7})


@pytest.mark.parametrize("method, path, body", [
    ("get", "/v1/catalogue/brands", None),
    ("post", "/v1/auth/shoppers/sign-in", {"email": "a@b.fr", "password": "correct-horse-battery"}),
    ("post", "/v1/pos/scan", {"code": "x"}),
])
def test_an_unreachable_database_is_a_503_with_retry_after(unreachable_app, method, path, body):
    client = unreachable_app.test_client()
    response = getattr(client, method)(path, json=body, headers={"X-API-Key": "wk_abcdefgh_secret"})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "7"
    error = response.get_json()
    assert error["code"] == 503 and error["reason"] == "database_unavailable" and error["message"]
    assert unreachable_app.test_client().get("/readyz").status_code == 503


class _StatementError(Exception):
    sqlstate = "23505"  # unique_violation: the database answered


def test_a_refused_statement_is_not_an_outage():
    error = exc.OperationalError("INSERT ...", {}, _StatementError("duplicate key"))
    assert not is_database_unavailable(error)
    assert not is_database_unavailable(exc.IntegrityError("INSERT ...", {}, _StatementError("duplicate key")))
    lost = exc.OperationalError("SELECT 1", {}, _StatementError("server closed the connection"),
                                connection_invalidated=True)
    assert is_database_unavailable(lost)
