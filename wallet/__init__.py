"""wallet: backend of a mobile loyalty wallet with geofenced offers."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application; nothing here touches the network or the database (unless
    ``GEOFENCE_INDEX_PRELOAD`` asks for the geofence index now)."""
    from wallet import cli, models, routes  # noqa: F401  (models: every table in the metadata)
    from wallet.config import load_config
    from wallet.core import headers, inputs, ratelimits, reads, transaction
    from wallet.core.db_events import register_engine_events
    from wallet.core.errors import register_error_handlers
    from wallet.extensions import NoCookieSessions, WalletApi, db, migrate

    app = Flask(__name__)
    load_config(app, overrides)
    app.session_interface = NoCookieSessions()
    db.init_app(app)
    transaction.init_app(app)  # after db: runs before its teardown
    reads.init_app(app)
    inputs.init_app(app)
    register_engine_events(app)
    migrate.init_app(app, db, directory=cli.MIGRATIONS_DIR)
    api = WalletApi(app)
    routes.register(app, api)
    register_error_handlers(app)
    headers.init_app(app)
    ratelimits.init_app(app)  # after the routes: it limits the views they registered
    cli.register(app)
    if app.config["GEOFENCE_INDEX_PRELOAD"]:  # the one exception: gunicorn --preload builds it once, before forking
        from wallet.geo.services import preload_index

        preload_index(app)
    if app.config["PUSH_DISPATCHER_THREAD"]:  # make run: pushes leave without a separate worker
        from wallet.push.dispatcher import start_background_dispatcher

        start_background_dispatcher(app)
        if app.config["RETENTION_INTERVAL"]:  # and, beside it, the retention schedule
            from wallet.privacy.retention import start_background_retention

            start_background_retention(app)
    return app
