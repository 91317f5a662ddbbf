"""The ``wallet`` command: the Flask CLI plus our own commands (first admin, demo data, OpenAPI, error list,
the push worker, the daily expiry of loyalty points, the retention purge)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = str(ROOT / "migrations")
OPENAPI_PATH = ROOT / "openapi" / "openapi.json"


def openapi_document(app: Flask) -> str:
    """The OpenAPI document as committed: stable key order, trailing newline."""
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return json.dumps(api.spec.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--display-name", default="Platform admin", show_default=True)
@click.password_option(envvar="WALLET_ADMIN_PASSWORD")
@with_appcontext
def create_admin_command(email: str, display_name: str, password: str) -> None:
    """Create the first platform administrator."""
    from wallet.auth.schemas import PASSWORD_MAX, PASSWORD_MIN
    from wallet.auth.services import create_platform_admin
    from wallet.core.errors import WalletError

    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise click.BadParameter(f"passwords have {PASSWORD_MIN} to {PASSWORD_MAX} characters", param_hint="password")
    try:
        admin = create_platform_admin(email=email, password=password, display_name=display_name)
    except WalletError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"platform admin {admin.email} created ({admin.id})")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load the demo brands, Paris stores and accounts (idempotent) and print the credentials."""
    from wallet.demo import seed_demo

    credentials = seed_demo()
    click.echo(credentials.describe(base_url=os.environ.get("WALLET_PUBLIC_URL", "http://127.0.0.1:5000")))


@click.command("export-openapi")
@click.option("--check", is_flag=True, help="Fail if the committed document differs.")
@with_appcontext
def export_openapi_command(check: bool) -> None:
    """Write openapi/openapi.json from the code."""
    _write_or_check(OPENAPI_PATH, openapi_document(current_app._get_current_object()),  # type: ignore[attr-defined]
                    check=check, name="openapi/openapi.json")


@click.command("export-errors")
@click.option("--check", is_flag=True, help="Fail if the committed list differs.")
def export_errors_command(check: bool) -> None:
    """Write docs/errors.md, the error reasons the API answers with, from the code."""
    from wallet.core.error_catalogue import DOC_PATH, errors_document

    _write_or_check(DOC_PATH, errors_document(), check=check, name="docs/errors.md")


def _write_or_check(path: Path, document: str, *, check: bool, name: str) -> None:
    """Write a document generated from the code, or (``check``) fail if the committed one differs."""
    if check:
        if not path.exists() or path.read_text() != document:
            raise click.ClickException(f"{name} is out of date: run `make openapi`")
        click.echo(f"{name} is up to date")
        return
    path.parent.mkdir(exist_ok=True)
    path.write_text(document)
    click.echo(f"wrote {path}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Run the push dispatcher: drain the outbox until SIGTERM or Ctrl-C (several may run at once)."""
    import logging

    from wallet.push.dispatcher import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    totals = run_worker(current_app._get_current_object(), once=once)  # type: ignore[attr-defined]
    click.echo(f"push worker: {totals.describe()}")


@click.command("expire-points")
@click.option("--at", "at_text", metavar="ISO-8601", help="Expire as of this moment (with its offset) instead of now.")
@with_appcontext
def expire_points_command(at_text: str | None) -> None:
    """Expire loyalty points past their program's expiry, oldest first (run daily; safe to repeat)."""
    import datetime as dt

    from wallet.loyalty.services import expire_points

    at = None
    if at_text is not None:
        try:
            at = dt.datetime.fromisoformat(at_text)
        except ValueError:
            raise click.BadParameter("not an ISO 8601 date and time", param_hint="--at") from None
        if at.tzinfo is None:
            raise click.BadParameter("give the offset, e.g. 2026-01-31T00:00:00+00:00", param_hint="--at")
    report = expire_points(at=at)
    click.echo(f"expired {report.points} points on {report.accounts} accounts")


@click.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete what is past its retention period (presence, positions, old pushes, ended sessions, ...);
    safe to repeat, prints what was removed."""
    from wallet.privacy.retention import purge_expired

    report = purge_expired(current_app.config)
    for name, count in report.removed.items():
        click.echo(f"{name}: {count}")


def register(app: Flask) -> None:
    for command in (create_admin_command, seed_demo_command, export_openapi_command, export_errors_command, worker_command,
                    expire_points_command, purge_command):
        app.cli.add_command(command)


# Commands that sign and check nothing: without WALLET_SECRET_KEY they get a random secret of their
# own, which signs nothing anyone else would accept. Every other command needs the real one.
SECRETLESS_COMMANDS = (export_openapi_command, export_errors_command)


def _create_app() -> Flask:
    from wallet import create_app

    context = click.get_current_context(silent=True)
    if context is not None and context.command in SECRETLESS_COMMANDS and not os.environ.get("WALLET_SECRET_KEY"):
        return create_app({"SECRET_KEY": secrets.token_urlsafe(48)})
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Manage the wallet service (database, accounts, demo data, server)."""


for _command in SECRETLESS_COMMANDS:  # found without building an app first (see _create_app)
    main.add_command(_command)


if __name__ == "__main__":  # python -m wallet.cli ...
    main()
