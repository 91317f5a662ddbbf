"""The funnel's stored history, and the figures still read live from raw rows.

A funnel figure is the sum of what ``funnel_counts`` holds and what the raw rows (coupons and
their outbox rows) still say. Entries and dwells are written to ``funnel_counts`` as they happen;
coupon and push figures are read from the raw rows, and carried into ``funnel_counts`` by
``fold_removed`` just before retention or erasure deletes those rows, so a funnel never changes
when raw data goes. Every figure is attributed to the UTC day and the store of its coupon's
issue (cohort attribution: a redemption counts on the day its coupon was issued).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, case, delete, func, select, update

from wallet.core.upsert import per_dialect
from wallet.extensions import db
from wallet.insights.models import FunnelCount, FunnelShopper
from wallet.offers.models import REDEEMED, Coupon
from wallet.push.models import DEAD, PENDING, SENDING, SENT, SUPPRESSED, PushOutbox

ENTRIES, DWELLS, COUPONS, REDEMPTIONS = "entries", "dwells", "coupons", "redemptions"
PUSH_SENT, PUSH_FAILED, PUSH_PENDING, OPENS = "push_sent", "push_failed", "push_pending", "opens"
SUPPRESSED_PREFIX = "push_suppressed."
# What can be read from raw rows: a coupon's own figures, and those of its push.
COUPON_FIGURES, PUSH_FIGURES = "coupon", "push"

CellKey = tuple[uuid.UUID, uuid.UUID, dt.date]  # offer, store, UTC day
CountKey = tuple[uuid.UUID, uuid.UUID, dt.date, str]  # ... and metric


def shopper_key(shopper_id: uuid.UUID) -> str:
    """A keyed hash of a shopper id: counts a shopper once without naming them (the key is the
    server's secret, so staff with database dumps but not the secret cannot test an id)."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"wallet:funnel-shopper-key", hashlib.sha256).digest()
    return hmac.new(key, shopper_id.bytes, hashlib.sha256).hexdigest()[:32]


def utc_day(column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, in SQL, on PostgreSQL and SQLite alike."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite keeps UTC timestamps as text


def as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@per_dialect
def _add_count(insert: Any) -> Any:
    statement = insert(FunnelCount).values(offer_id=bindparam("offer_id"), store_id=bindparam("store_id"),
                                           day=bindparam("day"), metric=bindparam("metric"), value=bindparam("value"))
    return statement.on_conflict_do_update(
        index_elements=[FunnelCount.offer_id, FunnelCount.store_id, FunnelCount.day, FunnelCount.metric],
        set_={"value": FunnelCount.value + statement.excluded.value})


@per_dialect
def _add_shopper(insert: Any) -> Any:
    return insert(FunnelShopper).values(offer_id=bindparam("offer_id"), store_id=bindparam("store_id"),
                                        day=bindparam("day"), shopper_key=bindparam("shopper_key")
                                        ).on_conflict_do_nothing()


def add_counts(counts: Mapping[CountKey, int]) -> None:
    """Add to the stored counters (in key order, so concurrent writers queue instead of deadlocking)."""
    rows = [{"offer_id": offer_id, "store_id": store_id, "day": day, "metric": metric, "value": value}
            for (offer_id, store_id, day, metric), value in sorted(counts.items(), key=lambda item: (
                str(item[0][0]), str(item[0][1]), item[0][2], item[0][3])) if value]
    if rows:
        db.session.execute(_add_count(), rows)


def add_shoppers(cells: Iterable[CellKey], key: str) -> None:
    """Note that the shopper with ``key`` was seen in these cells (once each, whatever the repeats)."""
    rows = [{"offer_id": offer_id, "store_id": store_id, "day": day, "shopper_key": key}
            for offer_id, store_id, day in sorted(set(cells), key=lambda c: (str(c[0]), str(c[1]), c[2]))]
    if rows:
        db.session.execute(_add_shopper(), rows)


def live_counts(*conditions: ColumnElement[bool], figures: Iterable[str] = (COUPON_FIGURES, PUSH_FIGURES)
                ) -> Counter[CountKey]:
    """The figures the raw rows still hold, for the coupons matching ``conditions``."""
    figures = set(figures)
    day = utc_day(Coupon.issued_at)
    opened = case((PushOutbox.opened_at.is_(None), 0), else_=1)
    query = (
        select(Coupon.offer_id, Coupon.store_id, day, Coupon.status, PushOutbox.status, PushOutbox.reason, opened,
               func.count())
        .outerjoin(PushOutbox, PushOutbox.coupon_id == Coupon.id)
        .where(Coupon.store_id.is_not(None), *conditions)
        .group_by(Coupon.offer_id, Coupon.store_id, day, Coupon.status, PushOutbox.status, PushOutbox.reason, opened)
    )
    counts: Counter[CountKey] = Counter()
    for offer_id, store_id, day_value, coupon_status, push_status, reason, was_opened, n in db.session.execute(query):
        cell = (offer_id, store_id, as_date(day_value))
        if COUPON_FIGURES in figures:
            counts[(*cell, COUPONS)] += n
            if coupon_status == REDEEMED:
                counts[(*cell, REDEMPTIONS)] += n
        if PUSH_FIGURES in figures and push_status is not None:
            metric = {SENT: PUSH_SENT, DEAD: PUSH_FAILED, PENDING: PUSH_PENDING, SENDING: PUSH_PENDING}.get(push_status)
            if push_status == SUPPRESSED:
                metric = SUPPRESSED_PREFIX + (reason or "unknown")
            if metric is not None:
                counts[(*cell, metric)] += n
            if was_opened:
                counts[(*cell, OPENS)] += n
    return counts


def fold_removed(*conditions: ColumnElement[bool], figures: Iterable[str]) -> int:
    """Carry the figures of raw rows about to be deleted into the stored counters (caller deletes)."""
    counts = live_counts(*conditions, figures=figures)
    add_counts(counts)
    return sum(counts.values())


def forget_shopper(shopper_id: uuid.UUID) -> int:
    """Erasure: the shopper's keys become one random key, linked to nobody; distinct counts stay."""
    result = db.session.execute(
        update(FunnelShopper).where(FunnelShopper.shopper_key == shopper_key(shopper_id))
        .values(shopper_key=secrets.token_hex(16)).execution_options(synchronize_session=False))
    return result.rowcount


def purge_history(*, before: dt.date) -> int:
    """Retention: drop counters and shopper keys of days before ``before``."""
    removed = 0
    for model in (FunnelCount, FunnelShopper):
        result = db.session.execute(delete(model).where(model.day < before).execution_options(
            synchronize_session=False))
        removed += result.rowcount
    return removed
