"""The Alembic revisions and the models describe the same schema, on PostGIS and on SQLite."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import TEST_CONFIG, create_test_database, drop_test_database
from wallet import create_app
from wallet.core.db import UTCDateTime
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


def _cards_rekeyed_by_the_history_revision(engine: sa.Engine) -> dict[str, str]:
    """Cards added before duplicate keys were made from the stored number, migrated to the head."""
    def stamps() -> tuple:
        return sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime())

    shoppers = sa.table("shoppers", *(sa.column(name) for name in (
        "email", "password_hash", "display_name", "locale", "time_zone")), *(sa.column(name, sa.Boolean()) for name in (
            "consent_location", "consent_marketing", "is_active")), sa.column("id", sa.Uuid()), *stamps())
    cards = sa.table("cards", *(sa.column(name) for name in ("kind", "shop_name", "number", "symbology", "dedupe_key")),
                     sa.column("id", sa.Uuid()), sa.column("shopper_id", sa.Uuid()), *stamps())
    shopper, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
    typed = {  # id: (number as stored, key as it was made)
        "typed-short": ("4006381333931", "shop:pharmacie:400638133393"),
        "already-right": ("96385074", "shop:épicerie:96385074"),
        "same-card-again": ("4006381333931", "shop:pharmacie:4006381333931"),
        "brand": ("0036000291452", f"brand:{uuid.uuid4()}:03600029145"),
    }
    ids = {name: uuid.uuid4() for name in typed}
    with engine.begin() as connection:
        connection.execute(shoppers.insert().values(
            id=shopper, email="old@example.com", password_hash="x", display_name="Old", locale="fr",
            time_zone="Europe/Paris", consent_location=False, consent_marketing=False, is_active=True,
            created_at=now, updated_at=now))
        for name, (number, key) in typed.items():
            connection.execute(cards.insert().values(
                id=ids[name], shopper_id=shopper, kind="byo", shop_name="x", number=number, symbology="ean13",
                dedupe_key=key, created_at=now, updated_at=now))
    upgrade()
    with engine.connect() as connection:
        keys = dict(connection.execute(sa.select(cards.c.id, cards.c.dedupe_key)).all())
    return {name: keys[card_id] for name, card_id in ids.items()}


EXPECTED_KEYS_AFTER_REKEYING = {
    "typed-short": "shop:pharmacie:400638133393",  # the shopper also holds it under the right key
    "already-right": "shop:épicerie:96385074",
    "same-card-again": "shop:pharmacie:4006381333931",
}


@pytest.mark.parametrize("database", ["sqlite", "postgis"])
def test_card_keys_are_remade_from_the_stored_number(database, tmp_path, worker_id_suffix):
    name = f"wallet_rekey_{worker_id_suffix}"
    url = f"sqlite:///{tmp_path / 'wallet.db'}" if database == "sqlite" else create_test_database(name)
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url})
    try:
        with app.app_context():
            upgrade(revision="0007")
            keys = _cards_rekeyed_by_the_history_revision(db.engine)
            db.engine.dispose()
    finally:
        if database == "postgis":
            drop_test_database(name)
    assert {name: key for name, key in keys.items() if name != "brand"} == EXPECTED_KEYS_AFTER_REKEYING
    assert keys["brand"].endswith(":0036000291452") and keys["brand"].startswith("brand:")
