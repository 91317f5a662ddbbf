"""Demo data for ``make run``: three Paris brands with real store locations and one account per role."""

from __future__ import annotations

import datetime as dt
import math

from dataclasses import dataclass, field

import shapely
from sqlalchemy import select

from wallet.auth import secrets as auth_secrets
from wallet.auth.models import PosApiKey, Role, Shopper, StaffMember
from wallet.auth.principal import SHOPPER as SHOPPER_ROLE
from wallet.auth.principal import Principal
from wallet.auth.services import create_platform_admin, sign_up_shopper
from wallet.brands import services as brands
from wallet.brands.models import Brand, Store
from wallet.cards import services as cards
from wallet.core.time import utcnow
from wallet.geo.geometry import parse_geojson_polygon
from wallet.geo.models import Geofence
from wallet.geo.services import create_geofence
from wallet.loyalty import services as loyalty
from wallet.loyalty.models import LoyaltyProgram
from wallet.offers import services as offers
from wallet.offers.schemas import OfferCreateSchema
from wallet.core.transaction import transaction
from wallet.extensions import db

PASSWORD = "demo-password"
PLATFORM_ADMIN = "platform@demo.wallet"
SHOPPER = "shopper@demo.wallet"
# A fixed key so that the printed credentials keep working after a restart; demo database only.
DEMO_POS_KEY = "wk_demo0001_0000000000000000000000000000000000000000000"

BRANDS = [
    {
        "name": "Boulangerie Lumière",
        "category": "bakery",
        "description": "Bread and pastries baked on site, every morning.",
        "website_url": "https://lumiere.example.com",
        "primary_color": "#C8102E",
        "secondary_color": "#FFF4E0",
        "card_number_pattern": r"^\d{13}$",
        "default_symbology": "ean13",
        "staff": "lumiere",
        "stores": [
            ("Lumière Châtelet", "12 rue de Rivoli", "75004", 48.85745, 2.35104),
            ("Lumière Marais", "38 rue des Francs-Bourgeois", "75003", 48.85800, 2.36000),
            ("Lumière Canal Saint-Martin", "75 quai de Valmy", "75010", 48.87155, 2.36480),
        ],
    },
    {
        "name": "Maison Verte",
        "category": "grocery",
        "description": "Organic grocer: fruit, vegetables and bulk goods.",
        "website_url": "https://maisonverte.example.com",
        "primary_color": "#2E7D32",
        "secondary_color": "#FFFFFF",
        "card_number_pattern": r"^MV\d{8}$",
        "default_symbology": "code128",
        "staff": "maisonverte",
        "stores": [
            ("Maison Verte Bastille", "5 rue de la Roquette", "75011", 48.85365, 2.37000),
            ("Maison Verte Montmartre", "20 rue des Abbesses", "75018", 48.88460, 2.33790),
        ],
    },
    {
        "name": "Librairie du Canal",
        "category": "books",
        "description": "Independent bookshop.",
        "website_url": "https://librairieducanal.example.com",
        "primary_color": "#1A237E",
        "secondary_color": "#FFD54F",
        "card_number_pattern": None,
        "default_symbology": "qr",
        "staff": "librairie",
        "stores": [
            ("Librairie du Canal Saint-Germain", "30 boulevard Saint-Germain", "75005", 48.85060, 2.35180),
        ],
    },
]


@dataclass
class DemoCredentials:
    password: str = PASSWORD
    accounts: list[tuple[str, str]] = field(default_factory=list)
    pos_key: str = DEMO_POS_KEY

    def describe(self, *, base_url: str) -> str:
        lines = [
            "",
            "wallet demo is ready",
            f"  API:          {base_url}/v1",
            f"  Docs (try it): {base_url}/docs",
            f"  Health:       {base_url}/healthz",
            "",
            f"  Every demo account's password: {self.password}",
        ]
        lines += [f"  {role:<28} {email}" for role, email in self.accounts]
        lines += [f"  {'POS API key':<28} {self.pos_key}  (header X-API-Key, store Lumière Châtelet)",
                  f"  {'loyalty (lumiere)':<28} {LOYALTY_SUMMARY}", ""]
        return "\n".join(lines)


def seed_demo() -> DemoCredentials:
    """Create what is missing of the demo data; running it twice changes nothing."""
    credentials = DemoCredentials()
    admin = db.session.scalar(select(StaffMember).where(StaffMember.email == PLATFORM_ADMIN))
    if admin is None:
        admin = create_platform_admin(email=PLATFORM_ADMIN, password=PASSWORD, display_name="Demo platform admin")
    credentials.accounts.append((Role.PLATFORM_ADMIN.value, PLATFORM_ADMIN))
    acting = Principal(id=admin.id, role=Role.PLATFORM_ADMIN)

    for spec in BRANDS:
        brand = db.session.scalar(select(Brand).where(Brand.name_key == spec["name"].lower()))
        if brand is None:
            data = {k: v for k, v in spec.items() if k not in ("staff", "stores")}
            brand = brands.create_brand(principal=acting, data=data)
            for name, street, postal_code, lat, lon in spec["stores"]:
                brands.create_store(
                    principal=acting,
                    brand_id=brand.id,
                    data={
                        "name": name,
                        "street": street,
                        "postal_code": postal_code,
                        "city": "Paris",
                        "country_code": "FR",
                        "location": shapely.Point(lon, lat),
                        "time_zone": "Europe/Paris",
                    },
                )
        first_store = db.session.scalar(select(Store).where(Store.brand_id == brand.id).order_by(Store.name))
        for role in (Role.BRAND_ADMIN, Role.MARKETER, Role.CASHIER):
            email = f"{role.value.replace('_', '-')}@{spec['staff']}.demo"
            if db.session.scalar(select(StaffMember.id).where(StaffMember.email == email)) is None:
                brands.create_staff_member(
                    principal=acting,
                    brand_id=brand.id,
                    data={
                        "email": email,
                        "password": PASSWORD,
                        "display_name": f"{role.value.replace('_', ' ').title()} ({brand.name})",
                        "role": role.value,
                        "store_ids": [first_store.id] if role == Role.CASHIER and first_store else [],
                    },
                )
            credentials.accounts.append((f"{role.value} ({spec['staff']})", email))

    _ensure_geofences_and_offers(acting)
    _ensure_loyalty_program(acting)
    _ensure_demo_pos_key()
    shopper = db.session.scalar(select(Shopper).where(Shopper.email == SHOPPER))
    if shopper is None:
        shopper, _ = sign_up_shopper(
            email=SHOPPER,
            password=PASSWORD,
            display_name="Camille Martin",
            locale="fr-FR",
            time_zone="Europe/Paris",
            consents={"location": True, "marketing": True},
        )
        _fill_wallet(Principal(id=shopper.id, role=SHOPPER_ROLE))
    credentials.accounts.insert(1, ("shopper", SHOPPER))
    return credentials


def _fill_wallet(shopper: Principal) -> None:
    """A member card of the bakery and a card the shopper brought from the grocer and a cheese shop."""
    bakery = db.session.scalar(select(Brand).where(Brand.name_key == "boulangerie lumière"))
    grocer = db.session.scalar(select(Brand).where(Brand.name_key == "maison verte"))
    assert bakery is not None and grocer is not None
    cards.enrol(principal=shopper, brand_id=bakery.id)
    cards.add_card(principal=shopper, brand_id=grocer.id, number="MV20240042", label="Maison Verte")
    cards.add_card(principal=shopper, shop_name="Fromagerie du Marché", number="4006381333931",
                   symbology="ean13", label="Fromagerie")


def _ensure_geofences_and_offers(acting: Principal) -> None:
    """A fence around every demo store (a polygon at Châtelet, circles elsewhere) and a few live offers."""
    if db.session.scalar(select(Geofence.id).limit(1)) is not None:
        return
    for store in db.session.scalars(select(Store).order_by(Store.name)).all():
        lat, lon = store.location.y, store.location.x
        if store.name == "Lumière Châtelet":
            shape: dict[str, object] = {"polygon": _square(lat, lon, half_side_m=25)}
        else:
            shape = {"circle": {"center": store.location, "radius_m": 60.0}}
        create_geofence(principal=acting, brand_id=store.brand_id,
                        data={"store_id": store.id, "name": f"{store.name} entrance", **shape})
    now = utcnow()
    window = {"valid_from": (now - dt.timedelta(days=1)).isoformat(),
              "valid_until": (now + dt.timedelta(days=365)).isoformat()}
    for brand_name, offer in DEMO_OFFERS:
        brand = db.session.scalar(select(Brand).where(Brand.name_key == brand_name))
        assert brand is not None
        data = OfferCreateSchema().load({**offer, **window, "all_stores": True})
        created = offers.create_offer(principal=acting, brand_id=brand.id, data=data)
        offers.activate_offer(principal=acting, brand_id=brand.id, offer_id=created.id)


def _square(lat: float, lon: float, *, half_side_m: float) -> dict[str, object]:
    dlat = math.degrees(half_side_m / 6_371_008.8)
    dlon = dlat / math.cos(math.radians(lat))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat], [lon - dlon, lat + dlat],
            [lon - dlon, lat - dlat]]
    return parse_geojson_polygon({"type": "Polygon", "coordinates": [ring]})


def _texts(fr: tuple[str, str], en: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {"fr": {"title": fr[0], "description": fr[1]}, "en": {"title": en[0], "description": en[1]}}


DEMO_OFFERS = [
    ("boulangerie lumière", {
        "reward": {"type": "free_item", "item": "Croissant"},
        "content": _texts(("Un croissant offert", "Passez nous voir : le croissant est pour nous."),
                          ("A free croissant", "Drop in: the croissant is on us.")),
        "trigger": "enter", "max_per_shopper": 1, "coupon_ttl_minutes": 60,
    }),
    ("boulangerie lumière", {
        "reward": {"type": "percent_off", "percent": 10},
        "content": _texts(("-10 % sur la viennoiserie", "Vous prenez le temps : profitez-en."),
                          ("10% off pastries", "Taking your time? Enjoy.")),
        "trigger": "dwell", "dwell_minutes": 5, "coupon_ttl_minutes": 30, "cooldown_minutes": 1440,
    }),
    ("maison verte", {
        "reward": {"type": "amount_off", "amount_minor": 300, "currency": "EUR"},
        "content": _texts(("3 € offerts", "3 € de remise sur vos courses."), ("3 € off", "3 € off your shopping.")),
        "trigger": "enter", "audience": "members", "daily_budget": 200, "coupon_ttl_minutes": 120,
    }),
]


LOYALTY_SUMMARY = ("1 point per euro; Silver at 200 points, Gold at 1,000; a coffee for 50 points; "
                   "every 5th purchase of 5 € or more earns a pastry")


def _ensure_loyalty_program(acting: Principal) -> None:
    """The bakery's program: points, two tiers, a reward to claim for points and a stamp card."""
    bakery = db.session.scalar(select(Brand).where(Brand.name_key == "boulangerie lumière"))
    assert bakery is not None
    if db.session.scalar(select(LoyaltyProgram.brand_id).where(LoyaltyProgram.brand_id == bakery.id)) is not None:
        return
    rules = {"currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": 24}
    loyalty.set_program(principal=acting, brand_id=bakery.id, data={**rules, "stamp_card": None})
    for name, threshold in (("Silver", 200), ("Gold", 1000)):
        loyalty.create_tier(principal=acting, brand_id=bakery.id, data={"name": name, "threshold_points": threshold})
    reward_ids = []
    for points_cost, item, fr, en in (
            (50, "Café", ("Un café offert", "Au comptoir, avec nos compliments."),
             ("A free coffee", "At the counter, with our compliments.")),
            (80, "Viennoiserie", ("Une viennoiserie offerte", "Croissant, pain au chocolat : au choix."),
             ("A free pastry", "Croissant or pain au chocolat: your choice."))):
        reward = loyalty.create_reward(principal=acting, brand_id=bakery.id, data={
            "points_cost": points_cost, "reward": {"type": "free_item", "item": item}, "content": _texts(fr, en),
            "default_locale": "fr", "coupon_ttl_minutes": 30 * 24 * 60, "stock": None, "tier_ids": []})
        reward_ids.append(reward.reward.id)
    loyalty.set_program(principal=acting, brand_id=bakery.id, data={
        **rules, "stamp_card": {"size": 5, "min_amount_minor": 500, "reward_id": reward_ids[1]}})


def _ensure_demo_pos_key() -> None:
    digest = auth_secrets.digest(DEMO_POS_KEY)
    if db.session.scalar(select(PosApiKey.id).where(PosApiKey.key_hash == digest)) is not None:
        return
    store = db.session.scalar(select(Store).where(Store.name == "Lumière Châtelet"))
    assert store is not None
    with transaction() as session:
        session.add(
            PosApiKey(
                brand_id=store.brand_id,
                store_id=store.id,
                name="Demo till 1",
                prefix=DEMO_POS_KEY[:11],
                key_hash=digest,
            )
        )
