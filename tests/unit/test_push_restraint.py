"""Restraint and retry arithmetic of the push dispatcher: quiet hours in the shopper's own zone,
local days, suppression order, backoff with jitter, Retry-After, and the push settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from email.utils import format_datetime

import pytest

from wallet.config import ConfigurationError, Defaults
from wallet.push import restraint
from wallet.push.dispatcher import Settings, backoff_delay
from wallet.push.providers import LogProvider, make_provider, retry_after_seconds
from wallet.push.restraint import QuietHours

NOW = dt.datetime(2026, 11, 20, 13, 30, tzinfo=dt.UTC)  # 14:30 in Paris, 22:30 in Tokyo
FACTS = restraint.Facts(push_deadline=NOW + dt.timedelta(minutes=10), coupon_expires_at=NOW + dt.timedelta(hours=1),
                        coupon_active=True, shopper_active=True, marketing_consent=True, brand_opted_in=True,
                        time_zone="Europe/Paris", active_devices=1)
NIGHT = QuietHours.parse("21:00-09:00")


def test_quiet_hours_wrap_past_midnight_start_included_end_excluded():
    assert NIGHT == QuietHours(dt.time(21), dt.time(9))
    assert [NIGHT.contains(dt.time(*t)) for t in ((21, 0), (23, 59), (0, 0), (8, 59), (9, 0), (20, 59), (12, 0))] \
        == [True, True, True, True, False, False, False]
    lunch = QuietHours.parse("12:00-14:00")
    assert lunch.contains(dt.time(13)) and not lunch.contains(dt.time(14)) and not lunch.contains(dt.time(11, 59))


@pytest.mark.parametrize("text", ["", None, "09:00-09:00"])
def test_no_quiet_hours(text):
    assert QuietHours.parse(text) is None


@pytest.mark.parametrize("text", ["9-10", "21:00", "25:00-09:00", "21:00/09:00"])
def test_malformed_quiet_hours_stop_the_start(text):
    with pytest.raises(ConfigurationError, match="WALLET_PUSH_QUIET_HOURS"):
        QuietHours.parse(text)


def test_the_same_instant_is_night_in_tokyo_and_afternoon_in_paris():
    assert restraint.suppression_reason(FACTS, now=NOW, quiet_hours=NIGHT) is None
    tokyo = dataclasses.replace(FACTS, time_zone="Asia/Tokyo")
    assert restraint.suppression_reason(tokyo, now=NOW, quiet_hours=NIGHT) == "quiet_hours"


def test_quiet_hours_follow_daylight_saving_time():
    # 00:30 UTC on 2026-03-29 is 01:30 in Paris (before the switch); on 2026-07-01 it is 02:30.
    late = QuietHours.parse("02:00-06:00")
    assert restraint.suppression_reason(FACTS, now=dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC),
                                        quiet_hours=late) is None
    summer = dt.datetime(2026, 7, 1, 0, 30, tzinfo=dt.UTC)
    facts = dataclasses.replace(FACTS, push_deadline=summer + dt.timedelta(minutes=5), coupon_expires_at=None)
    assert restraint.suppression_reason(facts, now=summer, quiet_hours=late) == "quiet_hours"


def test_the_cap_counts_the_shoppers_local_day():
    instant = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert restraint.local_day(instant, "Pacific/Kiritimati") == dt.date(2026, 11, 21)
    assert restraint.local_day(instant, "Pacific/Pago_Pago") == dt.date(2026, 11, 20)
    assert restraint.local_day(instant, "Not/AZone") == dt.date(2026, 11, 20)  # Paris, the default


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"push_deadline": NOW}, "expired"), ({"coupon_expires_at": NOW - dt.timedelta(seconds=1)}, "expired"),
     ({"coupon_active": False}, "coupon_inactive"), ({"shopper_active": False}, "shopper_inactive"),
     ({"marketing_consent": False}, "no_marketing_consent"), ({"brand_opted_in": False}, "brand_opt_out"),
     ({"active_devices": 0}, "no_device"), ({"time_zone": "Asia/Tokyo"}, "quiet_hours")],
)
def test_each_reason_to_keep_a_push_back(changes, reason):
    assert restraint.suppression_reason(dataclasses.replace(FACTS, **changes), now=NOW, quiet_hours=NIGHT) == reason


def test_consent_outranks_the_clock_so_reports_say_the_stronger_reason():
    facts = dataclasses.replace(FACTS, brand_opted_in=False, time_zone="Asia/Tokyo", active_devices=0)
    assert restraint.suppression_reason(facts, now=NOW, quiet_hours=NIGHT) == "brand_opt_out"


def test_backoff_doubles_with_jitter_up_to_its_cap_and_honours_retry_after():
    rng = random.Random(7)
    for attempts, step in ((1, 2), (2, 4), (3, 8), (4, 16), (12, 300)):
        delays = [backoff_delay(attempts, None, base=2, cap=300, rng=rng) for _ in range(200)]
        assert step / 2 <= min(delays) and max(delays) <= step
        assert max(delays) - min(delays) > step / 4  # really jittered
    assert backoff_delay(1, 45.0, base=2, cap=300, rng=rng) == 45.0
    assert backoff_delay(9, 1.0, base=2, cap=300, rng=rng) >= 150


def test_retry_after_in_seconds_or_as_an_http_date():
    class Response:
        def __init__(self, value):
            self.headers = {"Retry-After": value} if value is not None else {}

    assert retry_after_seconds(Response("120")) == 120
    later = NOW + dt.timedelta(seconds=90)
    assert retry_after_seconds(Response(format_datetime(later, usegmt=True)), now=NOW) == 90
    assert retry_after_seconds(Response(format_datetime(NOW - dt.timedelta(hours=1), usegmt=True)), now=NOW) == 0
    assert retry_after_seconds(Response("soon")) is None
    assert retry_after_seconds(Response(None)) is None and retry_after_seconds(None) is None


def _config(**changes):
    config = {key: getattr(Defaults, key) for key in dir(Defaults) if key.isupper()}
    return {**config, **changes}


def test_push_settings_are_read_and_checked_at_start():
    settings = Settings.from_config(_config())
    assert (settings.daily_cap, settings.max_attempts, settings.quiet_hours) == (3, 5, NIGHT)
    for bad in ({"PUSH_BATCH_SIZE": 0}, {"PUSH_MAX_ATTEMPTS": "many"}, {"PUSH_LEASE_SECONDS": 0}):
        with pytest.raises(ConfigurationError):
            Settings.from_config(_config(**bad))


def test_the_log_provider_is_the_default_without_google_credentials(monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    assert isinstance(make_provider(_config()), LogProvider)
    with pytest.raises(ConfigurationError, match="WALLET_PUSH_PROVIDER"):
        make_provider(_config(PUSH_PROVIDER="apns"))
