"""Use cases of retailer insight: an offer's funnel per store and UTC day, with small counts withheld.

Brand staff see counts, never people: every figure about fewer distinct shoppers than
``FUNNEL_MIN_SHOPPERS`` is replaced by null and flagged ``suppressed``, and nothing here returns a
position, a presence or a shopper id.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from wallet.auth.models import Role
from wallet.auth.principal import Principal, check_brand_access
from wallet.brands.models import Store
from wallet.core.errors import NotFound, ValidationFailed
from wallet.core.pagination import Page
from wallet.core.time import utcnow
from wallet.extensions import db
from wallet.insights import history
from wallet.insights.models import FunnelCount, FunnelShopper
from wallet.offers.models import AMOUNT_OFF, Coupon, Offer
from wallet.push import restraint

ANALYSTS = (Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.MARKETER)
# Suppression reasons always reported (zero when none), in this order; others follow if they occur.
SUPPRESSION_REASONS = (restraint.DAILY_CAP, restraint.QUIET_HOURS, restraint.BRAND_OPT_OUT,
                       restraint.NO_MARKETING_CONSENT, restraint.NO_DEVICE, restraint.EXPIRED,
                       restraint.COUPON_INACTIVE, restraint.SHOPPER_INACTIVE)


@dataclass(frozen=True)
class DateRange:
    first: dt.date
    last: dt.date  # inclusive

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def resolve_range(since: dt.date | None, until: dt.date | None, *, today: dt.date, default_days: int,
                  max_days: int) -> DateRange:
    """The requested UTC days: by default the last ``default_days`` up to today; at most ``max_days``;
    all within the calendar (the range ends at the midnight after its last day, which must exist)."""
    if until is not None and until >= dt.date.max:
        raise ValidationFailed("The range must end before 9999-12-31.",
                               errors={"query": {"to": [f"Must be before {dt.date.max.isoformat()}."]}})
    try:
        if until is None:
            until = today if since is None else min(today, since + dt.timedelta(days=default_days - 1))
        if since is None:
            since = until - dt.timedelta(days=default_days - 1)
    except OverflowError:
        field = "from" if until is None else "to"
        raise ValidationFailed("The default range would leave the calendar (years 1 to 9999).",
                               errors={"query": {field: ["Give both 'from' and 'to' this close to the calendar's "
                                                         "ends."]}}) from None
    if since > until:
        raise ValidationFailed("The range ends before it starts.",
                               errors={"query": {"from": ["Must be on or before 'to'."]}})
    if (until - since).days + 1 > max_days:
        raise ValidationFailed(f"A funnel covers at most {max_days} days.",
                               errors={"query": {"to": [f"At most {max_days} days after 'from'."]}})
    return DateRange(since, until)


@dataclass
class Figures:
    """One row of a funnel; all figures are None when ``suppressed``."""

    shoppers: int | None
    counts: Counter[str]
    suppressed: bool
    reward_amount_minor: int | None = None
    currency: str | None = None
    day: dt.date | None = None
    store_id: uuid.UUID | None = None
    store_name: str | None = None

    def _count(self, metric: str) -> int | None:
        return None if self.suppressed else self.counts.get(metric, 0)

    @property
    def entries(self) -> int | None:
        return self._count(history.ENTRIES)

    @property
    def dwells(self) -> int | None:
        return self._count(history.DWELLS)

    @property
    def coupons_issued(self) -> int | None:
        return self._count(history.COUPONS)

    @property
    def pushes_sent(self) -> int | None:
        return self._count(history.PUSH_SENT)

    @property
    def pushes_failed(self) -> int | None:
        return self._count(history.PUSH_FAILED)

    @property
    def pushes_pending(self) -> int | None:
        return self._count(history.PUSH_PENDING)

    @property
    def pushes_suppressed(self) -> dict[str, int] | None:
        if self.suppressed:
            return None
        by_reason = {reason: 0 for reason in SUPPRESSION_REASONS}
        for metric, value in sorted(self.counts.items()):
            if metric.startswith(history.SUPPRESSED_PREFIX):
                by_reason[metric.removeprefix(history.SUPPRESSED_PREFIX)] = value
        return by_reason

    @property
    def pushes_suppressed_total(self) -> int | None:
        by_reason = self.pushes_suppressed
        return None if by_reason is None else sum(by_reason.values())

    @property
    def opens(self) -> int | None:
        return self._count(history.OPENS)

    @property
    def redemptions(self) -> int | None:
        return self._count(history.REDEMPTIONS)

    @property
    def redeemed_value_minor(self) -> int | None:
        """What the redeemed coupons gave off (amount_off offers; other rewards have no fixed value)."""
        if self.suppressed or self.reward_amount_minor is None:
            return None
        return self.counts.get(history.REDEMPTIONS, 0) * self.reward_amount_minor

    @property
    def rates(self) -> dict[str, float | None] | None:
        if self.suppressed:
            return None
        c = self.counts

        def ratio(numerator: str, denominator: str) -> float | None:
            return round(c[numerator] / c[denominator], 4) if c.get(denominator) else None

        return {
            "issue_rate": ratio(history.COUPONS, history.ENTRIES),
            "delivery_rate": ratio(history.PUSH_SENT, history.COUPONS),
            "open_rate": ratio(history.OPENS, history.PUSH_SENT),
            "redemption_rate": ratio(history.REDEMPTIONS, history.COUPONS),
            "entry_to_redemption_rate": ratio(history.REDEMPTIONS, history.ENTRIES),
        }


@dataclass
class Funnel:
    offer_id: uuid.UUID
    brand_id: uuid.UUID
    title: str
    range: DateRange
    min_shoppers: int
    totals: Figures
    by_store: list[Figures]
    by_day: list[Figures]
    rows: list[Figures] = field(default_factory=list)

    @property
    def from_(self) -> dt.date:
        return self.range.first

    @property
    def to(self) -> dt.date:
        return self.range.last

    time_zone = "UTC"  # days are UTC calendar days, as are offers' daily budgets


def offer_funnel(*, principal: Principal, brand_id: uuid.UUID, offer_id: uuid.UUID, since: dt.date | None = None,
                 until: dt.date | None = None, store_id: uuid.UUID | None = None) -> Funnel:
    """The offer's funnel over a range of UTC days, per store, per day and per (store, day)."""
    check_brand_access(principal, brand_id, *ANALYSTS, what="Offer")
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.brand_id != brand_id:
        raise NotFound("Offer not found.")
    config = current_app.config
    days = resolve_range(since, until, today=utcnow().date(), default_days=int(config["FUNNEL_DEFAULT_DAYS"]),
                         max_days=int(config["FUNNEL_MAX_DAYS"]))
    if store_id is not None and db.session.scalar(
            select(Store.id).where(Store.id == store_id, Store.brand_id == brand_id)) is None:
        raise NotFound("Store not found.")
    threshold = int(config["FUNNEL_MIN_SHOPPERS"])
    counts = _counts(offer_id, days, store_id)
    reward = offer.reward_amount_minor if offer.reward_type == AMOUNT_OFF else None
    currency = offer.reward_currency if offer.reward_type == AMOUNT_OFF else None

    def figures(shoppers: int, metrics: Counter[str], **where: Any) -> Figures:
        return Figures(shoppers=shoppers if shoppers >= threshold else None, counts=metrics,
                       suppressed=shoppers < threshold, reward_amount_minor=reward, currency=currency, **where)

    distinct = _DistinctShoppers(offer_id, days, store_id)
    names = dict(db.session.execute(select(Store.id, Store.name).where(Store.brand_id == brand_id)).all())
    cell_counts: dict[tuple[uuid.UUID, dt.date], Counter[str]] = {}
    for (store, day, metric), value in counts.items():
        cell_counts.setdefault((store, day), Counter())[metric] += value
    cells = sorted(set(cell_counts) | set(distinct.per_cell), key=lambda cell: (cell[1], names.get(cell[0], ""),
                                                                                 str(cell[0])))
    rows = [figures(distinct.per_cell.get(cell, 0), cell_counts.get(cell, Counter()), day=cell[1], store_id=cell[0],
                    store_name=names.get(cell[0])) for cell in cells]
    stores = sorted({cell[0] for cell in cells}, key=lambda store: (names.get(store, ""), str(store)))
    by_store = [figures(distinct.per_store.get(store, 0), _sum(cell_counts, lambda cell: cell[0] == store),
                        store_id=store, store_name=names.get(store)) for store in stores]
    by_day = [figures(distinct.per_day.get(day, 0), _sum(cell_counts, lambda cell: cell[1] == day), day=day)
              for day in days.days]
    totals = figures(distinct.total, _sum(cell_counts, lambda cell: True))
    _, text = _title(offer)
    return Funnel(offer_id=offer.id, brand_id=brand_id, title=text, range=days, min_shoppers=threshold,
                  totals=totals, by_store=by_store, by_day=by_day, rows=rows)


def funnel_rows(*, page: int, page_size: int, **query: Any) -> Page[Figures]:
    """One page of the funnel's (day, store) rows, by day then store name."""
    rows = offer_funnel(**query).rows
    return Page(items=rows[(page - 1) * page_size:page * page_size], total=len(rows))


CSV_COLUMNS = ("day", "store_id", "store_name", "suppressed", "shoppers", "entries", "dwells", "coupons_issued",
               "pushes_sent", "pushes_failed", "pushes_pending", "pushes_suppressed_total",
               *(f"suppressed_{reason}" for reason in SUPPRESSION_REASONS), "opens", "redemptions",
               "redeemed_value_minor", "currency")


def funnel_csv(**query: Any) -> str:
    """The funnel's (day, store) rows as CSV (RFC 4180), suppressed figures left empty."""
    funnel = offer_funnel(**query)
    out = io.StringIO()
    # Text cells quoted: a spreadsheet whose separator is ";" does not split a name into cells.
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_COLUMNS)
    for row in funnel.rows:
        by_reason = row.pushes_suppressed or {}
        values = {
            "day": row.day.isoformat() if row.day else "", "store_id": row.store_id,
            "store_name": row.store_name, "suppressed": "true" if row.suppressed else "false",
            "shoppers": row.shoppers, "entries": row.entries, "dwells": row.dwells,
            "coupons_issued": row.coupons_issued, "pushes_sent": row.pushes_sent, "pushes_failed": row.pushes_failed,
            "pushes_pending": row.pushes_pending, "pushes_suppressed_total": row.pushes_suppressed_total,
            **{f"suppressed_{reason}": by_reason.get(reason) for reason in SUPPRESSION_REASONS},
            "opens": row.opens, "redemptions": row.redemptions, "redeemed_value_minor": row.redeemed_value_minor,
            "currency": row.currency if row.redeemed_value_minor is not None else None,
        }
        writer.writerow([_csv_cell(values[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def funnel_chart(*, kind: str, image_format: str, **query: Any) -> tuple[bytes, str]:
    """The funnel drawn as a picture: the stages over the range, or the daily series."""
    from wallet.insights import charts

    funnel = offer_funnel(**query)
    draw = charts.funnel_stages if kind == "funnel" else charts.daily_series
    return draw(funnel, image_format=image_format), charts.MEDIA_TYPES[image_format]


# --- reading the counts ---------------------------------------------------------------------


def _counts(offer_id: uuid.UUID, days: DateRange, store_id: uuid.UUID | None) -> Counter[tuple[uuid.UUID, dt.date, str]]:
    """Stored counters plus what the raw rows still hold, per (store, day, metric)."""
    counts: Counter[tuple[uuid.UUID, dt.date, str]] = Counter()
    stored = select(FunnelCount.store_id, FunnelCount.day, FunnelCount.metric, FunnelCount.value).where(
        FunnelCount.offer_id == offer_id, FunnelCount.day >= days.first, FunnelCount.day <= days.last)
    if store_id is not None:
        stored = stored.where(FunnelCount.store_id == store_id)
    for store, day, metric, value in db.session.execute(stored):
        counts[(store, history.as_date(day), metric)] += value
    live = [Coupon.offer_id == offer_id, Coupon.issued_at >= days.start, Coupon.issued_at < days.end]
    if store_id is not None:
        live.append(Coupon.store_id == store_id)
    for (_, store, day, metric), value in history.live_counts(*live).items():
        counts[(store, day, metric)] += value
    return counts


class _DistinctShoppers:
    """Distinct shopper keys per cell, per store, per day and in all, counted in SQL."""

    def __init__(self, offer_id: uuid.UUID, days: DateRange, store_id: uuid.UUID | None) -> None:
        where = [FunnelShopper.offer_id == offer_id, FunnelShopper.day >= days.first, FunnelShopper.day <= days.last]
        if store_id is not None:
            where.append(FunnelShopper.store_id == store_id)
        distinct = func.count(FunnelShopper.shopper_key.distinct())
        session = db.session
        self.per_cell = {(store, history.as_date(day)): n for store, day, n in session.execute(
            select(FunnelShopper.store_id, FunnelShopper.day, func.count()).where(*where)
            .group_by(FunnelShopper.store_id, FunnelShopper.day))}
        self.per_store = dict(session.execute(
            select(FunnelShopper.store_id, distinct).where(*where).group_by(FunnelShopper.store_id)).all())
        self.per_day = {history.as_date(day): n for day, n in session.execute(
            select(FunnelShopper.day, distinct).where(*where).group_by(FunnelShopper.day))}
        self.total = session.scalar(select(distinct).where(*where)) or 0


def _sum(cell_counts: dict[tuple[uuid.UUID, dt.date], Counter[str]], keep: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    for cell, metrics in cell_counts.items():
        if keep(cell):
            total.update(metrics)
    return total


def _title(offer: Offer) -> tuple[str, str]:
    content = offer.content.get(offer.default_locale) or next(iter(offer.content.values()), {})
    return offer.default_locale, str(content.get("title", ""))


# Spreadsheets run a cell as a formula when it starts with one of these, also when blanks,
# invisible characters or a semicolon come first (OWASP, CSV injection), and full-width forms
# are folded to them by some spreadsheets' input methods.
_FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_CONTROL_STARTS = frozenset("\t\r\n")
_SKIPPED_BEFORE = frozenset(";\uff1b")


def _csv_cell(value: Any) -> Any:
    """A cell as written: empty for None, text neutralised against formula injection."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value[:1] in _CONTROL_STARTS:
        return "'" + value
    for char in value:
        if char in _FORMULA_STARTS:
            return "'" + value
        if not (char.isspace() or char in _SKIPPED_BEFORE or unicodedata.category(char) in ("Cf", "Cc", "Zs")):
            break
    return value
