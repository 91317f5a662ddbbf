"""Weekly offer schedules: windows of store-local wall-clock time, and whether a moment falls in one.

A window is ``{"days": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"}``; the start is
included, the end is not, and ``"24:00"`` closes a window at midnight. Windows never cross
midnight (the schemas refuse it), so a window belongs to exactly one local day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"^(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])$")


def minute_of_day(text: str) -> int:
    """``"HH:MM"`` as minutes after midnight; ``"24:00"`` is the end of the day (1440)."""
    if text == "24:00":
        return MINUTES_PER_DAY
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"not a time of day such as '09:30': {text!r}")
    return int(match["hour"]) * 60 + int(match["minute"])


def is_open(schedule: Iterable[Mapping[str, Any]], at: dt.datetime, zone: dt.tzinfo) -> bool:
    """True when ``at`` (aware) falls in a window of ``schedule`` in the local time of ``zone``.

    An empty schedule is always open. Local time comes from the UTC instant, so a DST change
    moves the windows with the store's clocks: "09:00" is nine on the shop's wall clock, all year.
    """
    windows = list(schedule)
    if not windows:
        return True
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    local = at.astimezone(zone)
    weekday = local.weekday()
    minute = local.hour * 60 + local.minute
    return any(
        weekday in window["days"] and minute_of_day(window["start"]) <= minute < minute_of_day(window["end"])
        for window in windows
    )


def zone_or(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone called ``name``, or ``fallback`` when it is missing or unknown to this machine.

    Zones are validated on the way in; this only keeps a zone later removed from tzdata from
    turning every trigger of a store into an error.
    """
    try:
        return ZoneInfo(name or fallback)
    except (ValueError, LookupError):
        return ZoneInfo(fallback)
