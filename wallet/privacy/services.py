"""Use cases of privacy: per-brand opt-in and opt-out (each change recorded with its source), the
consent history, the data export and erasure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from wallet.auth.models import ConsentEvent
from wallet.auth.principal import Principal
from wallet.brands.models import Brand
from wallet.core.errors import NotFound
from wallet.core.pagination import Page
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.privacy.models import BrandConsent

PROFILE = "profile"


@dataclass(frozen=True)
class BrandConsentView:
    """A shopper's consent for one brand, with the brand's name."""

    consent: BrandConsent
    brand: Brand

    @property
    def brand_name(self) -> str:
        return self.brand.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consent, name)


def record_brand_consent(
    *, shopper_id: uuid.UUID, brand_id: uuid.UUID, opted_in: bool, source: str
) -> BrandConsent:
    """Set the shopper's consent for one brand (the caller commits); unchanged consent records nothing."""
    consent = db.session.get(BrandConsent, (shopper_id, brand_id))
    if consent is not None and consent.opted_in == opted_in:
        return consent
    if consent is None:
        consent = BrandConsent(shopper_id=shopper_id, brand_id=brand_id, opted_in=opted_in, source=source)
        db.session.add(consent)
    else:
        consent.opted_in = opted_in
        consent.source = source
    db.session.add(ConsentEvent(shopper_id=shopper_id, brand_id=brand_id, consent="brand", granted=opted_in,
                                source=source))
    return consent


def list_brand_consents(*, principal: Principal, page: int, page_size: int) -> Page[BrandConsentView]:
    """The shopper's per-brand consents, by brand name."""
    query = (
        select(BrandConsent, Brand)
        .join(Brand, Brand.id == BrandConsent.brand_id)
        .where(BrandConsent.shopper_id == principal.id)
        .order_by(Brand.name_key, Brand.id)
    )
    total = db.session.scalar(
        select(func.count()).select_from(BrandConsent).where(BrandConsent.shopper_id == principal.id)) or 0
    rows = db.session.execute(query.limit(page_size).offset((page - 1) * page_size))
    return Page(items=[BrandConsentView(consent, brand) for consent, brand in rows], total=total)


def set_brand_consent(*, principal: Principal, brand_id: uuid.UUID, opted_in: bool) -> BrandConsentView:
    """Opt in to (or out of) a brand from the profile screen.

    Listed brands only, except that a brand the shopper already gave consent to can always be
    opted out of, even after it leaves the catalogue.
    """
    with transaction() as session:
        brand = session.get(Brand, brand_id)
        existing = session.get(BrandConsent, (principal.id, brand_id)) if brand is not None else None
        if brand is None or (not brand.listed and existing is None):
            raise NotFound("Brand not found.")
        consent = record_brand_consent(shopper_id=principal.id, brand_id=brand_id, opted_in=opted_in,
                                       source=PROFILE)
    return BrandConsentView(consent, brand)


# --- the shopper's data: consent history, export, erasure -----------------------------------


@dataclass(frozen=True)
class ConsentChange:
    """One recorded change of a consent, with the brand's name for per-brand consents."""

    event: ConsentEvent
    brand_name: str | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.event, name)


def list_consent_history(*, principal: Principal, page: int, page_size: int) -> Page[ConsentChange]:
    """Every change of the shopper's consents (global and per brand), newest first."""
    where = ConsentEvent.shopper_id == principal.id
    total = db.session.scalar(select(func.count()).select_from(ConsentEvent).where(where)) or 0
    rows = db.session.execute(
        select(ConsentEvent, Brand.name).outerjoin(Brand, Brand.id == ConsentEvent.brand_id).where(where)
        .order_by(ConsentEvent.recorded_at.desc(), ConsentEvent.id).limit(page_size).offset((page - 1) * page_size))
    return Page(items=[ConsentChange(event, name) for event, name in rows], total=total)


def export_my_data(*, principal: Principal) -> dict[str, Any]:
    """Everything held on the shopper, as one JSON document (GDPR art. 15 and 20)."""
    from wallet.privacy.export import export_shopper

    return export_shopper(principal.id)


def erase_me(*, principal: Principal, password: str) -> None:
    """Erase the shopper's personal data and credentials (GDPR art. 17); see ``wallet.privacy.erasure``."""
    from wallet.privacy.erasure import erase_shopper

    erase_shopper(principal=principal, password=password)
