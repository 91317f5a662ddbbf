"""Use cases of the till."""

from __future__ import annotations

from typing import Any

from wallet.auth.models import Role
from wallet.auth.principal import POS_KEY, Principal
from wallet.brands.models import Brand
from wallet.core.errors import NotFound, PermissionDenied
from wallet.extensions import db


def describe_till(*, principal: Principal) -> dict[str, Any]:
    """Which brand and stores a cashier or POS key acts for."""
    if principal.role not in (Role.CASHIER, POS_KEY):
        raise PermissionDenied("Only cashiers and POS keys act at the till.")
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
