"""The Alembic revisions and the models describe the same schema, on PostGIS and on SQLite."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import TEST_CONFIG, create_test_database, drop_test_database
from wallet import create_app
from wallet.core.migrations import include_object_for
from wallet.extensions import db


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object_for(engine.dialect.name), "compare_type": True}
        )
        return compare_metadata(context, db.metadata)


@pytest.fixture
def fresh_postgis_app(worker_id_suffix):
    name = f"wallet_migrations_{worker_id_suffix}"
    app = create_app({**TEST_CONFIG, "DATABASE_URL": create_test_database(name)})
    yield app
    with app.app_context():
        db.engine.dispose()
    drop_test_database(name)


def test_migrations_reach_exactly_the_models_on_postgis(fresh_postgis_app):
    with fresh_postgis_app.app_context():
        upgrade()
        assert _differences(db.engine) == []
        with db.engine.connect() as connection:
            # The geometry is a real PostGIS column with a GiST index, not a blob.
            udt = connection.execute(sa.text(
                "SELECT udt_name FROM information_schema.columns WHERE table_name='stores' AND column_name='location'"
            )).scalar()
            index = connection.execute(sa.text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_stores_location'")).scalar()
        assert udt == "geometry" and "gist" in index.lower()


def test_migrations_go_down_to_an_empty_database_and_up_again_on_postgis(fresh_postgis_app):
    with fresh_postgis_app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
        assert tables == set()
        upgrade()
        assert _differences(db.engine) == []


def test_migrations_reach_exactly_the_models_on_sqlite(tmp_path):
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}"})
    with app.app_context():
        upgrade()
        assert _differences(db.engine) == []
        downgrade(revision="base")
        upgrade()
        db.engine.dispose()
