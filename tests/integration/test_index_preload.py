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


def test_a_big_index_is_frozen_out_of_the_garbage_collectors_walks(app, make_brand, make_store, make_geofence):
    import gc

    from wallet.geo import services as geo

    make_geofence(make_store(make_brand()))
    db.session.commit()
    app.extensions.pop("wallet.geofence_index", None)
    app.config["GEOFENCE_INDEX_GC_FREEZE_MIN"] = 1  # this one fence counts as big
    frozen_before = gc.get_freeze_count()
    try:
        loaded = geo.current_index()
        assert gc.get_freeze_count() > frozen_before
        # Nothing of the index is left for a collection to walk: a full collection finds it frozen.
        assert not any(obj is loaded.index for obj in gc.get_objects())
    finally:
        gc.unfreeze()
        app.config["GEOFENCE_INDEX_GC_FREEZE_MIN"] = 1000


def test_a_small_index_is_left_to_the_collector(app, make_brand, make_store, make_geofence):
    import gc

    from wallet.geo import services as geo

    make_geofence(make_store(make_brand()))
    db.session.commit()
    app.extensions.pop("wallet.geofence_index", None)
    frozen_before = gc.get_freeze_count()
    loaded = geo.current_index()
    assert gc.get_freeze_count() == frozen_before
    assert any(obj is loaded.index for obj in gc.get_objects())
