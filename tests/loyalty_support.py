"""Helpers of the loyalty and checkout tests: a brand with its program, members enrolled the real
way, live codes, scans at the till, coupons of offers issued the real way, and the ledger audit
(the cached balance against the sum of the entries)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from wallet.auth.models import Role, StaffMember
from wallet.auth.principal import SHOPPER, Principal
from wallet.cards import services as cards
from wallet.cards.models import Membership
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import Geofence
from wallet.loyalty import services as loyalty
from wallet.loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyReward
from wallet.offers import services as offers
from wallet.offers.models import ACTIVE, ENTER, Coupon, Offer, OfferGeofence
from wallet.passes import codes
from wallet.passes.models import Pass

TEXTS = {"fr": {"title": "Un café offert", "description": "Au comptoir", "terms": ""},
         "en": {"title": "A free coffee", "description": "At the counter", "terms": ""}}


def platform_admin() -> Principal:
    """A platform administrator (a real account: offers name who created them)."""
    with transaction() as session:
        admin = StaffMember(email=f"platform-{uuid.uuid4().hex[:8]}@staff.test", password_hash="-",
                            display_name="Platform", role=Role.PLATFORM_ADMIN)
        session.add(admin)
    return Principal(id=admin.id, role=Role.PLATFORM_ADMIN)


def set_program(brand: Any, **rules: Any) -> None:
    """The brand's program: 1 point per euro, in EUR, unless told otherwise."""
    data = {"currency": "EUR", "points_per_unit": 1, "unit_minor": 100, "points_expiry_months": None,
            "stamp_card": None, **rules}
    loyalty.set_program(principal=platform_admin(), brand_id=brand.id, data=data)


def add_reward(brand: Any, points_cost: int, **fields: Any) -> LoyaltyReward:
    data = {"points_cost": points_cost, "reward": {"type": "free_item", "item": "Café"}, "content": TEXTS,
            "default_locale": "fr", "coupon_ttl_minutes": 60 * 24, "stock": None, "tier_ids": [], **fields}
    return loyalty.create_reward(principal=platform_admin(), brand_id=brand.id, data=data).reward


def add_tier(brand: Any, name: str, threshold_points: int) -> Any:
    return loyalty.create_tier(principal=platform_admin(), brand_id=brand.id,
                               data={"name": name, "threshold_points": threshold_points})


def enrol(shopper: Any, brand: Any) -> Membership:
    return cards.enrol(principal=Principal(id=shopper.id, role=SHOPPER), brand_id=brand.id)


def live_code(pass_id: uuid.UUID, offset_steps: int = 0) -> str:
    pass_ = db.session.get(Pass, pass_id)
    assert pass_ is not None
    return codes.format_pass_code(pass_.kind, pass_.short_id, pass_.secret, codes.step_at(time.time()) + offset_steps)


def next_code(pass_id: uuid.UUID) -> str:
    """The live code, as if the shopper showed it after the last accepted one had rotated away
    (a till accepts each 30-second step once: tests that scan more often forget the last step)."""
    with transaction():
        db.session.execute(update(Pass).where(Pass.id == pass_id).values(last_accepted_step=None))
    return live_code(pass_id)


def scan(client: Any, headers: dict[str, str], pass_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    """Scan a pass's live code at the till; the answer, which must be a success."""
    response = client.post("/v1/pos/scan", json={"code": next_code(pass_id), **extra}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def member_token(client: Any, headers: dict[str, str], membership: Membership, **extra: Any) -> str:
    return scan(client, headers, membership.pass_id, **extra)["member_token"]


def purchase(client: Any, headers: dict[str, str], token: str, amount_minor: int, order_reference: str | None = None,
             **extra: Any) -> Any:
    body = {"member_token": token, "amount_minor": amount_minor, "currency": "EUR",
            "order_reference": order_reference or f"ORD-{uuid.uuid4().hex[:12]}", **extra}
    return client.post("/v1/pos/purchases", json=body, headers=headers)


def refund(client: Any, headers: dict[str, str], order_reference: str, amount_minor: int,
           refund_reference: str | None = None, **extra: Any) -> Any:
    body = {"order_reference": order_reference, "refund_reference": refund_reference or f"RF-{uuid.uuid4().hex[:12]}",
            "amount_minor": amount_minor, "currency": "EUR", **extra}
    return client.post("/v1/pos/refunds", json=body, headers=headers)


def redeem(client: Any, headers: dict[str, str], token: str, key: str | None = None, order_reference: str = "ORD-1",
           **extra: Any) -> Any:
    return client.post("/v1/pos/redemptions", json={"redemption_token": token, "order_reference": order_reference,
                                                     **extra},
                       headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def make_offer(brand: Any, fences: list[Geofence] | None = None, **fields: Any) -> Offer:
    """An active enter offer on the given fences (else every store), no caps."""
    now = utcnow()
    values = {"reward_type": "percent_off", "reward_percent": 10, "all_stores": not fences,
              "audience": "opted_in", "coupon_ttl_minutes": 120, **fields}
    with transaction() as session:
        offer = Offer(id=uuid.uuid4(), brand_id=brand.id, status=ACTIVE, content=TEXTS, default_locale="fr",
                      valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=7), schedule=[],
                      trigger=ENTER, issued_count=0, **values)
        session.add(offer)
        session.flush()
        session.add_all(OfferGeofence(offer_id=offer.id, geofence_id=fence.id) for fence in fences or [])
    return offer


def issue(shopper: Any, fence: Geofence, at: dt.datetime | None = None) -> list[Coupon]:
    """The coupons a shopper gets by walking into ``fence`` (the real pipeline's call)."""
    at = at or utcnow()
    with transaction():
        return offers.issue_coupons(shopper_id=shopper.id, geofence_id=fence.id, trigger=ENTER,
                                    visit_started_at=at, at=at)


@dataclass(frozen=True)
class Audit:
    balance: int
    ledger_sum: int
    entries: int


def audit(membership_id: uuid.UUID) -> Audit:
    """The cached balance and the sum of the ledger, read fresh from the database."""
    db.session.expire_all()
    balance = db.session.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.membership_id == membership_id))
    total, count = db.session.execute(
        select(func.coalesce(func.sum(LedgerEntry.points), 0), func.count())
        .where(LedgerEntry.membership_id == membership_id)).one()
    return Audit(balance=balance or 0, ledger_sum=int(total), entries=int(count))
