"""Restraint, decided when a push is about to leave: is it still worth sending, may we disturb
this shopper now? Pure functions over facts the dispatcher loads; the daily cap is a counter in
the database (see ``dispatcher``), taken last, so that a suppressed push never spends it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wallet.config import ConfigurationError

# Suppression reasons, recorded on the outbox row (and counted by the analytics).
EXPIRED = "expired"  # the coupon (or the push's relevance window) ended before it could be sent
COUPON_INACTIVE = "coupon_inactive"  # redeemed or voided before the push left
SHOPPER_INACTIVE = "shopper_inactive"
NO_MARKETING_CONSENT = "no_marketing_consent"
BRAND_OPT_OUT = "brand_opt_out"
QUIET_HOURS = "quiet_hours"
NO_DEVICE = "no_device"
DAILY_CAP = "daily_cap"

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_FALLBACK_ZONE = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class QuietHours:
    """A daily window in the shopper's local time, [start, end); it may wrap past midnight."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        """``"21:00-09:00"``; empty (or None) means no quiet hours."""
        if not text:
            return None
        start, sep, end = str(text).partition("-")
        if not sep or not _CLOCK.match(start.strip()) or not _CLOCK.match(end.strip()):
            raise ConfigurationError(f"WALLET_PUSH_QUIET_HOURS must look like 21:00-09:00, not {text!r}")
        window = cls(dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip()))
        return window if window.start != window.end else None

    def contains(self, local: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class Facts:
    """What restraint looks at for one push, loaded by the dispatcher when it claims the row."""

    push_deadline: dt.datetime  # created_at + ttl: after this, the push is worthless
    coupon_expires_at: dt.datetime | None
    coupon_active: bool  # not redeemed, not voided
    shopper_active: bool
    marketing_consent: bool
    brand_opted_in: bool
    time_zone: str
    active_devices: int


def zone_of(name: str | None) -> dt.tzinfo:
    """The shopper's zone (validated when they set it); Paris, the default zone, if unknown here."""
    try:
        return ZoneInfo(name) if name else _FALLBACK_ZONE
    except (ZoneInfoNotFoundError, ValueError):
        return _FALLBACK_ZONE


def local_day(now: dt.datetime, time_zone: str | None) -> dt.date:
    return now.astimezone(zone_of(time_zone)).date()


def suppression_reason(facts: Facts, *, now: dt.datetime, quiet_hours: QuietHours | None) -> str | None:
    """Why this push must not be sent now (the coupon stays issued), or None if it may go."""
    if now >= facts.push_deadline or (facts.coupon_expires_at is not None and now >= facts.coupon_expires_at):
        return EXPIRED
    if not facts.coupon_active:
        return COUPON_INACTIVE
    if not facts.shopper_active:
        return SHOPPER_INACTIVE
    if not facts.marketing_consent:
        return NO_MARKETING_CONSENT
    if not facts.brand_opted_in:
        return BRAND_OPT_OUT
    if quiet_hours is not None and quiet_hours.contains(now.astimezone(zone_of(facts.time_zone)).time()):
        return QUIET_HOURS
    if facts.active_devices == 0:
        return NO_DEVICE
    return None
