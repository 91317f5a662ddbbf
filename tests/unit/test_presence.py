"""Presence hysteresis: enter only clearly inside, exit only clearly outside, dwell once, cooldown."""

import datetime as dt

from wallet.locations.presence import DWELL, ENTER, EXIT, Rules, State, advance

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
RULES = Rules(exit_margin_m=20, dwell=dt.timedelta(minutes=5), reentry_cooldown=dt.timedelta(minutes=10))


def _walk(samples: list[tuple[int, float | None, float]]) -> tuple[list[str], State | None]:
    """(seconds after T0, signed distance or None, accuracy) → every event, and the final state."""
    state, events = None, []
    for seconds, distance, accuracy in samples:
        step = advance(state, distance_m=distance, accuracy_m=accuracy, at=T0 + dt.timedelta(seconds=seconds),
                       rules=RULES)
        state = step.state
        events += step.events
    return events, state


def test_far_or_near_but_outside_fixes_keep_no_state():
    events, state = _walk([(0, None, 10), (10, 40, 10), (20, 5, 10)])
    assert events == [] and state is None


def test_entering_needs_to_be_inside_by_more_than_the_accuracy():
    assert _walk([(0, -5, 10)])[0] == []  # could be outside
    events, state = _walk([(0, -5, 10), (10, -12, 10)])
    assert events == [ENTER] and state.entered_at == T0 + dt.timedelta(seconds=10)


def test_jitter_across_the_boundary_after_entering_produces_no_exit():
    jitter = [(i * 10, d, 8) for i, d in enumerate([-15, 3, -2, 6, 12, -1, 9, 15, 4])]
    events, state = _walk(jitter)
    assert events == [ENTER] and state.inside


def test_exit_needs_to_be_outside_by_accuracy_plus_margin_or_out_of_reach():
    assert _walk([(0, -20, 5), (10, 24, 5)])[0] == [ENTER]
    assert _walk([(0, -20, 5), (10, 25, 5)])[0] == [ENTER, EXIT]
    assert _walk([(0, -20, 5), (10, None, 5)])[0] == [ENTER, EXIT]


def test_dwell_is_reported_once_per_visit():
    visit = [(0, -20, 5)] + [(60 * m, -20, 5) for m in range(1, 12)]
    events, state = _walk(visit)
    assert events == [ENTER, DWELL] and state.dwell_reported_at == T0 + dt.timedelta(minutes=5)


def test_reentering_within_the_cooldown_is_ignored_and_allowed_after_it():
    base = [(0, -20, 5), (60, 100, 5)]  # enter, exit at 60 s
    assert _walk(base + [(120, -20, 5)])[0] == [ENTER, EXIT]
    assert _walk(base + [(60 + 601, -20, 5)])[0] == [ENTER, EXIT, ENTER]


def test_a_fix_older_than_the_last_one_seen_changes_nothing():
    events, state = _walk([(0, -20, 5), (100, -20, 5), (50, 300, 5)])
    assert events == [ENTER] and state.inside
