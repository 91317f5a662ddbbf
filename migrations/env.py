"""Alembic environment: the app's engine and metadata, with GeoAlchemy2's helpers wired in."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from wallet.core.migrations import include_object_for, render_item, writer

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def run_migrations_offline() -> None:
    context.configure(
        url=str(target_db.engine.url),
        target_metadata=target_db.metadata,
        literal_binds=True,
        include_object=include_object_for(target_db.engine.dialect.name),
        render_item=render_item,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")
        else:
            writer(context_, revision, directives)

    with target_db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_db.metadata,
            include_object=include_object_for(connection.dialect.name),
            render_item=render_item,
            process_revision_directives=skip_empty,
            # SQLite alters tables by copying them; batch mode makes one revision run on both.
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
