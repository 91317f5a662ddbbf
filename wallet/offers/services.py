"""Use cases of offers: retailers configure them, the location pipeline issues their coupons,
shoppers see and show their coupons, tills read them.

Caps and budgets hold under concurrency because every counter moves by one conditional
statement (``UPDATE ... WHERE issued_count < global_budget``, ``INSERT ... ON CONFLICT DO UPDATE
... WHERE``): the database, not a read-then-write in Python, decides who gets the last coupon.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import make_transient_to_detached

from wallet.auth.models import Role, Shopper
from wallet.auth.principal import Principal, check_brand_access
from wallet.brands.models import Brand, Store
from wallet.cards.models import Membership
from wallet.core import versions
from wallet.core.db import UTCDateTime
from wallet.core.errors import Conflict, NotFound, ValidationFailed
from wallet.core.pagination import Page, paginate
from wallet.core.time import utcnow
from wallet.core.upsert import upsert
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.geo.models import Geofence, GeofenceVersion
from wallet.loyalty import standing
from wallet.loyalty.models import LoyaltyTier
from wallet.offers import schedule
from wallet.offers.models import (
    ACTIVE,
    BIRTHDAY_MONTH,
    CLAIM,
    DRAFT,
    DWELL,
    ENDED,
    ENTER,
    ISSUED,
    MEMBERS,
    OPTED_IN,
    PAUSED,
    REDEEMED,
    VOID,
    Coupon,
    Offer,
    OfferDailyCount,
    OfferGeofence,
    OfferShopperCount,
    OfferVersion,
)
from wallet.passes import codes as pass_codes
from wallet.passes import services as passes
from wallet.passes.images import PassImage, render_live_code
from wallet.passes.models import COUPON, Pass
from wallet.passes.render import RenderOptions
from wallet.privacy.models import BrandConsent
from wallet.push.models import PENDING, PushOutbox
from wallet.push.wakeup import CHANNEL

MANAGERS = (Role.BRAND_ADMIN, Role.MARKETER)
# Reward fields of the API and the columns that hold them.
_REWARD_COLUMNS = {
    "percent": "reward_percent",
    "amount_minor": "reward_amount_minor",
    "currency": "reward_currency",
    "item": "reward_item",
    "points": "reward_points",
}
# Which states each lifecycle action may start from.
_TRANSITIONS = {
    ACTIVE: frozenset({DRAFT, PAUSED}),
    PAUSED: frozenset({ACTIVE}),
    ENDED: frozenset({DRAFT, ACTIVE, PAUSED}),
}
# A geofence coupon is worth pushing only while the shopper may still be at the store.
MAX_PUSH_TTL = dt.timedelta(minutes=15)
PUSH_KIND = "coupon"


def reward_of(offer: Offer) -> dict[str, Any]:
    """The reward as the API shows it: its type and only the fields of that type."""
    reward: dict[str, Any] = {"type": offer.reward_type}
    for name, column in _REWARD_COLUMNS.items():
        value = getattr(offer, column)
        if value is not None:
            reward[name] = value
    return reward


def localized(offer: Offer, locale: str | None) -> tuple[str, dict[str, Any]]:
    """The offer's texts closest to ``locale`` ("fr-CA", then "fr"), else in its default locale."""
    by_key = {key.lower(): key for key in offer.content}
    wanted = (locale or "").lower()
    for candidate in (wanted, wanted.split("-")[0], offer.default_locale.lower()):
        if candidate in by_key:
            key = by_key[candidate]
            return key, offer.content[key]
    key = next(iter(offer.content))
    return key, offer.content[key]


# --- offers (retailers) ---------------------------------------------------------------------


@dataclass(frozen=True)
class OfferView:
    """An offer with the fences it listens to, as the API shows it."""

    offer: Offer
    geofence_ids: list[uuid.UUID]

    @property
    def reward(self) -> dict[str, Any]:
        return reward_of(self.offer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.offer, name)


def create_offer(*, principal: Principal, brand_id: uuid.UUID, data: dict[str, Any]) -> OfferView:
    """A draft offer of ``brand_id``; it issues nothing until activated."""
    check_brand_access(principal, brand_id, *MANAGERS)
    with transaction() as session:
        _brand(brand_id)
        offer = Offer(id=uuid.uuid4(), brand_id=brand_id, status=DRAFT, issued_count=0, created_by_id=principal.id)
        fence_ids = _check_geofences(brand_id, data.get("geofence_ids", []))
        check_tiers(brand_id, data.get("tier_ids", []))
        _apply(offer, data)
        _check_consistency(offer, fence_ids)
        session.add(offer)
        session.flush()
        _set_geofences(offer.id, fence_ids)
    return OfferView(offer, fence_ids)


def list_offers(
    *, principal: Principal, brand_id: uuid.UUID, status: str | None, page: int, page_size: int
) -> Page[OfferView]:
    """The brand's offers, newest first, optionally in one status."""
    check_brand_access(principal, brand_id, *MANAGERS)
    _brand(brand_id)
    # A loyalty reward's offer is managed through the rewards catalogue, not here.
    query = (select(Offer).where(Offer.brand_id == brand_id, Offer.trigger != CLAIM)
             .order_by(Offer.created_at.desc(), Offer.id))
    if status is not None:
        query = query.where(Offer.status == status)
    found = paginate(query, page=page, page_size=page_size)
    fences = _geofence_ids_of([offer.id for offer in found.items])
    return Page(items=[OfferView(offer, fences.get(offer.id, [])) for offer in found.items], total=found.total)


def get_offer(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID) -> OfferView:
    check_brand_access(principal, brand_id, *MANAGERS, what="Offer")
    return _view(_offer(brand_id, offer_id))


def update_offer(
    *, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID, changes: dict[str, Any]
) -> OfferView:
    """Change an offer that has not ended; reward, content, schedule and fences are replaced whole."""
    check_brand_access(principal, brand_id, *MANAGERS, what="Offer")
    with transaction():
        offer = _offer(brand_id, offer_id, for_update=True)
        if offer.status == ENDED:
            raise Conflict("An ended offer cannot be changed.", reason="offer_ended")
        if "geofence_ids" in changes:
            fence_ids = _check_geofences(brand_id, changes["geofence_ids"])
        else:
            fence_ids = _geofence_ids_of([offer.id]).get(offer.id, [])
        if "tier_ids" in changes:
            check_tiers(brand_id, changes["tier_ids"])
        _apply(offer, changes)
        _check_consistency(offer, fence_ids)
        if "geofence_ids" in changes:
            _set_geofences(offer.id, fence_ids)
        versions.bump(OfferVersion)  # its triggers, validity or fences may have changed
    return OfferView(offer, fence_ids)


def delete_offer(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID) -> None:
    """Delete a draft; an offer that has been live is ended instead, so its coupons keep their offer."""
    check_brand_access(principal, brand_id, *MANAGERS, what="Offer")
    with transaction() as session:
        offer = _offer(brand_id, offer_id, for_update=True)
        if offer.status != DRAFT:
            raise Conflict("Only drafts can be deleted; end the offer instead.", reason="offer_not_draft")
        session.delete(offer)


def activate_offer(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID) -> OfferView:
    """Start (or resume) issuing: draft or paused → active."""
    return _transition(principal, brand_id, offer_id, ACTIVE)


def pause_offer(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID) -> OfferView:
    """Stop issuing for a while: active → paused."""
    return _transition(principal, brand_id, offer_id, PAUSED)


def end_offer(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID) -> OfferView:
    """Stop issuing for good: draft, active or paused → ended. Coupons already issued stay valid."""
    return _transition(principal, brand_id, offer_id, ENDED)


def _transition(principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID, target: str) -> OfferView:
    check_brand_access(principal, brand_id, *MANAGERS, what="Offer")
    with transaction():
        # Locked, so that a coupon being issued sees either the old status or the new one.
        offer = _offer(brand_id, offer_id, for_update=True)
        if offer.status not in _TRANSITIONS[target]:
            raise Conflict(f"An offer cannot go from {offer.status} to {target}.", reason="invalid_transition")
        fence_ids = _geofence_ids_of([offer.id]).get(offer.id, [])
        if target == ACTIVE:
            _check_activatable(offer, fence_ids)
        offer.status = target
        versions.bump(OfferVersion)  # (drafts issue nothing: creating or deleting one needs no bump)
    return OfferView(offer, fence_ids)


def _check_activatable(offer: Offer, fence_ids: list[uuid.UUID]) -> None:
    problems: dict[str, list[str]] = {}
    if offer.valid_until <= utcnow():
        problems["valid_until"] = ["Is in the past: extend the offer before activating it."]
    if not offer.all_stores and not fence_ids:
        problems["geofence_ids"] = ["Attach geofences (or set all_stores) before activating the offer."]
    if problems:
        raise Conflict("The offer cannot be activated yet; see errors.", reason="offer_incomplete",
                       errors={"offer": problems})


def apply_fields(offer: Offer, values: dict[str, Any]) -> None:
    """Set an offer's fields from values shaped as the offers API takes them (the loyalty
    catalogue describes its rewards' offers this way too)."""
    _apply(offer, values)


def _apply(offer: Offer, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name == "geofence_ids":
            continue
        if name == "reward":
            offer.reward_type = value["type"]
            for field, column in _REWARD_COLUMNS.items():
                setattr(offer, column, value.get(field))
        elif name == "schedule":
            offer.schedule = [{**window, "days": sorted(window["days"])} for window in value]
        elif name == "tier_ids":
            offer.tier_ids = [str(tier_id) for tier_id in dict.fromkeys(value)]
        else:
            setattr(offer, name, value)


def _check_consistency(offer: Offer, fence_ids: list[uuid.UUID]) -> None:
    """Rules across fields, checked on the offer as it will be (after a PATCH, not only its body)."""
    errors: dict[str, list[str]] = {}
    if offer.valid_until <= offer.valid_from:
        errors["valid_until"] = ["Must be after valid_from."]
    if offer.default_locale not in offer.content:
        errors["default_locale"] = [f"No texts in '{offer.default_locale}': use one of the content's locales."]
    if offer.trigger == DWELL and offer.dwell_minutes is None:
        errors["dwell_minutes"] = ["Required for a dwell trigger."]
    if offer.trigger == ENTER and offer.dwell_minutes is not None:
        errors["dwell_minutes"] = ["Only for a dwell trigger."]
    if offer.all_stores and fence_ids:
        errors["geofence_ids"] = ["Give geofence_ids or all_stores: true, not both."]
    elif offer.status == ACTIVE and not offer.all_stores and not fence_ids:
        errors["geofence_ids"] = ["An active offer needs geofences or all_stores: true."]
    if errors:
        raise ValidationFailed("The offer's fields do not agree; see errors.", errors={"json": errors})


def _check_geofences(brand_id: uuid.UUID, geofence_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(geofence_ids))
    if not wanted:
        return []
    found = set(db.session.scalars(select(Geofence.id).where(Geofence.brand_id == brand_id, Geofence.id.in_(wanted),
                                                             Geofence.archived_at.is_(None))))
    missing = [str(fence_id) for fence_id in wanted if fence_id not in found]
    if missing:
        raise ValidationFailed.on("geofence_ids", f"Not geofences of this brand: {', '.join(missing)}.")
    return wanted


def check_tiers(brand_id: uuid.UUID, tier_ids: Sequence[uuid.UUID]) -> None:
    """Refuse tier ids that are not tiers of the brand's loyalty program (422)."""
    wanted = list(dict.fromkeys(tier_ids))
    if not wanted:
        return
    found = set(db.session.scalars(
        select(LoyaltyTier.id).where(LoyaltyTier.brand_id == brand_id, LoyaltyTier.id.in_(wanted))))
    missing = [str(tier_id) for tier_id in wanted if tier_id not in found]
    if missing:
        raise ValidationFailed.on("tier_ids", f"Not tiers of this brand's loyalty program: {', '.join(missing)}.")


def _set_geofences(offer_id: uuid.UUID, fence_ids: list[uuid.UUID]) -> None:
    db.session.execute(delete(OfferGeofence).where(OfferGeofence.offer_id == offer_id))
    db.session.add_all(OfferGeofence(offer_id=offer_id, geofence_id=fence_id) for fence_id in fence_ids)
    db.session.flush()


def _geofence_ids_of(offer_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    fences: dict[uuid.UUID, list[uuid.UUID]] = {}
    if offer_ids:
        rows = db.session.execute(
            select(OfferGeofence.offer_id, OfferGeofence.geofence_id)
            .where(OfferGeofence.offer_id.in_(offer_ids))
            .order_by(OfferGeofence.geofence_id)
        )
        for offer_id, fence_id in rows:
            fences.setdefault(offer_id, []).append(fence_id)
    return fences


def _view(offer: Offer) -> OfferView:
    return OfferView(offer, _geofence_ids_of([offer.id]).get(offer.id, []))


def _brand(brand_id: uuid.UUID) -> Brand:
    brand = db.session.get(Brand, brand_id)
    if brand is None:
        raise NotFound("Brand not found.")
    return brand


def _offer(brand_id: uuid.UUID, offer_id: uuid.UUID, *, for_update: bool = False) -> Offer:
    offer = db.session.get(Offer, offer_id, with_for_update=for_update or None)
    if offer is None or offer.brand_id != brand_id or offer.trigger == CLAIM:
        raise NotFound("Offer not found.")
    return offer


# --- issuing (called by the location pipeline, inside its transaction) ---------------------


class _Refused(Exception):
    """A cap or budget said no: the savepoint of this offer is rolled back."""


_FENCE_FACTS = (
    select(Geofence.id, Geofence.brand_id, Geofence.store_id, Geofence.active, Store.time_zone, BrandConsent.opted_in)
    .outerjoin(Store, Store.id == Geofence.store_id)
    .outerjoin(BrandConsent, and_(BrandConsent.brand_id == Geofence.brand_id,
                                  BrandConsent.shopper_id == bindparam("shopper_id")))
    .where(Geofence.id == bindparam("fence_id"))
)


def issue_coupons(
    *, shopper_id: uuid.UUID, geofence_id: uuid.UUID, trigger: str, visit_started_at: dt.datetime, at: dt.datetime
) -> list[Coupon]:
    """Issue the coupons a shopper earns by entering (or dwelling in) a geofence at ``at``.

    Runs in the caller's transaction and only flushes: each coupon, its pass, its counters and
    its push outbox row commit (or roll back) with the caller's change. For ``trigger="dwell"``
    the caller reports every fix while the shopper stays inside; an offer issues once its
    ``dwell_minutes`` have passed since ``visit_started_at``, and once per visit.
    """
    if trigger not in (ENTER, DWELL):
        raise ValueError(f"unknown trigger {trigger!r}")
    if at.tzinfo is None or visit_started_at.tzinfo is None:
        raise ValueError("times must be aware datetimes")
    session = db.session
    # The fence's owners, its store's time zone and the shopper's opt-in, in one round trip.
    fence = session.execute(_FENCE_FACTS, {"fence_id": geofence_id, "shopper_id": shopper_id}).first()
    # Every audience is among shoppers who opted in to the brand; an opt-out always wins.
    if fence is None or not fence.active or not fence.opted_in:
        return []
    shopper = session.get(Shopper, shopper_id)
    if shopper is None or not shopper.is_active:
        return []
    offers = list(session.scalars(_live_offers(fence, trigger, at)))
    if not offers:
        return []
    store_zone = schedule.zone_or(fence.time_zone)
    audience = _Audience(shopper, fence.brand_id, at)
    coupons = []
    for offer in offers:
        if not schedule.is_open(offer.schedule, at, store_zone) or not audience.admits(offer.audience):
            continue
        if offer.tier_ids and not audience.in_tiers(offer.tier_ids):
            continue
        if offer.trigger == DWELL and at - visit_started_at < dt.timedelta(minutes=offer.dwell_minutes or 0):
            continue
        coupon = _issue_one(offer, shopper, fence, visit_started_at=visit_started_at, at=at)
        if coupon is not None:
            coupons.append(coupon)
    return coupons


@dataclass(frozen=True)
class ListeningOffer:
    """An active enter or dwell offer, as each process caches it: its trigger, and the validity the
    funnel checks each entry or dwell against (each event at its own time)."""

    id: uuid.UUID
    trigger: str
    dwell_minutes: int | None
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True)
class FenceTriggers:
    """What the live offers of a fence could issue: whether any on entering, and after how many
    minutes of dwelling (sorted), and the offers themselves. Schedules, audiences and caps are left
    to ``issue_coupons``."""

    enter: bool = False
    dwell_minutes: tuple[int, ...] = ()
    offers: tuple[ListeningOffer, ...] = ()


NO_TRIGGERS = FenceTriggers()

# What the cache holds: the active enter and dwell offers attached to fences, and those on all of
# their brand's stores (by brand: a brand's every fence need not be listed).
_TRIGGER_COLUMNS = (Offer.id, Offer.trigger, Offer.dwell_minutes, Offer.valid_from, Offer.valid_until)
_ATTACHED_TRIGGERS = (
    select(OfferGeofence.geofence_id, *_TRIGGER_COLUMNS)
    .join(Offer, Offer.id == OfferGeofence.offer_id)
    .join(Geofence, and_(Geofence.id == OfferGeofence.geofence_id, Geofence.brand_id == Offer.brand_id))
    .where(Geofence.active.is_(True), Offer.status == ACTIVE, Offer.trigger.in_((ENTER, DWELL)),
           Offer.all_stores.is_(False))
)
_BRAND_TRIGGERS = (
    select(Offer.brand_id, *_TRIGGER_COLUMNS)
    .where(Offer.status == ACTIVE, Offer.trigger.in_((ENTER, DWELL)), Offer.all_stores.is_(True))
)


def live_triggers(fence_brands: Mapping[uuid.UUID, uuid.UUID], *, since: dt.datetime, until: dt.datetime
                  ) -> dict[uuid.UUID, FenceTriggers]:
    """For the location pipeline: the triggers of the enter and dwell offers live at some time
    between ``since`` and ``until`` on each of these active fences (given with their brand; absent
    from the answer: none), so that ``issue_coupons`` is called only where it may issue something,
    and the funnel knows which offers an entry counts for without asking again.

    Each process keeps the active enter and dwell offers in memory (by fence, or by brand for those
    on all of a brand's stores; most fences have none), read again when the offers' version stamp or
    the fences' moves, which it checks at most every ``OFFER_TRIGGERS_CHECK_SECONDS``: a change made
    in another process shows within that time. Offers changed other than through this module's
    services (SQL by hand) show once a fence or an offer changes next. Only the pre-check is cached:
    ``issue_coupons`` reads the offers itself, so a stale cache delays a change by that interval at
    most, and never issues what the offers do not allow."""
    if not fence_brands:
        return {}
    cached = _trigger_cache()
    triggers = {}
    for fence_id, brand_id in fence_brands.items():
        live = tuple(sorted((o for o in (*cached.by_fence.get(fence_id, ()), *cached.by_brand.get(brand_id, ()))
                             if o.valid_from <= until and o.valid_until > since), key=_BY_ID))
        if live:
            triggers[fence_id] = FenceTriggers(
                enter=any(o.trigger == ENTER for o in live),
                dwell_minutes=tuple(sorted({o.dwell_minutes or 0 for o in live if o.trigger == DWELL})),
                offers=live,
            )
    return triggers


_BY_ID = attrgetter("id")
_Offers = dict[uuid.UUID, tuple[ListeningOffer, ...]]


@dataclass
class _TriggerCache:
    stamps: tuple[int, int]  # (offers' version, fences' version) when read
    checked_at: float
    by_fence: _Offers
    by_brand: _Offers


_STAMPS = select(select(OfferVersion.version).where(OfferVersion.id == 1).scalar_subquery(),
                 select(GeofenceVersion.version).where(GeofenceVersion.id == 1).scalar_subquery())
_TRIGGER_CACHE_KEY = "wallet.offer_triggers"


def _trigger_cache() -> _TriggerCache:
    """This process's cache, checked against the stamps at most every ``OFFER_TRIGGERS_CHECK_SECONDS``
    (0: read afresh on every call, as the tests do, which write offers directly)."""
    interval = float(current_app.config["OFFER_TRIGGERS_CHECK_SECONDS"])
    now = time.monotonic()
    if interval <= 0:
        return _TriggerCache((0, 0), now, *_all_triggers())
    extensions = current_app.extensions
    cache: _TriggerCache | None = extensions.get(_TRIGGER_CACHE_KEY)
    if cache is not None and now - cache.checked_at < interval:
        return cache
    offers, fences = db.session.connection().execute(_STAMPS).one()
    stamps = (offers or 0, fences or 0)
    if cache is None or cache.stamps != stamps:
        # Read after the stamps: a change committed in between is in the rows, and read again next
        # time. Replaced whole: requests holding the old cache finish with it.
        cache = _TriggerCache(stamps, now, *_all_triggers())
    else:
        cache.checked_at = now
    extensions[_TRIGGER_CACHE_KEY] = cache
    return cache


def _all_triggers() -> tuple[_Offers, _Offers]:
    """(by fence, by brand); Core, on the session's connection: plain rows, no ORM compilation."""
    connection = db.session.connection()
    return _grouped(connection.execute(_ATTACHED_TRIGGERS)), _grouped(connection.execute(_BRAND_TRIGGERS))


def _grouped(rows: Iterable[Any]) -> _Offers:
    found: dict[uuid.UUID, list[ListeningOffer]] = {}
    for key, *offer in rows:
        found.setdefault(key, []).append(ListeningOffer(*offer))
    return {key: tuple(offers) for key, offers in found.items()}


def _live_offers(fence: Any, trigger: str, at: dt.datetime) -> Select[tuple[Offer]]:
    attached = select(OfferGeofence.offer_id).where(OfferGeofence.geofence_id == fence.id)
    return (
        select(Offer)
        .where(
            Offer.brand_id == fence.brand_id,
            Offer.status == ACTIVE,
            Offer.trigger == trigger,
            Offer.valid_from <= at,
            Offer.valid_until > at,
            or_(Offer.all_stores.is_(True), Offer.id.in_(attached)),
        )
        # One order for every caller: concurrent issuers lock the counters of several offers
        # in the same sequence, so they queue instead of deadlocking.
        .order_by(Offer.id)
    )


class _Audience:
    """Who an offer's audience admits; membership is looked up once, and only if needed."""

    def __init__(self, shopper: Shopper, brand_id: uuid.UUID, at: dt.datetime) -> None:
        self.shopper = shopper
        self.brand_id = brand_id
        self.at = at
        self._member: bool | None = None
        self._tier_id: str | None = None
        self._tier_known = False

    def admits(self, audience: str) -> bool:
        if audience == OPTED_IN:
            return True
        if audience == MEMBERS:
            if self._member is None:
                self._member = db.session.scalar(select(Membership.id).where(
                    Membership.shopper_id == self.shopper.id, Membership.brand_id == self.brand_id)) is not None
            return self._member
        if audience == BIRTHDAY_MONTH:
            birthday = self.shopper.birthday
            # The month as the shopper lives it: the 1st at 00:30 in Tokyo is still the 31st in Paris.
            month = self.at.astimezone(schedule.zone_or(self.shopper.time_zone)).month
            return birthday is not None and birthday.month == month
        return False

    def in_tiers(self, tier_ids: list[str]) -> bool:
        """Whether the shopper is a member whose current tier (override included) is one of these."""
        if not self._tier_known:
            tier = standing.current_tier_of(shopper_id=self.shopper.id, brand_id=self.brand_id, at=self.at)
            self._tier_id = str(tier.id) if tier is not None else None
            self._tier_known = True
        return self._tier_id is not None and self._tier_id in tier_ids


def _issue_one(
    offer: Offer, shopper: Shopper, fence: Any, *, visit_started_at: dt.datetime, at: dt.datetime
) -> Coupon | None:
    """Take one from every counter of the offer and write the coupon, or write nothing at all."""
    session = db.session
    if db.engine.dialect.name == "postgresql":
        settled, coupon = _issue_one_statement(offer, shopper, fence, visit_started_at=visit_started_at, at=at)
        if settled:
            session.expire(offer, ["issued_count"])
            return coupon
    try:
        with session.begin_nested():
            _count_for_shopper(offer, shopper.id, visit_started_at=visit_started_at, at=at)
            _count_for_day(offer, at)
            _count_globally(offer)
            coupon = _write_coupon(offer, shopper, fence, at)
    except _Refused:
        coupon = None
    session.expire(offer, ["issued_count"])  # moved in SQL, not through the ORM
    return coupon


# The common case of ``_issue_one`` on PostgreSQL in one statement, after a savepoint: the
# shopper's counter (cap, cooldown, once per visit), the day's and the offer's budgets (and its
# status), then the pass, the coupon and its outbox row, each step only if the one before it
# went through, and the dispatchers' wake-up. Each counter is a conditional upsert or update
# that re-checks the row's latest version under its lock, as the general path's statements do,
# so the caps hold under concurrency the same way.
_ISSUE_SQL = text("""
WITH shopper_count AS (
    INSERT INTO offer_shopper_counts AS c (offer_id, shopper_id, count, last_issued_at)
    VALUES (:offer_id, :shopper_id, 1, :at)
    ON CONFLICT (offer_id, shopper_id) DO UPDATE SET count = c.count + 1, last_issued_at = excluded.last_issued_at
    WHERE (CAST(:max_per_shopper AS integer) IS NULL OR c.count < CAST(:max_per_shopper AS integer))
      AND (CAST(:cooldown_until AS timestamptz) IS NULL OR c.last_issued_at <= CAST(:cooldown_until AS timestamptz))
      AND (CAST(:visit_started_at AS timestamptz) IS NULL
           OR c.last_issued_at < CAST(:visit_started_at AS timestamptz))
    RETURNING 1
), day_count AS (
    INSERT INTO offer_daily_counts AS d (offer_id, day, count)
    SELECT :offer_id, :day, 1 FROM shopper_count
    ON CONFLICT (offer_id, day) DO UPDATE SET count = d.count + 1
    WHERE CAST(:daily_budget AS integer) IS NULL OR d.count < CAST(:daily_budget AS integer)
    RETURNING 1
), offer AS (
    UPDATE offers SET issued_count = issued_count + 1
    WHERE id = :offer_id AND status = :active AND (global_budget IS NULL OR issued_count < global_budget)
      AND EXISTS (SELECT 1 FROM day_count)
    RETURNING 1
), pass AS (
    INSERT INTO passes (id, kind, short_id, secret, brand_id, shopper_id, failed_attempts, created_at)
    SELECT :pass_id, :pass_kind, :short_id, :secret, :brand_id, :shopper_id, 0, :now FROM offer
    ON CONFLICT (short_id) DO NOTHING
    RETURNING id
), coupon AS (
    INSERT INTO coupons (id, offer_id, brand_id, shopper_id, pass_id, geofence_id, store_id, trigger, status,
                         issued_at, expires_at)
    SELECT :coupon_id, :offer_id, :brand_id, :shopper_id, pass.id, :geofence_id, :store_id, :trigger, :issued,
           :at, :expires_at FROM pass
    RETURNING id
), outbox AS (
    INSERT INTO push_outbox (id, shopper_id, brand_id, coupon_id, kind, payload, collapse_key, ttl_seconds, status,
                             attempts, next_attempt_at, created_at, duplicate_suspected)
    SELECT :push_id, :shopper_id, :brand_id, coupon.id, :push_kind, CAST(:payload AS jsonb), :collapse_key,
           :ttl_seconds, :pending, 0, :now, :now, false FROM coupon
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM shopper_count) AS counted,
       (SELECT count(pg_notify(:channel, '')) FROM outbox) AS issued
""")


def _issue_one_statement(offer: Offer, shopper: Shopper, fence: Any, *, visit_started_at: dt.datetime,
                         at: dt.datetime) -> tuple[bool, Coupon | None]:
    """``_issue_one`` in one statement: (True, the coupon) when issued, (True, None) when the
    shopper's counter refused (nothing was written), (False, None) when a later step refused or
    the pass's short id was taken; then the savepoint is rolled back and the general path decides."""
    session = db.session
    session.flush()  # pending ORM changes go before the savepoint: rolling back to it must not undo them
    connection = session.connection()
    now = utcnow()
    coupon = _new_coupon(offer, shopper, fence, at, pass_id=uuid.uuid4())
    push = _push_of(coupon, offer, shopper, at)
    connection.exec_driver_sql("SAVEPOINT wallet_issue_coupon")
    row = connection.execute(_ISSUE_SQL, {
        "offer_id": offer.id, "shopper_id": shopper.id, "at": at,
        "max_per_shopper": offer.max_per_shopper,
        "cooldown_until": None if offer.cooldown_minutes is None else at - dt.timedelta(minutes=offer.cooldown_minutes),
        "visit_started_at": visit_started_at if offer.trigger == DWELL else None,
        "day": at.astimezone(dt.UTC).date(), "daily_budget": offer.daily_budget, "active": ACTIVE,
        "pass_id": coupon.pass_id, "pass_kind": COUPON, "short_id": pass_codes.generate_short_id(),
        "secret": pass_codes.generate_secret(), "brand_id": offer.brand_id, "now": now,
        "coupon_id": coupon.id, "geofence_id": fence.id, "store_id": fence.store_id, "trigger": offer.trigger,
        "issued": ISSUED, "expires_at": coupon.expires_at, "push_id": push.id, "push_kind": push.kind,
        "payload": json.dumps(push.payload), "collapse_key": push.collapse_key, "ttl_seconds": push.ttl_seconds,
        "pending": PENDING, "channel": CHANNEL,
    }).one()
    if row.issued:
        make_transient_to_detached(coupon)
        session.add(coupon)  # persistent as written: no second INSERT
        return True, coupon
    if not row.counted:
        return True, None
    connection.exec_driver_sql("ROLLBACK TO SAVEPOINT wallet_issue_coupon")
    return False, None


def _count_for_shopper(offer: Offer, shopper_id: uuid.UUID, *, visit_started_at: dt.datetime, at: dt.datetime) -> None:
    """Per-shopper cap, cooldown and once-per-visit for dwell offers, in one conditional upsert.

    A first coupon inserts the row; a concurrent first coupon waits on that row's unique key and
    then sees the updated count, so two racing requests cannot both pass a cap of one.
    """
    conditions = []
    if offer.max_per_shopper is not None:
        conditions.append(OfferShopperCount.count < offer.max_per_shopper)
    if offer.cooldown_minutes is not None:
        conditions.append(OfferShopperCount.last_issued_at <= at - dt.timedelta(minutes=offer.cooldown_minutes))
    if offer.trigger == DWELL:
        conditions.append(OfferShopperCount.last_issued_at < visit_started_at)
    insert = upsert(OfferShopperCount).values(offer_id=offer.id, shopper_id=shopper_id, count=1, last_issued_at=at)
    statement = insert.on_conflict_do_update(
        index_elements=[OfferShopperCount.offer_id, OfferShopperCount.shopper_id],
        set_={"count": OfferShopperCount.count + 1, "last_issued_at": insert.excluded.last_issued_at},
        where=and_(*conditions) if conditions else None,
    ).returning(OfferShopperCount.count)
    if db.session.execute(statement).first() is None:
        raise _Refused


def _count_for_day(offer: Offer, at: dt.datetime) -> None:
    """Counted every day (the daily budget, and the day's figures for reporting)."""
    insert = upsert(OfferDailyCount).values(offer_id=offer.id, day=at.astimezone(dt.UTC).date(), count=1)
    statement = insert.on_conflict_do_update(
        index_elements=[OfferDailyCount.offer_id, OfferDailyCount.day],
        set_={"count": OfferDailyCount.count + 1},
        where=OfferDailyCount.count < offer.daily_budget if offer.daily_budget is not None else None,
    ).returning(OfferDailyCount.count)
    if db.session.execute(statement).first() is None:
        raise _Refused


def _count_globally(offer: Offer) -> None:
    """The global budget; also re-checks the status, which a marketer may have changed meanwhile."""
    result = db.session.execute(
        update(Offer)
        .where(
            Offer.id == offer.id,
            Offer.status == ACTIVE,
            or_(Offer.global_budget.is_(None), Offer.issued_count < Offer.global_budget),
        )
        # updated_at tells when staff last edited the offer, not when it last issued.
        .values(issued_count=Offer.issued_count + 1, updated_at=Offer.updated_at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _Refused


def _write_coupon(offer: Offer, shopper: Shopper, fence: Any, at: dt.datetime) -> Coupon:
    session = db.session
    pass_ = passes.issue_pass(kind=COUPON, brand_id=offer.brand_id, shopper_id=shopper.id)
    coupon = _new_coupon(offer, shopper, fence, at, pass_id=pass_.id)
    session.add(coupon)
    session.add(_push_of(coupon, offer, shopper, at))
    session.flush()
    return coupon


def _new_coupon(offer: Offer, shopper: Shopper, fence: Any, at: dt.datetime, *, pass_id: uuid.UUID) -> Coupon:
    """A coupon of ``offer`` issued at ``at``: it never outlives its offer."""
    expires_at = min(at + dt.timedelta(minutes=offer.coupon_ttl_minutes), offer.valid_until)
    return Coupon(id=uuid.uuid4(), offer_id=offer.id, brand_id=offer.brand_id, shopper_id=shopper.id,
                  pass_id=pass_id, geofence_id=fence.id, store_id=fence.store_id, trigger=offer.trigger,
                  status=ISSUED, issued_at=at, expires_at=expires_at, redeemed_at=None, redeemed_store_id=None)


def _push_of(coupon: Coupon, offer: Offer, shopper: Shopper, at: dt.datetime) -> PushOutbox:
    """The outbox row that tells the shopper's phone about a new coupon. Its payload is the message as
    the phone receives it, notification id included (the id the app reports an open with)."""
    locale, text = localized(offer, shopper.locale)
    relevance = min(coupon.expires_at - at, MAX_PUSH_TTL)
    notification_id = uuid.uuid4()
    return PushOutbox(
        id=notification_id,
        shopper_id=shopper.id,
        brand_id=offer.brand_id,
        coupon_id=coupon.id,
        kind=PUSH_KIND,
        payload={
            "title": text["title"],
            "body": text["description"],
            "locale": locale,
            "data": {"coupon_id": str(coupon.id), "offer_id": str(offer.id),
                     "deep_link": f"wallet://coupons/{coupon.id}", "notification_id": str(notification_id)},
        },
        # A newer coupon of the same offer replaces an undelivered older one on the phone.
        collapse_key=f"offer-{offer.id}",
        ttl_seconds=max(1, int(relevance.total_seconds())),
        status=PENDING,
    )


# --- reward coupons (called by the loyalty program, inside its transaction) ----------------


class RewardUnavailable(Conflict):
    """The reward's offer is paused, retired, out of stock, or at this shopper's limit."""

    reason = "reward_unavailable"


def issue_reward_coupon(
    *, offer_id: uuid.UUID, shopper_id: uuid.UUID, at: dt.datetime, owed: bool = False
) -> Coupon:
    """A coupon of a loyalty reward's (``claim``) offer, for ``shopper_id``; only flushes.

    A claim for points (``owed=False``) goes through the offer's caps like any coupon (stock is
    the global budget, max_per_shopper, the daily budget), each one conditional statement, and
    raises ``RewardUnavailable`` when one says no: the caller's transaction, which took the
    points, then rolls back. A full stamp card (``owed=True``) was earned: it is issued whatever
    the caps, but counted. The shopper who claims has the coupon in the answer, so only an owed
    coupon, which arrives unasked at the till, gets a push.
    """
    session = db.session
    offer = session.get(Offer, offer_id)
    shopper = session.get(Shopper, shopper_id)
    if offer is None or offer.trigger != CLAIM or shopper is None:
        raise RewardUnavailable("This reward is not available.")
    if owed:
        session.execute(update(Offer).where(Offer.id == offer.id)
                        .values(issued_count=Offer.issued_count + 1, updated_at=Offer.updated_at)
                        .execution_options(synchronize_session=False))
    else:
        if offer.status != ACTIVE or not offer.valid_from <= at < offer.valid_until:
            raise RewardUnavailable("This reward is not available now.")
        try:
            with session.begin_nested():
                _count_for_shopper(offer, shopper_id, visit_started_at=at, at=at)
                _count_for_day(offer, at)
                _count_globally(offer)
        except _Refused:
            raise RewardUnavailable("This reward is out of stock or you have claimed it as often as allowed.") from None
    session.expire(offer, ["issued_count"])
    pass_ = passes.issue_pass(kind=COUPON, brand_id=offer.brand_id, shopper_id=shopper_id)
    expires_at = min(at + dt.timedelta(minutes=offer.coupon_ttl_minutes), offer.valid_until)
    coupon = Coupon(id=uuid.uuid4(), offer_id=offer.id, brand_id=offer.brand_id, shopper_id=shopper_id,
                    pass_id=pass_.id, geofence_id=None, store_id=None, trigger=CLAIM, status=ISSUED, issued_at=at,
                    expires_at=expires_at)
    session.add(coupon)
    if owed:
        session.add(_push_of(coupon, offer, shopper, at))
    session.flush()
    return coupon


# --- coupons (shoppers) ---------------------------------------------------------------------


@dataclass(frozen=True)
class CouponView:
    """A coupon as its shopper sees it: the offer's texts in their language, brand, store, status."""

    coupon: Coupon
    offer: Offer
    brand: Brand
    store: Store | None
    locale: str
    text: dict[str, Any]
    status: str

    @property
    def title(self) -> str:
        return str(self.text["title"])

    @property
    def description(self) -> str:
        return str(self.text["description"])

    @property
    def terms(self) -> str:
        return str(self.text.get("terms", ""))

    @property
    def reward(self) -> dict[str, Any]:
        return reward_of(self.offer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.coupon, name)


def coupon_status(coupon: Coupon, now: dt.datetime) -> str:
    """active (usable now), expired, redeemed or void: expiry is a matter of time, not a stored state."""
    if coupon.status == ISSUED:
        return "active" if coupon.expires_at > now else "expired"
    return coupon.status


@dataclass(frozen=True)
class IssuedCoupon:
    """A coupon just issued, as the answer to a location report tells the phone of it: with its
    offer's texts in the shopper's language (as the coupon list gives them), its reward and its
    times, enough to show a notification without asking again."""

    id: uuid.UUID
    offer_id: uuid.UUID
    brand_id: uuid.UUID
    store_id: uuid.UUID | None
    trigger: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    locale: str
    title: str
    description: str
    terms: str
    reward: dict[str, Any]


def describe_issued(coupons: Sequence[Coupon], *, shopper_id: uuid.UUID) -> list[IssuedCoupon]:
    """``coupons`` (just issued to ``shopper_id``, in this transaction) as the phone is told of them.

    Read in the issuing transaction: the offers and the shopper are in the session already (no query)."""
    if not coupons:
        return []
    shopper = db.session.get(Shopper, shopper_id)
    locale = shopper.locale if shopper is not None else None
    issued = []
    for coupon in coupons:
        offer = db.session.get(Offer, coupon.offer_id)
        assert offer is not None
        chosen, text = localized(offer, locale)
        issued.append(IssuedCoupon(
            id=coupon.id, offer_id=coupon.offer_id, brand_id=coupon.brand_id, store_id=coupon.store_id,
            trigger=coupon.trigger, issued_at=coupon.issued_at, expires_at=coupon.expires_at, locale=chosen,
            title=str(text["title"]), description=str(text["description"]), terms=str(text.get("terms", "")),
            reward=reward_of(offer)))
    return issued


def list_my_coupons(*, principal: Principal, status: str | None, page: int, page_size: int) -> Page[CouponView]:
    """The shopper's coupons, newest first; ``status`` active, redeemed or expired."""
    now = utcnow()
    query = select(Coupon).where(Coupon.shopper_id == principal.id).order_by(Coupon.issued_at.desc(), Coupon.id)
    if status == "active":
        query = query.where(Coupon.status == ISSUED, Coupon.expires_at > now)
    elif status == "expired":
        query = query.where(Coupon.status == ISSUED, Coupon.expires_at <= now)
    elif status == "redeemed":
        query = query.where(Coupon.status == REDEEMED)
    found = paginate(query, page=page, page_size=page_size)
    return Page(items=_coupon_views(principal, found.items, now), total=found.total)


def get_my_coupon(*, principal: Principal, coupon_id: uuid.UUID) -> CouponView:
    return _coupon_views(principal, [_my_coupon(principal, coupon_id)], utcnow())[0]


def render_my_coupon(*, principal: Principal, coupon_id: uuid.UUID, options: RenderOptions) -> PassImage:
    """The coupon's live rotating QR code, to show at the till."""
    return render_live_code(_pass_of(_my_coupon(principal, coupon_id)), options)


def my_coupon_pass(*, principal: Principal, coupon_id: uuid.UUID) -> passes.PassDescriptor:
    """The coupon's rotating-code parameters, for showing it offline."""
    return passes.describe_pass(_pass_of(_my_coupon(principal, coupon_id)))


def _my_coupon(principal: Principal, coupon_id: uuid.UUID) -> Coupon:
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None or coupon.shopper_id != principal.id:
        raise NotFound("Coupon not found.")
    return coupon


def _pass_of(coupon: Coupon) -> Pass:
    pass_ = db.session.get(Pass, coupon.pass_id)
    assert pass_ is not None
    return pass_


def _coupon_views(principal: Principal, coupons: list[Coupon], now: dt.datetime) -> list[CouponView]:
    """Views of a page of coupons, with their offers, brands and stores loaded in one query each."""
    if not coupons:
        return []
    shopper = db.session.get(Shopper, principal.id)
    locale = shopper.locale if shopper is not None else None
    offers = _by_id(Offer, {coupon.offer_id for coupon in coupons})
    brands = _by_id(Brand, {coupon.brand_id for coupon in coupons})
    stores = _by_id(Store, {coupon.store_id for coupon in coupons if coupon.store_id is not None})
    views = []
    for coupon in coupons:
        offer = offers[coupon.offer_id]
        chosen, text = localized(offer, locale)
        store = stores.get(coupon.store_id) if coupon.store_id is not None else None
        views.append(CouponView(coupon, offer, brands[coupon.brand_id], store, chosen, text,
                                coupon_status(coupon, now)))
    return views


def _by_id(model: Any, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    wanted = list(ids)
    if not wanted:
        return {}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(wanted)))}


# --- coupons at the till --------------------------------------------------------------------


def describe_coupon_for_till(
    *, pass_id: uuid.UUID, store_id: uuid.UUID | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What a cashier needs to know of a scanned coupon; expired, redeemed or void ones, and those
    not valid at the till's store, are reported, not usable."""
    now = now or utcnow()
    coupon = db.session.scalar(select(Coupon).where(Coupon.pass_id == pass_id))
    if coupon is None:
        raise NotFound("Coupon not found.")
    offer = db.session.get(Offer, coupon.offer_id)
    assert offer is not None
    described = describe_for_till(coupon, offer, now)
    if described["usable"] and store_id is not None and not redeemable_at(offer, store_id):
        described.update(usable=False, why_not="other_store")
    return described


def describe_for_till(coupon: Coupon, offer: Offer, now: dt.datetime) -> dict[str, Any]:
    """A coupon as the till sees it: what it gives, its state, whether it is usable (store aside)."""
    _, text = localized(offer, offer.default_locale)
    status = coupon_status(coupon, now)
    described: dict[str, Any] = {
        "id": coupon.id,
        "offer_id": offer.id,
        "kind": "reward" if offer.trigger == CLAIM else "offer",
        "title": text["title"],
        "description": text["description"],
        "reward": reward_of(offer),
        "status": status,
        "issued_at": coupon.issued_at,
        "expires_at": coupon.expires_at,
        "usable": status == "active",
    }
    if status != "active":
        described["why_not"] = status
    return described


def redeemable_at(offer: Offer, store_id: uuid.UUID) -> bool:
    """Where a coupon may be redeemed: any store of the brand for an all-stores offer (and for
    loyalty rewards); otherwise only the stores of the geofences the offer listens to."""
    if offer.all_stores or offer.trigger == CLAIM:
        return True
    return store_id in _stores_of_offers([offer.id]).get(offer.id, set())


def _stores_of_offers(offer_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    stores: dict[uuid.UUID, set[uuid.UUID]] = {}
    if offer_ids:
        rows = db.session.execute(
            select(OfferGeofence.offer_id, Geofence.store_id)
            .join(Geofence, Geofence.id == OfferGeofence.geofence_id)
            .where(OfferGeofence.offer_id.in_(offer_ids))
        )
        for offer_id, store_id in rows:
            stores.setdefault(offer_id, set()).add(store_id)
    return stores


def usable_coupons_for_till(
    *, shopper_id: uuid.UUID, brand_id: uuid.UUID, store_id: uuid.UUID, now: dt.datetime, limit: int = 50
) -> list[dict[str, Any]]:
    """The shopper's coupons a till of this brand and store may redeem now, soonest to expire first."""
    rows = db.session.execute(
        select(Coupon, Offer)
        .join(Offer, Offer.id == Coupon.offer_id)
        .where(Coupon.shopper_id == shopper_id, Coupon.brand_id == brand_id, Coupon.status == ISSUED,
               Coupon.expires_at > now)
        .order_by(Coupon.expires_at, Coupon.id)
        .limit(limit)
    ).all()
    restricted = [offer.id for _, offer in rows if not offer.all_stores and offer.trigger != CLAIM]
    stores = _stores_of_offers(restricted)
    return [
        describe_for_till(coupon, offer, now)
        for coupon, offer in rows
        if offer.all_stores or offer.trigger == CLAIM or store_id in stores.get(offer.id, set())
    ]


class CouponAlreadyRedeemed(Conflict):
    reason = "coupon_already_redeemed"


class CouponExpired(Conflict):
    reason = "coupon_expired"


class CouponVoid(Conflict):
    reason = "coupon_void"


class CouponNotValidHere(ValidationFailed):
    reason = "coupon_not_valid_here"


def redeem_coupon(
    *, coupon_id: uuid.UUID, brand_id: uuid.UUID, store_id: uuid.UUID, at: dt.datetime
) -> tuple[Coupon, Offer]:
    """Mark a coupon redeemed at ``store_id``, exactly once; only flushes. Returns a snapshot of
    the coupon as redeemed, and its offer.

    One conditional statement decides, every rule in its WHERE clause: ``UPDATE coupons SET
    status = 'redeemed' ... WHERE id = :id AND brand_id = :brand AND status = 'issued' AND
    expires_at > :at AND <valid at :store>``. Of two tills racing, the second waits for the
    first's row lock, then finds the status changed and updates nothing. Only then is the reason
    for a refusal looked up, for the cashier.
    """
    session = db.session
    row = session.execute(_REDEEM, {"coupon": coupon_id, "brand": brand_id, "store": store_id, "at": at}).first()
    if row is None:
        _refuse_redemption(coupon_id, brand_id, store_id)
    assert row is not None
    offer = session.get(Offer, row.offer_id)
    assert offer is not None
    return Coupon(**row._mapping), offer


def _redeem_statement() -> Any:
    coupons = Coupon.__table__
    store = bindparam("store", type_=Coupon.redeemed_store_id.type)
    at = bindparam("at", type_=UTCDateTime())
    valid_here = or_(
        select(Offer.id).where(Offer.id == coupons.c.offer_id,
                               or_(Offer.all_stores.is_(True), Offer.trigger == CLAIM)).exists(),
        select(OfferGeofence.offer_id).join(Geofence, Geofence.id == OfferGeofence.geofence_id)
        .where(OfferGeofence.offer_id == coupons.c.offer_id, Geofence.store_id == store).exists(),
    )
    return (
        update(coupons)
        .where(coupons.c.id == bindparam("coupon"), coupons.c.brand_id == bindparam("brand"),
               coupons.c.status == ISSUED, coupons.c.expires_at > at, valid_here)
        .values(status=REDEEMED, redeemed_at=at, redeemed_store_id=store)
        .returning(*coupons.c)
    )


# Built once (every redemption runs it), executed with parameters.
_REDEEM = _redeem_statement()


def _refuse_redemption(coupon_id: uuid.UUID, brand_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Why the conditional update redeemed nothing (the coupon as committed by whoever won)."""
    coupon = db.session.get(Coupon, coupon_id, populate_existing=True)
    if coupon is None or coupon.brand_id != brand_id:
        raise NotFound("Coupon not found.")
    offer = db.session.get(Offer, coupon.offer_id)
    assert offer is not None
    if not redeemable_at(offer, store_id):
        raise CouponNotValidHere("This coupon is not valid at this store.",
                                 errors={"json": {"store_id": ["The offer is limited to other stores."]}})
    if coupon.status == REDEEMED:
        raise CouponAlreadyRedeemed("This coupon was already redeemed.")
    if coupon.status == VOID:
        raise CouponVoid("This coupon was cancelled.")
    raise CouponExpired("This coupon has expired.")
