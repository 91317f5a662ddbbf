"""Helpers and fixtures of the push tests: coupons issued the real way (their outbox rows with
them), devices, a dispatcher with restraint settings of the test's choosing, and the real
firebase-admin client pointed at the fake FCM on loopback.

Test modules import the fixtures they use: ``from tests.push_support import fake_fcm, fcm``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.fakes.fcm_server import FakeFcm
from wallet.auth.principal import SHOPPER, Principal
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, FREE_ITEM, Coupon, Offer
from wallet.privacy.models import BrandConsent
from wallet.push import services as push
from wallet.push.dispatcher import Dispatcher, Settings
from wallet.push.models import PushDevice, PushOutbox
from wallet.push.providers import LogProvider, Provider, make_provider

TEXTS = {"fr": {"title": "Un croissant offert", "description": "Avec votre café, ce matin", "terms": ""},
         "en": {"title": "A free croissant", "description": "With your coffee, this morning", "terms": ""}}


def make_offer(brand: Any, *, coupon_ttl_minutes: int = 60) -> Offer:
    """An active offer on every store of the brand, no caps: each entry issues a coupon."""
    now = utcnow()
    with transaction() as session:
        offer = Offer(brand_id=brand.id, status=ACTIVE, reward_type=FREE_ITEM, reward_item="Croissant", content=TEXTS,
                      default_locale="fr", valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=30),
                      schedule=[], trigger="enter", all_stores=True, audience="opted_in",
                      coupon_ttl_minutes=coupon_ttl_minutes, issued_count=0)
        session.add(offer)
    return offer


def opt_in(shopper: Any, brand: Any, opted_in: bool = True) -> None:
    with transaction() as session:
        consent = session.get(BrandConsent, (shopper.id, brand.id))
        if consent is None:
            session.add(BrandConsent(shopper_id=shopper.id, brand_id=brand.id, opted_in=opted_in, source="test"))
        else:
            consent.opted_in = opted_in


def add_device(shopper: Any, token: str | None = None, platform: str = "android", **fields: Any) -> PushDevice:
    return push.register_device(principal=Principal(id=shopper.id, role=SHOPPER),
                                token=token or f"token-{uuid.uuid4().hex}", platform=platform,
                                app_version=fields.pop("app_version", "3.2.0"), locale=fields.pop("locale", "fr-FR"),
                                **fields)


def issue_coupon(shopper: Any, fence: Any) -> tuple[Coupon, PushOutbox]:
    """What entering ``fence`` gives the shopper now: one coupon of each live offer; the first, and its push."""
    now = utcnow()
    with transaction():
        coupons = offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger="enter",
                                       visit_started_at=now, at=now)
    assert coupons, "no coupon issued: is the shopper opted in to the brand, is an offer active?"
    return coupons[0], outbox_row_of(coupons[0].id)


def outbox_row_of(coupon_id: uuid.UUID) -> PushOutbox:
    db.session.expire_all()
    return db.session.scalars(select(PushOutbox).where(PushOutbox.coupon_id == coupon_id)).one()


def reload(row: Any) -> Any:
    db.session.expire_all()
    return db.session.get(type(row), row.id)


class Clock:
    """The dispatcher's now, which a test moves forward (retries come due)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_fcm() -> Iterator[FakeFcm]:
    with FakeFcm() as fake:
        yield fake


def loopback_only_environment() -> dict[str, str]:
    """Proxy settings under which HTTP(S) to anywhere but loopback fails at once, on loopback.

    google-auth looks up the service account's regional access boundary at Google
    (iamcredentials.googleapis.com) in a background thread after fetching a token; in production
    that is right, in tests nothing may leave the machine, and nothing else should either.
    """
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jail = f"http://127.0.0.1:{port}"
    return {"HTTPS_PROXY": jail, "HTTP_PROXY": jail, "NO_PROXY": "127.0.0.1,localhost",
            "https_proxy": jail, "http_proxy": jail, "no_proxy": "127.0.0.1,localhost"}


@pytest.fixture
def fcm(app: Flask, fake_fcm: FakeFcm, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """The FCM provider as production builds it (GOOGLE_APPLICATION_CREDENTIALS, project from the
    service account), its endpoint and token_uri on the fake."""
    fake_fcm.reset()
    for name, value in loopback_only_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(fake_fcm.write_service_account(tmp_path / "sa.json")))
    provider = make_provider({**app.config, "PUSH_PROVIDER": "auto", "FCM_ENDPOINT": fake_fcm.url, "FCM_TIMEOUT": 1.0})
    assert provider.name == "fcm"
    yield provider
    provider.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_dispatcher(app: Flask, clock: Clock) -> Callable[..., Dispatcher]:
    """A dispatcher on the test database; quiet hours off unless given (the suite runs at any hour)."""

    def make(provider: Provider | None = None, **settings: Any) -> Dispatcher:
        base = dataclasses.replace(Settings.from_config(app.config), quiet_hours=None)
        return Dispatcher(app, provider or LogProvider(echo=lambda line: None),
                          settings=dataclasses.replace(base, **settings), clock=clock)

    return make
