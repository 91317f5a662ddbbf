"""Clock access in one place, so that times are always aware UTC and tests can reason about them."""

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_valid_time_zone(name: str) -> bool:
    """True for an IANA zone name this machine knows, such as ``Europe/Paris``."""
    if name not in _known_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_ZONES: frozenset[str] | None = None


def _known_zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES
