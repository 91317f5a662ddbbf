"""Use cases of consent: per-brand opt-in and opt-out, each change recorded with its source."""

from __future__ import annotations

import uuid

from wallet.auth.models import ConsentEvent
from wallet.extensions import db
from wallet.privacy.models import BrandConsent


def record_brand_consent(*, shopper_id: uuid.UUID, brand_id: uuid.UUID, opted_in: bool, source: str) -> None:
    """Set the shopper's consent for one brand (the caller commits); unchanged consent records nothing."""
    consent = db.session.get(BrandConsent, (shopper_id, brand_id))
    if consent is not None and consent.opted_in == opted_in:
        return
    if consent is None:
        db.session.add(BrandConsent(shopper_id=shopper_id, brand_id=brand_id, opted_in=opted_in, source=source))
    else:
        consent.opted_in = opted_in
        consent.source = source
    db.session.add(ConsentEvent(shopper_id=shopper_id, brand_id=brand_id, consent="brand", granted=opted_in,
                                source=source))
