"""The Alembic revisions and the models describe the same schema, on PostGIS and on SQLite."""

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import TEST_CONFIG, create_test_database, drop_test_database
from wallet import create_app
from wallet.core.migrations import include_object_for
from wallet.core.time import utcnow
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


def _patterns_after_0008(app) -> dict[str, str | None]:
    """Brands saved with patterns at 0007, then migrated to head: each brand's pattern after."""
    from wallet.brands.models import Brand

    saved = {"digits": r"^\d{13}$", "nested": r"(a+)+$", "backreference": r"^(\d)\1+$",
             "lookahead": r"^(?=\d{13}$)4\d+$"}
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as connection:
            for name, pattern in saved.items():
                connection.execute(sa.insert(Brand).values(
                    id=uuid.uuid4(), name=name, name_key=name, primary_color="#000000", secondary_color="#FFFFFF",
                    card_number_pattern=pattern, default_symbology="code128", listed=True,
                    created_at=utcnow(), updated_at=utcnow()))
        upgrade()
        with db.engine.connect() as connection:
            after = dict(connection.execute(sa.select(Brand.name, Brand.card_number_pattern)).all())
        db.engine.dispose()
    return after


EXPECTED_PATTERNS = {"digits": r"^\d{13}$", "nested": r"(a+)+$", "backreference": None, "lookahead": None}


def test_the_migration_clears_the_patterns_re2_cannot_run_on_postgis(fresh_postgis_app):
    assert _patterns_after_0008(fresh_postgis_app) == EXPECTED_PATTERNS


def test_the_migration_clears_the_patterns_re2_cannot_run_on_sqlite(tmp_path):
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'wallet.db'}"})
    assert _patterns_after_0008(app) == EXPECTED_PATTERNS
