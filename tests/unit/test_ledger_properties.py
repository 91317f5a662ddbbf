"""Properties of the ledger's arithmetic (pure, with hypothesis): earning rounds down, refunds
take back in proportion and add up, first-in-first-out expiry computed from totals agrees with a
lot-by-lot model, calendar months behave, tiers rise with points.

The same invariants on the real services and database: tests/integration/test_ledger_invariants.py.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from wallet.loyalty import rules

amounts = st.integers(min_value=1, max_value=10**8)
rates = st.tuples(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=10**6))


@given(amounts, rates)
def test_earning_rounds_down_and_never_grants_a_fraction(amount, rate):
    points_per_unit, unit_minor = rate
    points = rules.points_for(amount, points_per_unit=points_per_unit, unit_minor=unit_minor)
    assert points * unit_minor <= amount * points_per_unit < (points + 1) * unit_minor


@given(st.integers(min_value=0, max_value=10**10), amounts, st.lists(st.integers(min_value=1, max_value=10**8),
                                                                      max_size=12))
def test_partial_refunds_add_up_to_one_refund_of_their_total(points, amount, parts):
    refunded = 0
    reversed_total = 0
    for part in parts:
        part = min(part, amount - refunded)
        if part == 0:
            break
        step = rules.reversal_due(points, amount, refunded, part)
        assert step >= 0
        reversed_total += step
        refunded += part
    assert reversed_total == rules.reversal_due(points, amount, 0, refunded)
    assert reversed_total == points - rules.points_kept(points, amount, refunded)
    assert 0 <= reversed_total <= points
    assert rules.reversal_due(points, amount, 0, amount) == points  # a full refund takes back everything


# A history of credits and debits, one a day; debits never exceed the balance at their time.
movements = st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=1000)), min_size=1, max_size=40)


@given(movements, st.integers(min_value=0, max_value=45))
def test_fifo_expiry_from_totals_matches_a_lot_by_lot_model(history, cutoff_day):
    lots: list[list[int]] = []  # [day earned, points left], oldest first
    credits_by_cutoff = debits = balance = 0
    for day, (is_credit, points) in enumerate(history):
        if is_credit:
            lots.append([day, points])
            balance += points
            if day <= cutoff_day:
                credits_by_cutoff += points
            continue
        take = min(points, balance)
        balance -= take
        debits += take
        for lot in lots:  # the oldest points go first
            used = min(lot[1], take)
            lot[1] -= used
            take -= used
    left_by_cutoff = sum(points for day, points in lots if day <= cutoff_day)
    expiring = rules.expiring_points(credits_earned_by_cutoff=credits_by_cutoff, debits_so_far=debits)
    assert expiring == left_by_cutoff
    assert 0 <= expiring <= balance
    # Expiring them is one more debit: a second run finds nothing.
    assert rules.expiring_points(credits_earned_by_cutoff=credits_by_cutoff, debits_so_far=debits + expiring) == 0


moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 12, 31),
                       timezones=st.just(dt.UTC))


@given(moments, st.integers(min_value=-240, max_value=240))
def test_adding_months_keeps_the_day_where_the_month_has_it(moment, months):
    later = rules.add_months(moment, months)
    assert (later.year * 12 + later.month) - (moment.year * 12 + moment.month) == months
    assert later.day == moment.day or (later.day < moment.day and (later + dt.timedelta(days=1)).day == 1)
    assert later.time() == moment.time() and later.tzinfo == moment.tzinfo


@given(st.lists(st.integers(min_value=0, max_value=10**6), unique=True, max_size=6),
       st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_more_points_never_mean_a_lower_tier(thresholds, points, more):
    tiers = [(threshold, threshold) for threshold in thresholds]
    low, high = rules.tier_for(points, tiers), rules.tier_for(points + more, tiers)
    assert (low is None) or (high is not None and high >= low)
    if low is not None:
        assert low <= points and all(t <= low or t > points for t in thresholds)
