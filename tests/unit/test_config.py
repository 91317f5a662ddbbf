"""Configuration: environment variables apply, and production refuses to start without secrets."""

import pytest

from wallet import create_app
from wallet.config import DEV_SECRET, ConfigurationError


def test_prefixed_environment_variables_override_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("WALLET_ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("WALLET_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    app = create_app()
    assert app.config["ACCESS_TOKEN_TTL"] == 60
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.db")


def test_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("WALLET_ACCESS_TOKEN_TTL", "60")
    assert create_app({"ACCESS_TOKEN_TTL": 30, "DATABASE_URL": "sqlite://"}).config["ACCESS_TOKEN_TTL"] == 30


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "postgresql+psycopg://db/wallet"}, "development default"),
        ({"SECRET_KEY": "x" * 40}, "WALLET_DATABASE_URL is not set"),
        ({"SECRET_KEY": "short", "DATABASE_URL": "postgresql+psycopg://db/wallet"}, "at least 32"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(monkeypatch, overrides, message):
    monkeypatch.delenv("WALLET_DATABASE_URL", raising=False)
    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=message):
        create_app({"ENV": "production", "SECRET_KEY": DEV_SECRET, **overrides})


def test_production_starts_with_its_secrets():
    app = create_app({"ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql+psycopg://db/w"})
    assert app.config["ENV"] == "production"


@pytest.mark.parametrize("radius", ["far", 0, -5, float("nan"), True])
def test_a_monitor_radius_that_is_not_a_distance_stops_the_start(radius):
    with pytest.raises(ConfigurationError, match="MONITOR_RADIUS_M"):
        create_app({"DATABASE_URL": "sqlite://", "MONITOR_RADIUS_M": radius})


def test_the_monitor_radius_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WALLET_MONITOR_RADIUS_M", "2500")
    assert create_app({"DATABASE_URL": "sqlite://"}).config["MONITOR_RADIUS_M"] == 2500


@pytest.mark.parametrize("value", ["ten a minute", "10/fortnight", ""])
def test_a_rate_limit_setting_that_is_not_a_rate_limit_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("WALLET_RATE_LIMIT_SIGN_IN", value)
    with pytest.raises(ConfigurationError, match="WALLET_RATE_LIMIT_SIGN_IN"):
        create_app({"DATABASE_URL": "sqlite://"})
