"""The arithmetic of a program, as pure functions: earning, refunds, FIFO expiry, months, tiers.

Everything is integer arithmetic on minor units and whole points; fractions of points are never
granted (each rule says which way it rounds).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

TIER_WINDOW_MONTHS = 12


def points_for(amount_minor: int, *, points_per_unit: int, unit_minor: int) -> int:
    """Points a purchase earns: floor(amount_minor × points_per_unit / unit_minor).

    Rounded down on the order's total (not per line): 1 point per euro gives 12 points for €12.99.
    """
    if amount_minor < 0:
        raise ValueError("amount_minor must not be negative")
    return amount_minor * points_per_unit // unit_minor


def points_kept(points: int, amount_minor: int, refunded_minor: int) -> int:
    """Points a purchase keeps once ``refunded_minor`` of it was refunded: in proportion, rounded down.

    floor(points × (amount − refunded) / amount): the same rounding as earning, so that several
    partial refunds take back exactly what one refund of their total would, and a full refund
    takes back every point.
    """
    if not 0 <= refunded_minor <= amount_minor:
        raise ValueError("refunded_minor must be between 0 and amount_minor")
    if amount_minor == 0:
        return points
    return points * (amount_minor - refunded_minor) // amount_minor


def reversal_due(points: int, amount_minor: int, refunded_before: int, refunding_now: int) -> int:
    """Points a refund of ``refunding_now`` takes back, after ``refunded_before`` was refunded."""
    return points_kept(points, amount_minor, refunded_before) - points_kept(
        points, amount_minor, refunded_before + refunding_now)


def expiring_points(*, credits_earned_by_cutoff: int, debits_so_far: int) -> int:
    """Points to expire now, first in first out.

    Every debit (reward, refund, expiry, negative adjustment) uses the oldest points first, so the
    points still unused among those earned by the cutoff are what they add up to beyond every
    debit made so far. Expiring them adds as much to the debits: a second run finds nothing.
    """
    return max(0, credits_earned_by_cutoff - debits_so_far)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months later (or earlier); the 31st becomes the
    last day of a shorter month."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def tier_window_start(now: dt.datetime) -> dt.datetime:
    """Points earned after this moment count towards the tier (a rolling 12 months)."""
    return add_months(now, -TIER_WINDOW_MONTHS)


T = TypeVar("T")


def tier_for(points: int, tiers: Sequence[tuple[int, T]]) -> T | None:
    """The highest tier whose threshold the points reach; ``tiers`` are (threshold, tier) pairs."""
    reached = [(threshold, tier) for threshold, tier in tiers if points >= threshold]
    if not reached:
        return None
    return max(reached, key=lambda pair: pair[0])[1]
