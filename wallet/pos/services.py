"""Use cases of the till: who is at it, and what a scanned code is."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from wallet.auth.models import Role, Shopper
from wallet.auth.principal import POS_KEY, Principal, check_store_access
from wallet.brands.models import Brand
from wallet.cards.models import Membership
from wallet.core.errors import NotFound, PermissionDenied, ValidationFailed
from wallet.extensions import db
from wallet.offers import services as offers
from wallet.passes import services as passes
from wallet.passes.models import COUPON, MEMBER_CARD

TILL_ROLES = (Role.CASHIER, POS_KEY)


def describe_till(*, principal: Principal) -> dict[str, Any]:
    """Which brand and stores a cashier or POS key acts for."""
    _check_till(principal)
    brand = db.session.get(Brand, principal.brand_id)
    if brand is None:
        raise NotFound("Brand not found.")
    return {
        "actor_id": principal.id,
        "actor_kind": "cashier" if principal.role == Role.CASHIER else POS_KEY,
        "brand_id": brand.id,
        "brand_name": brand.name,
        "store_ids": sorted(principal.store_ids, key=str),
    }


def scan(*, principal: Principal, code: str, store_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Say what a scanned code is, for this till's brand; a genuine rotating code is then spent."""
    _check_till(principal)
    store_id = _till_store(principal, store_id)
    assert principal.brand_id is not None
    pass_ = passes.resolve_code(code, brand_id=principal.brand_id)
    if pass_.kind == COUPON:
        # Reported whatever its state: the cashier tells the shopper why an expired one is refused.
        return {"kind": "coupon", "brand_id": principal.brand_id, "store_id": store_id,
                "coupon": offers.describe_coupon_for_till(pass_id=pass_.id)}
    if pass_.kind != MEMBER_CARD:
        raise ValidationFailed.on("code", "This code is neither a member card nor a coupon.")
    row = db.session.execute(
        select(Membership, Shopper.display_name)
        .join(Shopper, Shopper.id == Membership.shopper_id)
        .where(Membership.pass_id == pass_.id)
    ).one()
    membership, display_name = row
    return {
        "kind": "member_card",
        "brand_id": principal.brand_id,
        "store_id": store_id,
        "member": {
            "membership_id": membership.id,
            "member_number": membership.member_number,
            "display_name": display_name,
            "enrolled_at": membership.enrolled_at,
        },
    }


def _check_till(principal: Principal) -> None:
    if principal.role not in TILL_ROLES:
        raise PermissionDenied("Only cashiers and POS keys act at the till.")


def _till_store(principal: Principal, store_id: uuid.UUID | None) -> uuid.UUID:
    """The store the till is in: named, or the caller's only store."""
    assert principal.brand_id is not None
    if store_id is None:
        if len(principal.store_ids) != 1:
            raise ValidationFailed.on("store_id", "Say which of your stores this till is in.")
        return next(iter(principal.store_ids))
    check_store_access(principal, principal.brand_id, store_id)
    return store_id
