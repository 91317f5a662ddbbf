"""Offer schedules: weekly windows of the store's wall-clock time, across zones and DST changes."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from wallet.offers.schedule import is_open, minute_of_day, zone_or

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS_9_TO_12 = [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "12:00"}]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_an_empty_schedule_is_always_open():
    assert is_open([], utc(2026, 3, 1, 3, 0), PARIS)


@pytest.mark.parametrize(("moment", "expected"), [
    (utc(2026, 6, 1, 7, 0), True),     # Monday 09:00 in Paris (summer, UTC+2): the start is included
    (utc(2026, 6, 1, 9, 59), True),    # 11:59
    (utc(2026, 6, 1, 10, 0), False),   # 12:00: the end is excluded
    (utc(2026, 6, 1, 6, 59), False),   # 08:59
    (utc(2026, 6, 6, 8, 0), False),    # Saturday 10:00
])
def test_windows_are_read_in_the_store_local_time(moment, expected):
    assert is_open(WEEKDAYS_9_TO_12, moment, PARIS) is expected


def test_the_same_instant_is_open_in_one_zone_and_closed_in_another():
    moment = utc(2026, 6, 1, 14, 30)  # 16:30 in Paris, 10:30 in New York, 23:30 in Tokyo
    assert not is_open(WEEKDAYS_9_TO_12, moment, PARIS)
    assert is_open(WEEKDAYS_9_TO_12, moment, NEW_YORK)
    assert not is_open(WEEKDAYS_9_TO_12, moment, TOKYO)


def test_the_local_weekday_decides_not_the_utc_one():
    # Monday 00:30 in Tokyo is still Sunday 15:30 in UTC.
    late_monday = [{"days": [0], "start": "00:00", "end": "01:00"}]
    assert is_open(late_monday, utc(2026, 6, 7, 15, 30), TOKYO)
    assert not is_open(late_monday, utc(2026, 6, 7, 15, 30), PARIS)


def test_windows_follow_the_store_clock_across_daylight_saving_time():
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    assert is_open(WEEKDAYS_9_TO_12, utc(2026, 1, 5, 8, 0), PARIS)
    assert not is_open(WEEKDAYS_9_TO_12, utc(2026, 1, 5, 7, 30), PARIS)
    assert is_open(WEEKDAYS_9_TO_12, utc(2026, 7, 6, 7, 0), PARIS)


def test_a_window_ending_at_midnight_covers_the_last_minute_of_the_day():
    evening = [{"days": [4], "start": "22:00", "end": "24:00"}]  # Friday
    assert is_open(evening, dt.datetime(2026, 6, 5, 23, 59, tzinfo=PARIS), PARIS)
    assert not is_open(evening, dt.datetime(2026, 6, 6, 0, 0, tzinfo=PARIS), PARIS)


def test_times_of_day_are_parsed_strictly():
    assert minute_of_day("00:00") == 0 and minute_of_day("23:59") == 1439 and minute_of_day("24:00") == 1440
    for bad in ("24:01", "9:00", "12:60", "noon"):
        with pytest.raises(ValueError):
            minute_of_day(bad)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError):
        is_open(WEEKDAYS_9_TO_12, dt.datetime(2026, 6, 1, 9, 0), PARIS)


def test_an_unknown_zone_falls_back_instead_of_failing_every_trigger():
    assert zone_or("Mars/Olympus_Mons") == ZoneInfo("UTC")
    assert zone_or(None, "Europe/Paris") == PARIS
