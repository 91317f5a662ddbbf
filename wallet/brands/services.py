"""Use cases of the tenants: brands, their stores, their staff and their POS keys.

Every function takes the acting principal and checks it against the brand it touches, so that
no caller reaches another tenant's rows whatever route it came through.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError

from wallet.auth import secrets as auth_secrets
from wallet.auth.models import AuthSession, PosApiKey, Role, StaffMember, StaffStoreScope
from wallet.auth.principal import Principal, check_brand_access
from wallet.auth.services import API_KEY_PREFIX, confirm_password, normalize_email
from wallet.auth.tokens import STAFF_AUDIENCE
from wallet.brands.models import Brand, Store
from wallet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from wallet.core.pagination import Page, paginate
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo import services as geo
from wallet.geo.models import Geofence

ADMINS = (Role.BRAND_ADMIN,)


# --- brands ---------------------------------------------------------------------------------


def create_brand(*, principal: Principal, data: dict[str, Any]) -> Brand:
    if not principal.is_platform_admin:
        raise PermissionDenied("Only platform administrators create brands.")
    with transaction() as session:
        _ensure_unique_name(data["name"])
        brand = Brand(name_key=data["name"].strip().lower(), **data)
        session.add(brand)
        _flush_or_conflict("A brand with this name exists.")
    return brand


def list_brands(*, principal: Principal, page: int, page_size: int) -> Page[Brand]:
    """Every brand for platform admins; one's own brand for its staff."""
    query = select(Brand).order_by(Brand.name_key, Brand.id)
    if not principal.is_platform_admin:
        query = query.where(Brand.id == principal.brand_id)
    return paginate(query, page=page, page_size=page_size)


def get_brand(*, principal: Principal, brand_id: uuid.UUID) -> Brand:
    check_brand_access(principal, brand_id)
    return _brand(brand_id)


def update_brand(*, principal: Principal, brand_id: uuid.UUID, changes: dict[str, Any]) -> Brand:
    check_brand_access(principal, brand_id, *ADMINS)
    with transaction():
        brand = _brand(brand_id)
        if "name" in changes and changes["name"].strip().lower() != brand.name_key:
            _ensure_unique_name(changes["name"])
            brand.name_key = changes["name"].strip().lower()
        for name, value in changes.items():
            setattr(brand, name, value)
        _flush_or_conflict("A brand with this name exists.")
    return brand


def list_catalogue(*, name_contains: str | None, page: int, page_size: int) -> Page[Brand]:
    """The public catalogue: listed brands, by name."""
    query = select(Brand).where(Brand.listed.is_(True)).order_by(Brand.name_key, Brand.id)
    if name_contains:
        query = query.where(Brand.name_key.contains(name_contains.strip().lower(), autoescape=True))
    return paginate(query, page=page, page_size=page_size)


def get_catalogue_brand(*, brand_id: uuid.UUID) -> Brand:
    brand = db.session.get(Brand, brand_id)
    if brand is None or not brand.listed:
        raise NotFound("Brand not found.")
    return brand


def list_catalogue_stores(*, brand_id: uuid.UUID, page: int, page_size: int) -> Page[Store]:
    get_catalogue_brand(brand_id=brand_id)
    return paginate(_stores_of(brand_id), page=page, page_size=page_size)


def _brand(brand_id: uuid.UUID) -> Brand:
    brand = db.session.get(Brand, brand_id)
    if brand is None:
        raise NotFound("Brand not found.")
    return brand


def _ensure_unique_name(name: str) -> None:
    if db.session.scalar(select(Brand.id).where(Brand.name_key == name.strip().lower())) is not None:
        raise Conflict("A brand with this name exists.", reason="name_taken")


def _flush_or_conflict(message: str) -> None:
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None


# --- stores ---------------------------------------------------------------------------------


def create_store(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> Store:
    check_brand_access(principal, brand_id, *ADMINS)
    with transaction() as session:
        _brand(brand_id)
        store = Store(brand_id=brand_id, **data)
        session.add(store)
    return store


def list_stores(*, principal: Principal, brand_id: uuid.UUID, page: int, page_size: int) -> Page[Store]:
    check_brand_access(principal, brand_id)
    _brand(brand_id)
    return paginate(_stores_of(brand_id), page=page, page_size=page_size)


def get_store(*, principal: Principal, brand_id: uuid.UUID, store_id: uuid.UUID) -> Store:
    check_brand_access(principal, brand_id, what="Store")
    return _store(brand_id, store_id)


def update_store(*, principal: Principal, brand_id: uuid.UUID, store_id: uuid.UUID, changes: dict[str, Any]) -> Store:
    check_brand_access(principal, brand_id, *ADMINS, what="Store")
    with transaction():
        store = _store(brand_id, store_id)
        if "location" in changes:
            geo.check_store_location(store_id=store.id, location=changes["location"])
        for name, value in changes.items():
            setattr(store, name, value)
    return store


def delete_store(*, principal: Principal, brand_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Delete a store for its brand: archived, since coupons, purchases and funnels keep naming it.

    The store leaves the lists and the catalogue and can no longer be used: its fences are
    archived (no more triggers, no monitored regions), its cashiers lose it from their stores and
    its POS keys are revoked. Its id and name stay for history.
    """
    check_brand_access(principal, brand_id, *ADMINS, what="Store")
    with transaction() as session:
        store = _store(brand_id, store_id)
        store.archived_at = utcnow()
        geo.archive_geofences(session.scalars(select(Geofence).where(
            Geofence.store_id == store.id, Geofence.archived_at.is_(None))).all())
        session.execute(delete(StaffStoreScope).where(StaffStoreScope.store_id == store.id))
        # One by one, not in bulk, so that each process's cache of POS keys hears of it.
        for key in session.scalars(select(PosApiKey).where(PosApiKey.store_id == store.id,
                                                           PosApiKey.revoked_at.is_(None))):
            key.revoked_at = store.archived_at


def _stores_of(brand_id: uuid.UUID) -> Select[Any]:
    return (select(Store).where(Store.brand_id == brand_id, Store.archived_at.is_(None))
            .order_by(Store.name, Store.id))


def _store(brand_id: uuid.UUID, store_id: uuid.UUID) -> Store:
    store = db.session.get(Store, store_id)
    if store is None or store.brand_id != brand_id or store.archived_at is not None:
        raise NotFound("Store not found.")
    return store


# --- staff ----------------------------------------------------------------------------------


def create_staff_member(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> StaffMember:
    """A new staff member of the brand. Staff e-mails are unique across the platform (they sign in
    with the e-mail alone), and a brand admin must not learn which e-mails are staff elsewhere: an
    e-mail of another brand's staff (or of a platform admin) gets the answer of a success, made the
    same way, but no account. An e-mail already in the admin's own brand is a 409 ``email_taken``, as
    it is for a platform admin, who sees every brand anyway."""
    check_brand_access(principal, brand_id, *ADMINS)
    email = normalize_email(data["email"])
    with transaction() as session:
        _brand(brand_id)
        now = utcnow()
        member = StaffMember(
            id=uuid.uuid4(),
            brand_id=brand_id,
            email=email,
            password_hash=auth_secrets.hash_password(data["password"]),  # also when not kept: the same time
            display_name=data["display_name"],
            role=data["role"],
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        _set_store_scope(member, brand_id, data["role"], data.get("store_ids") or [])
        holder = session.execute(select(StaffMember.brand_id).where(StaffMember.email == email)).first()
        if holder is not None:
            if holder.brand_id == brand_id or principal.is_platform_admin:
                raise Conflict("A staff account exists for this e-mail.", reason="email_taken")
            return member  # never added to the session: nothing is written
        session.add(member)
        _flush_or_conflict("A staff account exists for this e-mail.")
    return member


def list_staff(*, principal: Principal, brand_id: uuid.UUID, page: int, page_size: int) -> Page[StaffMember]:
    check_brand_access(principal, brand_id, *ADMINS)
    _brand(brand_id)
    query = select(StaffMember).where(StaffMember.brand_id == brand_id).order_by(StaffMember.email)
    return paginate(query, page=page, page_size=page_size)


def get_staff(*, principal: Principal, brand_id: uuid.UUID, staff_id: uuid.UUID) -> StaffMember:
    check_brand_access(principal, brand_id, *ADMINS, what="Staff member")
    return _staff(brand_id, staff_id)


def update_staff(
    *, principal: Principal, brand_id: uuid.UUID, staff_id: uuid.UUID, changes: dict[str, Any]
) -> StaffMember:
    check_brand_access(principal, brand_id, *ADMINS, what="Staff member")
    if "password" in changes and staff_id == principal.id:
        # One's own password: a stolen 15-minute token must not become the account for good. An admin
        # resetting someone else's password needs no password of theirs (their sessions end).
        confirm_password(audience=STAFF_AUDIENCE, account=_staff(brand_id, staff_id),
                         password=changes.get("current_password"), field="current_password")
    with transaction():
        member = _staff(brand_id, staff_id)
        if member.id == principal.id and (changes.get("is_active") is False or changes.get("role", member.role) != member.role):
            raise Conflict("You cannot demote or deactivate yourself.", reason="self_lockout")
        if "display_name" in changes:
            member.display_name = changes["display_name"]
        if "password" in changes:
            member.password_hash = auth_secrets.hash_password(changes["password"])
            _end_sessions(member.id)
        role = changes.get("role", member.role)
        if "role" in changes or "store_ids" in changes:
            store_ids = changes.get("store_ids", member.store_ids if role == Role.CASHIER else [])
            member.role = role
            _set_store_scope(member, brand_id, role, store_ids)
        if "is_active" in changes:
            member.is_active = changes["is_active"]
            if not member.is_active:
                _end_sessions(member.id)
    return member


def delete_staff(*, principal: Principal, brand_id: uuid.UUID, staff_id: uuid.UUID) -> None:
    check_brand_access(principal, brand_id, *ADMINS, what="Staff member")
    with transaction() as session:
        member = _staff(brand_id, staff_id)
        if member.id == principal.id:
            raise Conflict("You cannot delete your own account.", reason="self_lockout")
        session.delete(member)


def _staff(brand_id: uuid.UUID, staff_id: uuid.UUID) -> StaffMember:
    member = db.session.get(StaffMember, staff_id)
    if member is None or member.brand_id != brand_id:
        raise NotFound("Staff member not found.")
    return member


def _set_store_scope(member: StaffMember, brand_id: uuid.UUID, role: str, store_ids: list[uuid.UUID]) -> None:
    """Cashiers act for named stores of their brand; other roles are brand-wide."""
    wanted = list(dict.fromkeys(store_ids))
    if role != Role.CASHIER:
        if wanted:
            raise ValidationFailed.on("store_ids", "Only cashiers are scoped to stores.")
        member.store_scopes = []
        return
    if not wanted:
        raise ValidationFailed.on("store_ids", "A cashier needs at least one store.")
    found = set(db.session.scalars(select(Store.id).where(Store.brand_id == brand_id, Store.id.in_(wanted),
                                                          Store.archived_at.is_(None))))
    missing = [str(store_id) for store_id in wanted if store_id not in found]
    if missing:
        raise ValidationFailed.on("store_ids", f"Not stores of this brand: {', '.join(missing)}.")
    member.store_scopes = [StaffStoreScope(store_id=store_id) for store_id in wanted]


def _end_sessions(staff_id: uuid.UUID) -> None:
    now = utcnow()
    for auth_session in db.session.scalars(
        select(AuthSession).where(AuthSession.staff_id == staff_id, AuthSession.revoked_at.is_(None))
    ):
        auth_session.revoked_at = now


# --- POS API keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedPosKey:
    """A new key with its secret, which is never shown again."""

    record: PosApiKey
    key: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


def create_pos_key(*, principal: Principal, brand_id: uuid.UUID, name: str, store_id: uuid.UUID) -> CreatedPosKey:
    check_brand_access(principal, brand_id, *ADMINS)
    with transaction() as session:
        store = db.session.get(Store, store_id)
        if store is None or store.brand_id != brand_id or store.archived_at is not None:
            raise ValidationFailed.on("store_id", "Not a store of this brand.")
        prefix = uuid.uuid4().hex[:8]
        key = f"{API_KEY_PREFIX}{prefix}_{auth_secrets.new_token()}"
        record = PosApiKey(
            brand_id=brand_id,
            store_id=store_id,
            name=name,
            prefix=f"{API_KEY_PREFIX}{prefix}",
            key_hash=auth_secrets.digest(key),
            created_by_id=principal.id if principal.is_staff else None,
        )
        session.add(record)
    return CreatedPosKey(record=record, key=key)


def list_pos_keys(
    *, principal: Principal, brand_id: uuid.UUID, include_revoked: bool, page: int, page_size: int
) -> Page[PosApiKey]:
    check_brand_access(principal, brand_id, *ADMINS)
    query = select(PosApiKey).where(PosApiKey.brand_id == brand_id).order_by(PosApiKey.created_at.desc(), PosApiKey.id)
    if not include_revoked:
        query = query.where(PosApiKey.revoked_at.is_(None))
    return paginate(query, page=page, page_size=page_size)


def revoke_pos_key(*, principal: Principal, brand_id: uuid.UUID, key_id: uuid.UUID) -> PosApiKey:
    check_brand_access(principal, brand_id, *ADMINS, what="API key")
    with transaction():
        record = db.session.get(PosApiKey, key_id)
        if record is None or record.brand_id != brand_id:
            raise NotFound("API key not found.")
        if record.revoked_at is None:
            record.revoked_at = utcnow()
    return record


def count_brands() -> int:
    return db.session.scalar(select(func.count()).select_from(Brand)) or 0
