"""Configuration: environment variables apply; no process starts without a secret of its own, and
production refuses to start without its database."""

import os
import stat

import pytest

from wallet import create_app
from wallet.config import DEV_SECRET, ConfigurationError
from wallet.local_secret import local_secret


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
        ({"DATABASE_URL": "postgresql+psycopg://db/wallet"}, "published development secret"),
        ({"SECRET_KEY": "x" * 40}, "WALLET_DATABASE_URL is not set"),
        ({"SECRET_KEY": "short", "DATABASE_URL": "postgresql+psycopg://db/wallet"}, "at least 32"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(monkeypatch, overrides, message):
    monkeypatch.delenv("WALLET_DATABASE_URL", raising=False)
    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=message):
        create_app({"ENV": "production", "SECRET_KEY": DEV_SECRET, **overrides})


@pytest.mark.parametrize("env", ["development", "production"])
def test_no_environment_starts_without_a_secret(monkeypatch, env):
    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="WALLET_SECRET_KEY is not set"):
        create_app({"ENV": env, "DATABASE_URL": "sqlite://"})


def test_the_gunicorn_line_without_a_secret_refuses_to_start(monkeypatch):
    """``gunicorn 'wallet:create_app()'`` with nothing but a database: no fallback to a known secret."""
    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    monkeypatch.delenv("WALLET_ENV", raising=False)
    monkeypatch.setenv("WALLET_DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigurationError, match="refusing to start"):
        create_app()


@pytest.mark.parametrize("env", ["development", "production"])
def test_the_published_development_secret_is_refused_everywhere(monkeypatch, env):
    monkeypatch.setenv("WALLET_SECRET_KEY", DEV_SECRET)
    with pytest.raises(ConfigurationError, match="published development secret"):
        create_app({"ENV": env, "DATABASE_URL": "postgresql+psycopg://db/wallet"})


def test_a_short_secret_is_refused_in_development_too():
    with pytest.raises(ConfigurationError, match="at least 32"):
        create_app({"SECRET_KEY": "k" * 31, "DATABASE_URL": "sqlite://"})


def test_the_local_secret_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    path = tmp_path / "instance" / "secret_key"
    first = local_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret(path) == first  # the same on every `make run`: tokens survive a restart
    assert local_secret(tmp_path / "other") != first  # random, not a constant
    assert first != DEV_SECRET
    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    app = create_app({"SECRET_KEY": first, "DATABASE_URL": "sqlite://"})  # the app takes it
    assert app.config["SECRET_KEY"] == first


def test_a_local_secret_file_with_loose_permissions_is_tightened(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("s" * 64 + "\n")
    os.chmod(path, 0o644)
    assert local_secret(path) == "s" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_production_starts_with_its_secrets():
    app = create_app({"ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql+psycopg://db/w"})
    assert app.config["ENV"] == "production"


@pytest.mark.parametrize("key", ["MONITOR_RADIUS_M", "GEOFENCE_MAX_STORE_DISTANCE_M"])
@pytest.mark.parametrize("radius", ["far", 0, -5, float("nan"), True])
def test_a_distance_setting_that_is_not_a_distance_stops_the_start(key, radius):
    with pytest.raises(ConfigurationError, match=key):
        create_app({"DATABASE_URL": "sqlite://", key: radius})


def test_the_distance_from_fence_to_store_is_read_from_the_environment(monkeypatch):
    assert create_app({"DATABASE_URL": "sqlite://"}).config["GEOFENCE_MAX_STORE_DISTANCE_M"] == 2000
    monkeypatch.setenv("WALLET_GEOFENCE_MAX_STORE_DISTANCE_M", "500")
    assert create_app({"DATABASE_URL": "sqlite://"}).config["GEOFENCE_MAX_STORE_DISTANCE_M"] == 500


def test_the_monitor_radius_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WALLET_MONITOR_RADIUS_M", "2500")
    assert create_app({"DATABASE_URL": "sqlite://"}).config["MONITOR_RADIUS_M"] == 2500


def test_the_makefile_helper_prints_the_secret_it_keeps(tmp_path, capsys):
    from wallet.local_secret import main

    assert main([str(tmp_path / "secret_key")]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (tmp_path / "secret_key").read_text().strip() and len(printed) >= 32


@pytest.mark.parametrize("value", ["ten a minute", "10/fortnight", ""])
def test_a_rate_limit_setting_that_is_not_a_rate_limit_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("WALLET_RATE_LIMIT_SIGN_IN", value)
    with pytest.raises(ConfigurationError, match="WALLET_RATE_LIMIT_SIGN_IN"):
        create_app({"DATABASE_URL": "sqlite://"})
