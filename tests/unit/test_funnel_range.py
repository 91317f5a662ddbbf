"""The funnel's date range: defaults, bounds and refusals (UTC days, inclusive)."""

import datetime as dt

import pytest

from wallet.core.errors import ValidationFailed
from wallet.insights.services import resolve_range

TODAY = dt.date(2026, 11, 22)


def _range(since=None, until=None):
    return resolve_range(since, until, today=TODAY, default_days=30, max_days=366)


def test_without_dates_the_range_is_the_last_30_days_up_to_today():
    days = _range()
    assert (days.first, days.last, len(days.days)) == (dt.date(2026, 10, 24), TODAY, 30)
    assert days.start == dt.datetime(2026, 10, 24, tzinfo=dt.UTC) and days.end == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def test_a_start_alone_covers_30_days_but_not_beyond_today():
    assert _range(since=dt.date(2026, 1, 1)).last == dt.date(2026, 1, 30)
    assert _range(since=dt.date(2026, 11, 20)).last == TODAY


@pytest.mark.parametrize("since, until, field", [
    (dt.date(2026, 3, 2), dt.date(2026, 3, 1), "from"),
    (dt.date(2025, 1, 1), dt.date(2026, 1, 2), "to"),
])
def test_backwards_or_too_wide_ranges_are_refused(since, until, field):
    with pytest.raises(ValidationFailed) as refused:
        _range(since, until)
    assert field in refused.value.errors["query"]


def test_a_full_year_is_allowed():
    assert len(_range(dt.date(2025, 11, 22), TODAY).days) == 366
