"""The daily funnel chart's x axis is the requested range of days, whatever is withheld."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest
from matplotlib import dates

from wallet.insights.charts import daily_figure
from wallet.insights.services import DateRange, Figures, Funnel


def _funnel(first: dt.date, last: dt.date, *, seen: set[dt.date]) -> Funnel:
    days = DateRange(first, last)

    def figures(day: dt.date | None = None, shown: bool = False) -> Figures:
        counts = Counter({"entries": 7, "coupons": 5, "redemptions": 2}) if shown else Counter()
        return Figures(shoppers=7 if shown else None, counts=counts, suppressed=not shown, day=day)

    return Funnel(offer_id=uuid.uuid4(), brand_id=uuid.uuid4(), title="3 € offerts", range=days, min_shoppers=5,
                  totals=figures(shown=bool(seen)), by_store=[],
                  by_day=[figures(day, day in seen) for day in days.days])


def _axis_days(funnel: Funnel) -> tuple[dt.date, dt.date, list[dt.date]]:
    figure = daily_figure(funnel)
    figure.canvas.draw()
    axes = figure.axes[0]
    low, high = (dates.num2date(value).date() for value in axes.get_xlim())
    ticks = [dates.num2date(value) for value in axes.get_xticks()]
    low_bound, high_bound = axes.get_xlim()
    inside = [tick for tick, value in zip(ticks, axes.get_xticks(), strict=True) if low_bound <= value <= high_bound]
    assert all(tick.time() == dt.time() for tick in inside), "ticks fall on days"
    return low, high, [tick.date() for tick in inside]


FIRST, LAST = dt.date(2026, 11, 3), dt.date(2026, 12, 2)


@pytest.mark.parametrize("seen", [set(), {dt.date(2026, 11, 20)}, {FIRST, LAST},
                                  {FIRST + dt.timedelta(days=n) for n in range(30)}],
                         ids=["all-withheld", "one-day", "both-ends", "every-day"])
def test_the_daily_chart_spans_the_requested_days(seen):
    low, high, ticks = _axis_days(_funnel(FIRST, LAST, seen=seen))
    # Half a day of margin each side: the axis starts on the eve of the first day, ends on the last.
    assert (low, high) == (FIRST - dt.timedelta(days=1), LAST)
    assert ticks and all(FIRST <= tick <= LAST for tick in ticks)


def test_a_one_day_range_is_one_day_wide_even_withheld():
    day = dt.date(2026, 12, 2)
    low, high, ticks = _axis_days(_funnel(day, day, seen=set()))
    assert (low, high) == (day - dt.timedelta(days=1), day) and ticks == [day]


def test_a_year_long_range_is_a_year_wide():
    first, last = dt.date(2025, 12, 3), dt.date(2026, 12, 2)
    low, high, ticks = _axis_days(_funnel(first, last, seen={dt.date(2026, 6, 1)}))
    assert (low, high) == (first - dt.timedelta(days=1), last)
    assert all(first <= tick <= last for tick in ticks) and len(ticks) >= 3
