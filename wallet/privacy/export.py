"""Shopper data export (GDPR art. 15 and 20): every table that holds rows about a shopper, as JSON.

``SECTIONS`` is the one list of what we hold on a shopper, table by table, with the path from the
shopper to its rows and the columns left out, each with its reason (secrets, hashes: not data about
the person, and dangerous to hand out). ``NOT_EXPORTED`` names, with the reason, the tables that refer to
shoppers but are not returned. A test walks the metadata and fails when a table that refers to a
shopper is in neither, so a new table cannot be forgotten silently.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select

from wallet.auth.models import AuthSession, ConsentEvent, RefreshToken, Shopper
from wallet.cards.models import Card, Membership
from wallet.extensions import db
from wallet.geo.models import LastFix, LocationFix, Presence
from wallet.loyalty.models import LedgerEntry, LoyaltyAccount, Purchase, Refund
from wallet.offers.models import Coupon, OfferShopperCount
from wallet.passes.models import Pass
from wallet.pos.models import Redemption
from wallet.privacy.models import BrandConsent
from wallet.push.models import PushDailyCount, PushDevice, PushOutbox

# 2: a section's ``omitted`` maps each column left out to the reason.
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Section:
    """One table's rows about the shopper, under ``name`` in the export."""

    name: str
    model: type[Any]
    rows: Callable[[uuid.UUID], Select[Any]]
    description: str
    # Columns left out of the export, each with the reason given to the shopper.
    omit: Mapping[str, str] = field(default_factory=dict)


def _sessions(shopper_id: uuid.UUID) -> Select[Any]:
    return select(AuthSession.id).where(AuthSession.shopper_id == shopper_id)


def _memberships(shopper_id: uuid.UUID) -> Select[Any]:
    return select(Membership.id).where(Membership.shopper_id == shopper_id)


def _coupons(shopper_id: uuid.UUID) -> Select[Any]:
    return select(Coupon.id).where(Coupon.shopper_id == shopper_id)


def _own(model: type[Any]) -> Callable[[uuid.UUID], Select[Any]]:
    return lambda shopper_id: select(model).where(model.shopper_id == shopper_id)


_HASH = "a one-way hash used to check a secret, not data about the person, and dangerous to hand out"
_REPLAY = "the stored answer replayed to a till that retries; it repeats figures exported in this section"

SECTIONS: tuple[Section, ...] = (
    Section("profile", Shopper, lambda sid: select(Shopper).where(Shopper.id == sid),
            description="The account: e-mail, name, locale, time zone, birthday, global consents",
            omit={"password_hash": _HASH}),
    Section("consent_history", ConsentEvent, _own(ConsentEvent),
            description="Every change of a consent (global or per brand), when and through what"),
    Section("brand_consents", BrandConsent, _own(BrandConsent), description="Current opt-in or opt-out per brand"),
    Section("sessions", AuthSession, _own(AuthSession), description="Signed-in devices"),
    Section("refresh_tokens", RefreshToken,
            lambda sid: select(RefreshToken).where(RefreshToken.session_id.in_(_sessions(sid))),
            description="When each refresh token was issued and used (the tokens themselves are not kept)",
            omit={"token_hash": _HASH}),
    Section("cards", Card, _own(Card), description="Cards in the wallet",
            omit={"dedupe_key": "a hash of the card's shop and number, used only to refuse the same card twice"}),
    Section("memberships", Membership, _own(Membership), description="Loyalty programs joined"),
    Section("passes", Pass, _own(Pass), description="Passes issued (member cards, coupons)",
            omit={"secret": "the key that makes a pass's codes unforgeable: whoever holds it can forge them"}),
    Section("loyalty_accounts", LoyaltyAccount,
            lambda sid: select(LoyaltyAccount).where(LoyaltyAccount.membership_id.in_(_memberships(sid))),
            description="Points and stamps per program"),
    Section("loyalty_ledger", LedgerEntry,
            lambda sid: select(LedgerEntry).where(LedgerEntry.membership_id.in_(_memberships(sid))),
            description="Every movement of points"),
    Section("purchases", Purchase,
            lambda sid: select(Purchase).where(Purchase.membership_id.in_(_memberships(sid))),
            description="Purchases tills reported for points", omit={"response": _REPLAY}),
    Section("refunds", Refund,
            lambda sid: select(Refund).where(Refund.purchase_id.in_(
                select(Purchase.id).where(Purchase.membership_id.in_(_memberships(sid))))),
            description="Refunds of those purchases", omit={"response": _REPLAY}),
    Section("coupons", Coupon, _own(Coupon), description="Coupons issued to the shopper"),
    Section("redemptions", Redemption,
            lambda sid: select(Redemption).where(Redemption.coupon_id.in_(_coupons(sid))),
            description="Coupons redeemed at tills",
            omit={"request_hash": "a hash of the till's request, to recognise its retries; says nothing new",
                  "response": _REPLAY,
                  "idempotency_key": "a till's retry key: whoever holds it could read the redemption's answer"}),
    Section("offer_counters", OfferShopperCount, _own(OfferShopperCount),
            description="Coupons of each offer received (for its caps)"),
    Section("presence", Presence, _own(Presence), description="Where the shopper stands relative to nearby geofences"),
    Section("last_fix", LastFix, _own(LastFix), description="The last position near a geofence (speed check)"),
    Section("location_fixes", LocationFix, _own(LocationFix),
            description="Raw positions (kept only when a retention period is configured)"),
    Section("devices", PushDevice, _own(PushDevice), description="Phones registered for pushes",
            omit={"token": "the push service's address of the phone: whoever holds it can send it notifications"}),
    Section("pushes", PushOutbox, _own(PushOutbox), description="Notifications sent or pending",
            omit={"lease_id": "a worker's lock on a pending notification, random and about no one"}),
    Section("push_daily_counts", PushDailyCount, _own(PushDailyCount),
            description="Pushes per local day (for the daily cap)"),
)

NOT_EXPORTED: dict[str, str] = {
    "sign_in_throttles": "a security counter of failed sign-ins for an e-mail, kept minutes; not returned so that it "
                         "does not help password guessing; deleted on erasure and by retention",
    "funnel_shoppers": "keyed hashes for counting distinct shoppers in offer funnels; not linkable to the shopper "
                       "without the server's secret, re-keyed at random on erasure",
}


def export_shopper(shopper_id: uuid.UUID) -> dict[str, Any]:
    """Everything we hold on the shopper, section by section (JSON-ready values)."""
    document: dict[str, Any] = {"format_version": FORMAT_VERSION, "exported_at": _value(dt.datetime.now(dt.UTC)),
                                "shopper_id": str(shopper_id)}
    for section in SECTIONS:
        rows = [_row(instance, set(section.omit)) for instance in db.session.scalars(section.rows(shopper_id))]
        document[section.name] = rows[0] if section.name == "profile" else rows
    document["sections"] = {section.name: {"table": section.model.__tablename__, "description": section.description,
                                           "omitted": dict(sorted(section.omit.items()))} for section in SECTIONS}
    return document


def _row(instance: Any, omit: set[str]) -> dict[str, Any]:
    return {column.key: _value(getattr(instance, column.key))
            for column in instance.__mapper__.column_attrs if column.key not in omit}


def _value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
