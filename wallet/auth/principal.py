"""Who is calling: the principal that routes hand to services, and the checks services make on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from wallet.auth.models import Role
from wallet.core.errors import NotFound, PermissionDenied

SHOPPER = "shopper"
POS_KEY = "pos_key"
STAFF_ROLES = tuple(Role)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``role`` is a staff ``Role``, ``"shopper"`` or ``"pos_key"``."""

    id: uuid.UUID
    role: str
    brand_id: uuid.UUID | None = None
    store_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None

    @property
    def is_shopper(self) -> bool:
        return self.role == SHOPPER

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_platform_admin(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN


def check_brand_access(principal: Principal, brand_id: uuid.UUID, *roles: str, what: str = "Brand") -> None:
    """Let platform admins and the brand's own staff (with one of ``roles``, if given) through.

    Staff of another brand are told the resource does not exist: they must not learn which
    identifiers belong to someone else.
    """
    if principal.is_platform_admin:
        return
    if principal.brand_id != brand_id:
        raise NotFound(f"{what} not found.")
    if roles and principal.role not in roles:
        raise PermissionDenied(f"Your role ({principal.role}) may not do this.")


def check_store_access(principal: Principal, brand_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Cashiers and POS keys act only for their own stores; brand-wide roles for every store."""
    check_brand_access(principal, brand_id, what="Store")
    if principal.role in (Role.CASHIER, POS_KEY) and store_id not in principal.store_ids:
        raise PermissionDenied("You may not act for this store.")
