"""Which fixes may move presence: not from the future, not stale, accurate enough, not mocked, not
older than the last fix accepted, and not implying a jump no shopper can make. Refused fixes are
counted by reason, never used."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated

import msgspec
from msgspec import Meta

from wallet.geo.geometry import METRES_PER_DEGREE, distance_m

FUTURE, STALE, INACCURATE, MOCKED = "future", "stale", "inaccurate", "mocked"
OUT_OF_ORDER, IMPOSSIBLE_SPEED = "out_of_order", "impossible_speed"
REASONS = (FUTURE, STALE, INACCURATE, MOCKED, OUT_OF_ORDER, IMPOSSIBLE_SPEED)


class Fix(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A position as the phone reports it. The annotations are the valid ranges, which hold for a fix
    read from a request (``wire`` decodes batches straight into this type); constructing one checks
    nothing."""

    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, Meta(gt=0, le=100_000)]  # metres (68 %)
    recorded_at: Annotated[dt.datetime, Meta(tz=True)]  # RFC 3339, with an offset
    speed_mps: Annotated[float, Meta(ge=0, le=1_000)] | None = None  # null or absent: unknown
    mocked: bool = False


@dataclass(frozen=True)
class Limits:
    max_age: dt.timedelta
    max_future: dt.timedelta
    max_accuracy_m: float
    max_speed_mps: float


@dataclass(frozen=True)
class Screened:
    accepted: list[Fix]
    rejected: Counter[str]


def screen(fixes: list[Fix], *, previous: Fix | None, now: dt.datetime, limits: Limits) -> Screened:
    """Accepted fixes in time order, and the count of the others by reason.

    The batch is screened in time order, whatever order it came in. A fix older than the last accepted
    one (from this batch, or ``previous`` from an earlier request) is refused as out of order: the
    speed check knows only the last fix, not those around an older time, so a backdated fix could
    otherwise land anywhere. Every other fix is checked for speed against the last accepted one,
    allowing for the fix's accuracy: a 50 m jump of a 60 m-accurate fix one second later is noise,
    not teleportation.
    """
    accepted: list[Fix] = []
    rejected: Counter[str] = Counter()
    newest, oldest = now + limits.max_future, now - limits.max_age
    last = previous
    for fix in sorted(fixes, key=_RECORDED_AT):  # a batch of 120 is screened on every report: kept lean
        at = fix.recorded_at
        if at > newest:
            reason = FUTURE
        elif at < oldest:
            reason = STALE
        elif fix.mocked:
            reason = MOCKED
        elif fix.accuracy_m > limits.max_accuracy_m:
            reason = INACCURATE
        elif last is not None and at < last.recorded_at:
            reason = OUT_OF_ORDER
        elif last is not None and _too_fast(last, fix, limits.max_speed_mps):
            reason = IMPOSSIBLE_SPEED
        else:
            accepted.append(fix)
            last = fix
            continue
        rejected[reason] += 1
    return Screened(accepted, rejected)


_RECORDED_AT = attrgetter("recorded_at")


def _too_fast(last: Fix, fix: Fix, max_speed_mps: float) -> bool:
    allowed = max((fix.recorded_at - last.recorded_at).total_seconds(), 1.0) * max_speed_mps
    slack = fix.accuracy_m + last.accuracy_m
    # The way along a meridian then a parallel is never shorter than the great circle: when even
    # that is within reach, the haversine is not needed (nearly every fix of a walk).
    if METRES_PER_DEGREE * (abs(fix.lat - last.lat) + abs(fix.lon - last.lon)) - slack <= allowed:
        return False
    return distance_m(last.lat, last.lon, fix.lat, fix.lon) - slack > allowed
