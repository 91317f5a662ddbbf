"""The world the fuzzer works in: the demo data (three brands, their stores, fences, offers, the bakery's
loyalty program, one account per role) plus a coupon, a device and points for the demo shopper, on
PostGIS and on SQLite; and each kind of caller's credentials into it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from tests.conftest import TEST_CONFIG, RequestClient, bearer
from wallet import create_app, demo
from wallet.auth import services as auth_services
from wallet.auth.models import PosApiKey, Shopper, StaffMember
from wallet.auth.principal import SHOPPER, Principal
from wallet.brands.models import Brand, Store
from wallet.cards.models import Membership
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import Geofence
from wallet.loyalty import services as loyalty
from wallet.loyalty.models import LoyaltyReward, LoyaltyTier
from wallet.offers.models import Offer
from wallet.push import services as push

CALLERS = ("shopper", "brand_admin", "marketer", "cashier", "platform_admin", "pos_key", "anonymous")


@dataclass(frozen=True)
class World:
    """Ids of real objects of the bakery (the brand every staff caller works for), by path parameter."""

    path_ids: dict[str, str]
    credentials: Callable[[str], dict[str, str]]


@pytest.fixture(params=["postgis", "sqlite"])
def fuzz_app(request: pytest.FixtureRequest, tmp_path) -> Iterator[Flask]:
    if request.param == "postgis":
        yield request.getfixturevalue("app")
        return
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.db'}"})
    app.test_client_class = RequestClient
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def _one(statement):
    found = db.session.scalars(statement.limit(1)).first()
    assert found is not None, statement
    return found


@pytest.fixture
def world(fuzz_app: Flask) -> World:
    demo.seed_demo()
    bakery = _one(select(Brand).where(Brand.name_key == "boulangerie lumière"))
    store = _one(select(Store).where(Store.name == "Lumière Châtelet"))
    shopper = _one(select(Shopper).where(Shopper.email == demo.SHOPPER))
    membership = _one(select(Membership).where(Membership.shopper_id == shopper.id,
                                               Membership.brand_id == bakery.id))
    admin = _one(select(StaffMember).where(StaffMember.email == demo.PLATFORM_ADMIN))
    coffee = _one(select(LoyaltyReward).where(LoyaltyReward.brand_id == bakery.id)
                  .order_by(LoyaltyReward.points_cost))
    acting_admin = Principal(id=admin.id, role="platform_admin")
    acting_shopper = Principal(id=shopper.id, role=SHOPPER)
    loyalty.adjust_points(principal=acting_admin, brand_id=bakery.id, membership_id=membership.id, points=500,
                          reason="fuzzing")
    coupon = loyalty.claim_reward(principal=acting_shopper, brand_id=bakery.id, reward_id=coffee.id).coupon
    device = push.register_device(principal=acting_shopper, token="fuzz-device-token", platform="android",
                                  app_version="1.0.0", locale="fr-FR")
    marketer = _one(select(StaffMember).where(StaffMember.email == "marketer@lumiere.demo"))
    path_ids = {
        "brand_id": bakery.id,
        "store_id": store.id,
        "geofence_id": _one(select(Geofence.id).where(Geofence.store_id == store.id)),
        "offer_id": _one(select(Offer.id).where(Offer.brand_id == bakery.id).order_by(Offer.created_at)),
        "membership_id": membership.id,
        "reward_id": coffee.id,
        "tier_id": _one(select(LoyaltyTier.id).where(LoyaltyTier.brand_id == bakery.id)),
        "key_id": _one(select(PosApiKey.id).where(PosApiKey.brand_id == bakery.id)),
        "staff_id": marketer.id,
        "card_id": membership.card_id,
        "coupon_id": coupon.id,
        "device_id": device.id,
        "notification_id": uuid.uuid4(),  # none is sent in the fuzzer's world: the 404 path
    }
    accounts = {"shopper": {"shopper_id": shopper.id}, "platform_admin": {"staff_id": admin.id}}
    for role in ("brand_admin", "marketer", "cashier"):
        email = f"{role.replace('_', '-')}@lumiere.demo"
        accounts[role] = {"staff_id": _one(select(StaffMember.id).where(StaffMember.email == email))}

    def credentials(caller: str) -> dict[str, str]:
        """A new session for each operation (not a sign-in: a fuzzed password change must not lock the
        caller out), so that a fuzzed sign-out does not blind what follows."""
        if caller == "anonymous":
            return {}
        if caller == "pos_key":
            return {"X-API-Key": demo.DEMO_POS_KEY}
        with transaction():
            tokens = auth_services._open_session(**accounts[caller])
        return bearer(tokens.access_token)

    return World(path_ids={name: str(value) for name, value in path_ids.items()}, credentials=credentials)
