"""GEOFENCE_INDEX_PRELOAD: the index is built when the app is created (gunicorn --preload builds it
once in the master, before forking) and no database connection is left open to cross the fork."""

from __future__ import annotations

from tests.conftest import TEST_CONFIG
from wallet import create_app
from wallet.extensions import db


def test_a_preloading_app_has_its_index_before_any_request_and_no_connection_open(app, make_brand, make_store,
                                                                                   make_geofence):
    store = make_store(make_brand())
    fence = make_geofence(store)
    db.session.commit()
    preloading = create_app({**TEST_CONFIG, "DATABASE_URL": app.config["DATABASE_URL"],
                             "GEOFENCE_INDEX_PRELOAD": True})
    loaded = preloading.extensions["wallet.geofence_index"]["current"]
    assert set(loaded.fences) == {str(fence.id)}
    assert loaded.index.locate(store.location.y, store.location.x)[0].fence_id == str(fence.id)
    with preloading.app_context():
        pool = db.engine.pool
        assert pool.checkedout() == 0 and pool.checkedin() == 0  # disposed: nothing to inherit across a fork
        db.engine.dispose()


def test_by_default_nothing_is_built_when_the_app_is_created(app):
    lazy = create_app({**TEST_CONFIG, "DATABASE_URL": app.config["DATABASE_URL"]})
    assert "wallet.geofence_index" not in lazy.extensions
