"""Demo data for ``make run``: three Paris brands with real store locations and one account per role."""

from __future__ import annotations

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
        lines += [f"  {'POS API key':<28} {self.pos_key}  (header X-API-Key, store Lumière Châtelet)", ""]
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
