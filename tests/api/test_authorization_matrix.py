"""Every endpoint × every kind of caller: who may do what, and what the others are told.

Staff of another brand get 404 (the resource's existence is not leaked); a caller whose role
the endpoint does not serve gets 403; no credentials get 401.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD
from wallet.auth import services as auth_services
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER, Principal
from wallet.cards import services as cards

CALLERS = ("anonymous", "shopper", "cashier", "marketer", "brand_admin", "other_brand_admin", "platform_admin", "pos_key")


@dataclass
class World:
    brand: Any
    other_brand: Any
    store: Any
    headers: dict[str, dict[str, str]]
    shopper: Any
    make_store: Callable[..., Any]
    make_staff: Callable[..., Any]
    make_pos_key_record: Callable[[], uuid.UUID]
    card: Any
    member_card: Any
    fence: Any


@pytest.fixture
def world(app, make_brand, make_store, make_staff, make_shopper, make_pos_key, make_geofence, login) -> World:
    brand = make_brand("Alpha")
    other_brand = make_brand("Beta")
    store = make_store(brand, "Alpha Rivoli")
    other_store = make_store(other_brand, "Beta Bastille")
    shopper = make_shopper(email="matrix-shopper@example.com")
    accounts = {
        "shopper": shopper,
        "cashier": make_staff(Role.CASHIER, brand, [store]),
        "marketer": make_staff(Role.MARKETER, brand),
        "brand_admin": make_staff(Role.BRAND_ADMIN, brand),
        "other_brand_admin": make_staff(Role.BRAND_ADMIN, other_brand),
        "platform_admin": make_staff(Role.PLATFORM_ADMIN),
    }
    make_staff(Role.CASHIER, other_brand, [other_store])
    headers = {name: login(account) for name, account in accounts.items()}
    headers["anonymous"] = {}
    headers["pos_key"] = {"X-API-Key": make_pos_key(store)}

    def make_pos_key_record() -> uuid.UUID:
        from wallet.auth.models import PosApiKey
        from wallet.extensions import db

        key = make_pos_key(store)
        return db.session.query(PosApiKey.id).filter(PosApiKey.prefix == key[:11]).scalar()

    principal = Principal(id=shopper.id, role=SHOPPER)
    card = cards.add_card(principal=principal, brand_id=other_brand.id, number="MATRIX-1")
    member_card = cards.enrol(principal=principal, brand_id=brand.id).card
    auth_services.update_shopper_profile(principal=principal, changes={"consents": {"location": True}})
    return World(brand, other_brand, store, headers, shopper, make_store, make_staff, make_pos_key_record, card,
                 member_card, make_geofence(store))


def _live_code(world: World) -> str:
    from wallet.passes import services as passes
    from wallet.passes.models import Pass
    from wallet.extensions import db

    return passes.current_code(db.session.get(Pass, world.member_card.membership.pass_id))


def _unique_email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@example.com"


# Expected status per caller; "*" is the default for callers not named.
PUBLIC = {"*": 200}
SHOPPER_ONLY = {"anonymous": 401, "shopper": 200, "*": 403}
STAFF_READ = {"anonymous": 401, "shopper": 403, "pos_key": 403, "other_brand_admin": 404, "*": 200}
ADMIN_WRITE = {
    "anonymous": 401, "shopper": 403, "pos_key": 403, "cashier": 403, "marketer": 403, "other_brand_admin": 404,
    "brand_admin": 200, "platform_admin": 200,
}


FENCE_WRITE = {**ADMIN_WRITE, "marketer": 200}


def _fix(world: World) -> dict[str, Any]:
    from wallet.core.time import utcnow

    return {"lat": world.store.location.y, "lon": world.store.location.x, "accuracy_m": 5,
            "recorded_at": utcnow().isoformat()}


def _with(expected: dict[str, int], success: int) -> dict[str, int]:
    return {caller: (success if status in (200,) else status) for caller, status in expected.items()}


@dataclass(frozen=True)
class Case:
    method: str
    rule: str
    expected: dict[str, int]
    request: Callable[[World], tuple[str, dict[str, Any] | None]]

    def status_for(self, caller: str) -> int:
        return self.expected.get(caller, self.expected.get("*", 0))


def _refresh_request(world: World) -> tuple[str, dict[str, Any]]:
    tokens = auth_services.sign_in(audience="wallet:shopper", email=world.shopper.email, password=PASSWORD)
    return "/v1/auth/refresh", {"refresh_token": tokens.refresh_token}


def _staff_target(world: World) -> str:
    member = world.make_staff(Role.MARKETER, world.brand)
    return f"/v1/brands/{world.brand.id}/staff/{member.id}"


CASES = [
    Case("POST", "/v1/auth/shoppers", {"*": 201},
         lambda w: ("/v1/auth/shoppers", {"email": _unique_email(), "password": PASSWORD, "display_name": "N"})),
    Case("POST", "/v1/auth/shoppers/sign-in", PUBLIC,
         lambda w: ("/v1/auth/shoppers/sign-in", {"email": w.shopper.email, "password": PASSWORD})),
    Case("POST", "/v1/auth/staff/sign-in", {"*": 401},  # a shopper's credentials are not a staff account
         lambda w: ("/v1/auth/staff/sign-in", {"email": w.shopper.email, "password": PASSWORD})),
    Case("POST", "/v1/auth/refresh", PUBLIC, _refresh_request),
    Case("POST", "/v1/auth/sign-out", {"anonymous": 401, "pos_key": 403, "*": 204},
         lambda w: ("/v1/auth/sign-out", None)),
    Case("GET", "/v1/me", {"anonymous": 401, "shopper": 200, "*": 403}, lambda w: ("/v1/me", None)),
    Case("PATCH", "/v1/me", {"anonymous": 401, "shopper": 200, "*": 403},
         lambda w: ("/v1/me", {"display_name": "Renamed"})),
    Case("GET", "/v1/me/cards", SHOPPER_ONLY, lambda w: ("/v1/me/cards?near=48.85,2.35", None)),
    Case("POST", "/v1/me/cards", _with(SHOPPER_ONLY, 201),
         lambda w: ("/v1/me/cards", {"shop_name": "Corner shop", "number": "12345", "symbology": "code128"})),
    Case("GET", "/v1/me/cards/<uuid:card_id>", SHOPPER_ONLY, lambda w: (f"/v1/me/cards/{w.card.id}", None)),
    Case("PATCH", "/v1/me/cards/<uuid:card_id>", SHOPPER_ONLY,
         lambda w: (f"/v1/me/cards/{w.card.id}", {"label": "Mine"})),
    Case("DELETE", "/v1/me/cards/<uuid:card_id>", _with(SHOPPER_ONLY, 204),
         lambda w: (f"/v1/me/cards/{w.card.id}", None)),
    Case("GET", "/v1/me/cards/<uuid:card_id>/barcode", SHOPPER_ONLY,
         lambda w: (f"/v1/me/cards/{w.card.id}/barcode?format=svg", None)),
    Case("GET", "/v1/me/cards/<uuid:card_id>/pass", SHOPPER_ONLY,
         lambda w: (f"/v1/me/cards/{w.member_card.id}/pass", None)),
    Case("GET", "/v1/me/memberships", SHOPPER_ONLY, lambda w: ("/v1/me/memberships", None)),
    Case("POST", "/v1/me/memberships", _with(SHOPPER_ONLY, 201),
         lambda w: ("/v1/me/memberships", {"brand_id": str(w.other_brand.id)})),
    Case("POST", "/v1/pos/scan", {"anonymous": 401, "cashier": 200, "pos_key": 200, "*": 403},
         lambda w: ("/v1/pos/scan", {"code": _live_code(w)})),
    Case("POST", "/v1/me/locations", SHOPPER_ONLY, lambda w: ("/v1/me/locations", {"fixes": [_fix(w)]})),
    Case("POST", "/v1/me/geofence-events", SHOPPER_ONLY, lambda w: ("/v1/me/geofence-events", {"events": [
        {**_fix(w), "geofence_id": str(w.fence.id), "type": "enter"}]})),
    Case("GET", "/v1/me/geofences/nearby", SHOPPER_ONLY,
         lambda w: (f"/v1/me/geofences/nearby?lat={w.store.location.y}&lon={w.store.location.x}", None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/geofences", STAFF_READ,
         lambda w: (f"/v1/brands/{w.brand.id}/geofences", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/geofences", _with(FENCE_WRITE, 201),
         lambda w: (f"/v1/brands/{w.brand.id}/geofences", {"store_id": str(w.store.id), "name": "Door", "circle": {
             "center": {"type": "Point", "coordinates": [2.3522, 48.8566]}, "radius_m": 40}})),
    Case("GET", "/v1/brands/<uuid:brand_id>/geofences/<uuid:geofence_id>", STAFF_READ,
         lambda w: (f"/v1/brands/{w.brand.id}/geofences/{w.fence.id}", None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/geofences/<uuid:geofence_id>", FENCE_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/geofences/{w.fence.id}", {"name": "Renamed"})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/geofences/<uuid:geofence_id>", _with(FENCE_WRITE, 204),
         lambda w: (f"/v1/brands/{w.brand.id}/geofences/{w.fence.id}", None)),
    Case("GET", "/v1/staff/me", {"anonymous": 401, "shopper": 403, "pos_key": 403, "*": 200},
         lambda w: ("/v1/staff/me", None)),
    Case("GET", "/v1/brands", {"anonymous": 401, "shopper": 403, "pos_key": 403, "*": 200},
         lambda w: ("/v1/brands", None)),
    Case("POST", "/v1/brands", {"anonymous": 401, "platform_admin": 201, "*": 403},
         lambda w: ("/v1/brands", {"name": f"New {uuid.uuid4().hex[:6]}"})),
    Case("GET", "/v1/brands/<uuid:brand_id>", STAFF_READ, lambda w: (f"/v1/brands/{w.brand.id}", None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}", {"primary_color": "#123456"})),
    Case("GET", "/v1/brands/<uuid:brand_id>/stores", STAFF_READ,
         lambda w: (f"/v1/brands/{w.brand.id}/stores", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/stores", _with(ADMIN_WRITE, 201),
         lambda w: (f"/v1/brands/{w.brand.id}/stores", {
             "name": "New store", "street": "2 rue Saint-Antoine", "postal_code": "75004", "city": "Paris",
             "location": {"type": "Point", "coordinates": [2.3622, 48.8534]}})),
    Case("GET", "/v1/brands/<uuid:brand_id>/stores/<uuid:store_id>", STAFF_READ,
         lambda w: (f"/v1/brands/{w.brand.id}/stores/{w.store.id}", None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/stores/<uuid:store_id>", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/stores/{w.store.id}", {"name": "Renamed store"})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/stores/<uuid:store_id>", _with(ADMIN_WRITE, 204),
         lambda w: (f"/v1/brands/{w.brand.id}/stores/{w.make_store(w.brand, 'Doomed').id}", None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/staff", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/staff", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/staff", _with(ADMIN_WRITE, 201),
         lambda w: (f"/v1/brands/{w.brand.id}/staff", {
             "email": _unique_email(), "password": PASSWORD, "display_name": "New", "role": "marketer"})),
    Case("GET", "/v1/brands/<uuid:brand_id>/staff/<uuid:staff_id>", ADMIN_WRITE, lambda w: (_staff_target(w), None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/staff/<uuid:staff_id>", ADMIN_WRITE,
         lambda w: (_staff_target(w), {"display_name": "Renamed"})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/staff/<uuid:staff_id>", _with(ADMIN_WRITE, 204),
         lambda w: (_staff_target(w), None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/pos-keys", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/pos-keys", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/pos-keys", _with(ADMIN_WRITE, 201),
         lambda w: (f"/v1/brands/{w.brand.id}/pos-keys", {"name": "Till 2", "store_id": str(w.store.id)})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/pos-keys/<uuid:key_id>", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/pos-keys/{w.make_pos_key_record()}", None)),
    Case("GET", "/v1/catalogue/brands", PUBLIC, lambda w: ("/v1/catalogue/brands", None)),
    Case("GET", "/v1/catalogue/brands/<uuid:brand_id>", PUBLIC,
         lambda w: (f"/v1/catalogue/brands/{w.brand.id}", None)),
    Case("GET", "/v1/catalogue/brands/<uuid:brand_id>/stores", PUBLIC,
         lambda w: (f"/v1/catalogue/brands/{w.brand.id}/stores", None)),
    Case("GET", "/v1/pos/context", {"anonymous": 401, "cashier": 200, "pos_key": 200, "*": 403},
         lambda w: ("/v1/pos/context", None)),
    Case("GET", "/healthz", PUBLIC, lambda w: ("/healthz", None)),
    Case("GET", "/readyz", PUBLIC, lambda w: ("/readyz", None)),
]


# --- geofenced offers: offers (brand staff), coupons and brand consents (shoppers) ----------------

OFFER_MANAGERS = {"anonymous": 401, "shopper": 403, "pos_key": 403, "cashier": 403, "other_brand_admin": 404,
                  "*": 200}


def _matrix_offer(world: World, status: str = "draft") -> uuid.UUID:
    import datetime as dt

    from wallet.core.time import utcnow
    from wallet.core.transaction import transaction
    from wallet.offers.models import Offer

    now = utcnow()
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), brand_id=world.brand.id, status=status, reward_type="percent_off",
                      reward_percent=10, content={"fr": {"title": "-10 %", "description": "Tout"},
                                                  "en": {"title": "10% off", "description": "All"}},
                      default_locale="fr", valid_from=now - dt.timedelta(hours=1),
                      valid_until=now + dt.timedelta(days=7), schedule=[], trigger="enter", all_stores=True,
                      audience="opted_in", coupon_ttl_minutes=120, issued_count=0)
        session.add(offer)
    return offer.id


def _offer_url(world: World, status: str = "draft", suffix: str = "") -> str:
    return f"/v1/brands/{world.brand.id}/offers/{_matrix_offer(world, status)}{suffix}"


def _new_offer_body(world: World) -> dict[str, Any]:
    return {"reward": {"type": "free_item", "item": "Un café"},
            "content": {"fr": {"title": "Café offert", "description": "Ce matin"},
                        "en": {"title": "Free coffee", "description": "This morning"}},
            "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": "2099-01-01T00:00:00+00:00", "all_stores": True}


def _matrix_coupon(world: World) -> uuid.UUID:
    """A coupon of the matrix shopper (a member of the brand, so opted in), issued at a fence of its store."""
    import shapely

    from wallet.core.time import utcnow
    from wallet.core.transaction import transaction
    from wallet.geo.models import POLYGON, Geofence
    from wallet.offers import services as offers

    _matrix_offer(world, "active")
    with transaction() as session:
        fence = Geofence(brand_id=world.brand.id, store_id=world.store.id, name="Door", kind=POLYGON,
                         area=shapely.Point(2.3522, 48.8566).buffer(0.0005))
        session.add(fence)
        session.flush()
        now = utcnow()
        [coupon] = offers.issue_coupons(shopper_id=world.shopper.id, geofence_id=fence.id, trigger="enter",
                                        visit_started_at=now, at=now)
    return coupon.id


CASES += [
    Case("GET", "/v1/brands/<uuid:brand_id>/offers", OFFER_MANAGERS,
         lambda w: (f"/v1/brands/{w.brand.id}/offers?status=draft", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/offers", _with(OFFER_MANAGERS, 201),
         lambda w: (f"/v1/brands/{w.brand.id}/offers", _new_offer_body(w))),
    Case("GET", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>", OFFER_MANAGERS,
         lambda w: (_offer_url(w), None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>", OFFER_MANAGERS,
         lambda w: (_offer_url(w), {"max_per_shopper": 2})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>", _with(OFFER_MANAGERS, 204),
         lambda w: (_offer_url(w), None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/activate", OFFER_MANAGERS,
         lambda w: (_offer_url(w, "draft", "/activate"), None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/pause", OFFER_MANAGERS,
         lambda w: (_offer_url(w, "active", "/pause"), None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/end", OFFER_MANAGERS,
         lambda w: (_offer_url(w, "paused", "/end"), None)),
    Case("GET", "/v1/me/coupons", SHOPPER_ONLY, lambda w: ("/v1/me/coupons?status=active", None)),
    Case("GET", "/v1/me/coupons/<uuid:coupon_id>", SHOPPER_ONLY,
         lambda w: (f"/v1/me/coupons/{_matrix_coupon(w)}", None)),
    Case("GET", "/v1/me/coupons/<uuid:coupon_id>/barcode", SHOPPER_ONLY,
         lambda w: (f"/v1/me/coupons/{_matrix_coupon(w)}/barcode?format=svg", None)),
    Case("GET", "/v1/me/coupons/<uuid:coupon_id>/pass", SHOPPER_ONLY,
         lambda w: (f"/v1/me/coupons/{_matrix_coupon(w)}/pass", None)),
    Case("GET", "/v1/me/brand-consents", SHOPPER_ONLY, lambda w: ("/v1/me/brand-consents", None)),
    Case("PUT", "/v1/me/brand-consents/<uuid:brand_id>", SHOPPER_ONLY,
         lambda w: (f"/v1/me/brand-consents/{w.brand.id}", {"opted_in": False})),
]


# --- push: the shopper's devices, and notifications reported opened (shoppers) -------------------


def _matrix_device(world: World) -> uuid.UUID:
    from wallet.push import services as push

    return push.register_device(principal=Principal(id=world.shopper.id, role=SHOPPER),
                                token=f"matrix-{uuid.uuid4().hex}", platform="android", app_version="1.0",
                                locale="fr-FR").id


def _matrix_notification(world: World) -> uuid.UUID:
    """The push of a matrix shopper's coupon, as the dispatcher leaves it once sent."""
    from sqlalchemy import select

    from wallet.core.transaction import transaction
    from wallet.push.models import SENT, PushOutbox

    coupon_id = _matrix_coupon(world)
    with transaction() as session:
        notification = session.scalars(select(PushOutbox).where(PushOutbox.coupon_id == coupon_id)).one()
        notification.status, notification.attempts = SENT, 1
    return notification.id


CASES += [
    Case("GET", "/v1/me/devices", SHOPPER_ONLY, lambda w: ("/v1/me/devices", None)),
    Case("POST", "/v1/me/devices", _with(SHOPPER_ONLY, 201),
         lambda w: ("/v1/me/devices", {"token": f"matrix-{uuid.uuid4().hex}", "platform": "ios",
                                       "app_version": "2.3.1", "locale": "fr-FR"})),
    Case("DELETE", "/v1/me/devices/<uuid:device_id>", _with(SHOPPER_ONLY, 204),
         lambda w: (f"/v1/me/devices/{_matrix_device(w)}", None)),
    Case("POST", "/v1/me/notifications/<uuid:notification_id>/opened", _with(SHOPPER_ONLY, 204),
         lambda w: (f"/v1/me/notifications/{_matrix_notification(w)}/opened", None)),
]


# --- loyalty: programs, tiers, rewards, members (brand staff); points (shoppers); checkout (tills) --

LOYALTY_READERS = OFFER_MANAGERS  # brand admins and marketers (and platform admins)
TILL_ONLY = {"anonymous": 401, "cashier": 201, "pos_key": 201, "*": 403}


def _loyalty_admin(world: World) -> Principal:
    return Principal(id=world.make_staff(Role.BRAND_ADMIN, world.brand).id, role=Role.BRAND_ADMIN,
                     brand_id=world.brand.id)


def _loyalty_program(world: World) -> Principal:
    """The matrix brand's program (1 point per euro); the brand admin who set it up."""
    from wallet.loyalty import services as loyalty

    admin = _loyalty_admin(world)
    loyalty.set_program(principal=admin, brand_id=world.brand.id, data={
        "currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": None, "stamp_card": None})
    return admin


def _programmed(world: World, url: str) -> str:
    """``url``, once the matrix brand has its program."""
    _loyalty_program(world)
    return url


def _loyalty_tier(world: World) -> uuid.UUID:
    from wallet.loyalty import services as loyalty

    return loyalty.create_tier(principal=_loyalty_program(world), brand_id=world.brand.id,
                               data={"name": "Gold", "threshold_points": 500}).id


def _loyalty_reward(world: World, points: int = 0) -> uuid.UUID:
    """A 10-point reward of the matrix brand; the matrix shopper (a member) gets ``points`` first."""
    from wallet.loyalty import services as loyalty

    admin = _loyalty_program(world)
    reward = loyalty.create_reward(principal=admin, brand_id=world.brand.id, data={
        "points_cost": 10, "reward": {"type": "free_item", "item": "Café"}, "default_locale": "fr",
        "content": {"fr": {"title": "Café", "description": "Offert"}, "en": {"title": "Coffee", "description": "Free"}},
        "coupon_ttl_minutes": 60, "stock": None, "tier_ids": []}).reward
    if points:
        loyalty.adjust_points(principal=admin, brand_id=world.brand.id, membership_id=_membership_id(world),
                              points=points, reason="matrix")
    return reward.id


def _membership_id(world: World) -> uuid.UUID:
    return world.member_card.membership.id


def _member_url(world: World, suffix: str = "") -> str:
    return f"/v1/brands/{world.brand.id}/loyalty/members/{_membership_id(world)}{suffix}"


def _matrix_till(world: World) -> Principal:
    return Principal(id=uuid.uuid4(), role=Role.CASHIER, brand_id=world.brand.id,
                     store_ids=frozenset({world.store.id}))


def _purchase_body(world: World) -> dict[str, Any]:
    from wallet.pos import tokens

    _loyalty_program(world)
    token = tokens.issue_token(tokens.MEMBER, subject_id=_membership_id(world), brand_id=world.brand.id,
                               store_id=world.store.id)
    return {"member_token": token, "amount_minor": 1250, "currency": "EUR",
            "order_reference": f"M-{uuid.uuid4().hex[:12]}"}


def _refund_body(world: World) -> dict[str, Any]:
    from wallet.pos import services as pos

    bought = _purchase_body(world)
    pos.record_purchase(principal=_matrix_till(world), **bought)
    return {"order_reference": bought["order_reference"], "refund_reference": f"R-{uuid.uuid4().hex[:12]}",
            "amount_minor": 250, "currency": "EUR"}


def _redemption_body(world: World) -> dict[str, Any]:
    """A token for the matrix coupon; the redemption's Idempotency-Key goes into every caller's
    headers (the matrix sends only those), which authentication looks at first."""
    from wallet.pos import tokens

    token = tokens.issue_token(tokens.REDEMPTION, subject_id=_matrix_coupon(world), brand_id=world.brand.id,
                               store_id=world.store.id)
    for headers in world.headers.values():
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return {"redemption_token": token, "order_reference": "M-REDEEM"}


CASES += [
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty", LOYALTY_READERS,
         lambda w: (_programmed(w, f"/v1/brands/{w.brand.id}/loyalty"), None)),
    Case("PUT", "/v1/brands/<uuid:brand_id>/loyalty", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty", {"currency": "EUR", "points_per_unit": 2})),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/tiers", LOYALTY_READERS,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/tiers", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/loyalty/tiers", _with(ADMIN_WRITE, 201),
         lambda w: (_programmed(w, f"/v1/brands/{w.brand.id}/loyalty/tiers"),
                    {"name": "Silver", "threshold_points": 100})),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/loyalty/tiers/<uuid:tier_id>", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/tiers/{_loyalty_tier(w)}", {"name": "Platinum"})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/loyalty/tiers/<uuid:tier_id>", _with(ADMIN_WRITE, 204),
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/tiers/{_loyalty_tier(w)}", None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/rewards", LOYALTY_READERS,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/rewards?include_retired=true", None)),
    Case("POST", "/v1/brands/<uuid:brand_id>/loyalty/rewards", _with(ADMIN_WRITE, 201),
         lambda w: (_programmed(w, f"/v1/brands/{w.brand.id}/loyalty/rewards"), {
             "points_cost": 100, "reward": {"type": "percent_off", "percent": 15},
             "content": {"fr": {"title": "-15 %", "description": "Tout"}, "en": {"title": "15% off", "description": "All"}},
         })),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/rewards/<uuid:reward_id>", LOYALTY_READERS,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/rewards/{_loyalty_reward(w)}", None)),
    Case("PATCH", "/v1/brands/<uuid:brand_id>/loyalty/rewards/<uuid:reward_id>", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/rewards/{_loyalty_reward(w)}", {"points_cost": 20})),
    Case("DELETE", "/v1/brands/<uuid:brand_id>/loyalty/rewards/<uuid:reward_id>", _with(ADMIN_WRITE, 204),
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/rewards/{_loyalty_reward(w)}", None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/members", ADMIN_WRITE,
         lambda w: (f"/v1/brands/{w.brand.id}/loyalty/members", None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/members/<uuid:membership_id>", ADMIN_WRITE,
         lambda w: (_member_url(w), None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/ledger", ADMIN_WRITE,
         lambda w: (_member_url(w, "/ledger"), None)),
    Case("PUT", "/v1/brands/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/tier", ADMIN_WRITE,
         lambda w: (_member_url(w, "/tier"), {"tier_id": str(_loyalty_tier(w)), "reason": "Matrix VIP"})),
    Case("POST", "/v1/brands/<uuid:brand_id>/loyalty/members/<uuid:membership_id>/adjustments",
         _with(ADMIN_WRITE, 201), lambda w: (_member_url(w, "/adjustments"), {"points": 25, "reason": "Goodwill"})),
    Case("GET", "/v1/me/loyalty", SHOPPER_ONLY, lambda w: ("/v1/me/loyalty", None)),
    Case("GET", "/v1/me/loyalty/<uuid:brand_id>", SHOPPER_ONLY, lambda w: (f"/v1/me/loyalty/{w.brand.id}", None)),
    Case("GET", "/v1/me/loyalty/<uuid:brand_id>/history", SHOPPER_ONLY,
         lambda w: (f"/v1/me/loyalty/{w.brand.id}/history", None)),
    Case("GET", "/v1/me/loyalty/<uuid:brand_id>/rewards", SHOPPER_ONLY,
         lambda w: (f"/v1/me/loyalty/{w.brand.id}/rewards?affordable=true", None)),
    Case("POST", "/v1/me/loyalty/<uuid:brand_id>/rewards/<uuid:reward_id>/claim", _with(SHOPPER_ONLY, 201),
         lambda w: (f"/v1/me/loyalty/{w.brand.id}/rewards/{_loyalty_reward(w, points=10)}/claim", None)),
    Case("POST", "/v1/pos/purchases", TILL_ONLY, lambda w: ("/v1/pos/purchases", _purchase_body(w))),
    Case("POST", "/v1/pos/refunds", TILL_ONLY, lambda w: ("/v1/pos/refunds", _refund_body(w))),
    Case("POST", "/v1/pos/redemptions", TILL_ONLY, lambda w: ("/v1/pos/redemptions", _redemption_body(w))),
]


# --- insight (brand analysts) and the shopper's privacy ------------------------------------------

ANALYSTS = {"anonymous": 401, "shopper": 403, "pos_key": 403, "cashier": 403, "other_brand_admin": 404, "*": 200}


def _funnel_url(world: World, suffix: str = "") -> str:
    return _offer_url(world, "active", f"/funnel{suffix}")


CASES += [
    Case("GET", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/funnel", ANALYSTS,
         lambda w: (_funnel_url(w), None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/funnel/rows", ANALYSTS,
         lambda w: (_funnel_url(w, "/rows"), None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/funnel.csv", ANALYSTS,
         lambda w: (_funnel_url(w, ".csv"), None)),
    Case("GET", "/v1/brands/<uuid:brand_id>/offers/<uuid:offer_id>/funnel/chart", ANALYSTS,
         lambda w: (_funnel_url(w, "/chart?format=svg"), None)),
    Case("GET", "/v1/me/export", SHOPPER_ONLY, lambda w: ("/v1/me/export", None)),
    Case("GET", "/v1/me/consent-history", SHOPPER_ONLY, lambda w: ("/v1/me/consent-history", None)),
    Case("DELETE", "/v1/me", _with(SHOPPER_ONLY, 204), lambda w: ("/v1/me", {"password": PASSWORD})),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.method} {case.rule}")
def test_caller_gets_the_expected_status(client, world, case: Case, caller: str) -> None:
    url, body = case.request(world)
    response = client.open(url, method=case.method, json=body, headers=world.headers[caller])
    expected = case.status_for(caller)
    assert response.status_code == expected, (caller, case.method, url, response.get_json())
    if expected >= 400:
        error = response.get_json()
        assert error["code"] == expected and error["reason"] and error["message"]


def test_every_endpoint_is_in_the_matrix(app) -> None:
    documented = {(case.method, case.rule) for case in CASES}
    ignored = {"static", "docs_assets.static"}
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ignored and not rule.endpoint.startswith("api-docs.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served - documented == set(), "endpoints missing from the authorization matrix"
    assert documented - served == set(), "matrix rows for endpoints that do not exist"
