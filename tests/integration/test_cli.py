"""The ``wallet`` command line: the first platform admin, and the OpenAPI drift check."""

from sqlalchemy import select

from tests.conftest import PASSWORD
from wallet.auth.models import Role, StaffMember
from wallet.extensions import db


def test_create_admin_makes_a_platform_admin_who_can_sign_in(app, client):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "Root@Example.com"], env={"WALLET_ADMIN_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output
    admin = db.session.scalar(select(StaffMember).where(StaffMember.email == "root@example.com"))
    assert admin.role == Role.PLATFORM_ADMIN and admin.brand_id is None
    response = client.post("/v1/auth/staff/sign-in", json={"email": "root@example.com", "password": PASSWORD})
    assert response.status_code == 200


def test_create_admin_refuses_a_short_password_and_a_duplicate(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-admin", "--email", "a@example.com"], env={"WALLET_ADMIN_PASSWORD": "short"})
    assert short.exit_code != 0 and "characters" in short.output
    runner.invoke(args=["create-admin", "--email", "a@example.com"], env={"WALLET_ADMIN_PASSWORD": PASSWORD})
    again = runner.invoke(args=["create-admin", "--email", "a@example.com"], env={"WALLET_ADMIN_PASSWORD": PASSWORD})
    assert again.exit_code != 0 and "exists" in again.output


def test_export_openapi_check_passes_on_the_committed_document(app):
    result = app.test_cli_runner().invoke(args=["export-openapi", "--check"])
    assert result.exit_code == 0, result.output


def test_export_openapi_runs_without_a_secret_and_every_other_command_needs_one(monkeypatch):
    from click.testing import CliRunner

    from wallet.cli import main
    from wallet.config import ConfigurationError

    monkeypatch.delenv("WALLET_SECRET_KEY", raising=False)
    monkeypatch.setenv("WALLET_DATABASE_URL", "sqlite://")
    exported = CliRunner().invoke(main, ["export-openapi", "--check"])
    assert exported.exit_code == 0, exported.output
    for command in (["purge"], ["worker", "--once"], ["seed-demo"], ["db", "upgrade"]):
        refused = CliRunner().invoke(main, command)
        assert isinstance(refused.exception, ConfigurationError), (command, refused.output)
        assert "WALLET_SECRET_KEY is not set" in str(refused.exception)
