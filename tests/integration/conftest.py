"""Fixtures shared by the integration tests of the till (each module brings its own brand and store)."""

from __future__ import annotations

import pytest

from wallet.auth.models import Role


@pytest.fixture(params=["cashier", "pos_key"])
def till(request, make_staff, make_pos_key, brand, store, login):
    """Both ways into the till, which must hold every guarantee: a cashier (whose requests run in the
    session's transaction) and a POS key (whose purchases and redemptions are one statement in
    autocommit on PostgreSQL)."""
    if request.param == "pos_key":
        return {"X-API-Key": make_pos_key(store)}
    return login(make_staff(Role.CASHIER, brand, [store]))
