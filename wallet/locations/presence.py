"""Presence as a pure state machine: enter, dwell and exit per shopper and fence, with hysteresis.

A fix enters a fence only when it is inside by more than its accuracy, and exits only when it is
outside by more than its accuracy plus a margin: GPS jitter across the boundary changes nothing.
After an exit, re-entering within the cooldown is ignored (a shopper pacing along the shop front).
"""

from __future__ import annotations

import datetime as dt

from msgspec import Struct
from msgspec.structs import replace

ENTER, DWELL, EXIT = "enter", "dwell", "exit"


# Frozen msgspec structs rather than dataclasses: a batch steps each fence it is inside once per fix,
# and their construction, ``replace`` and equality run in C (~20× faster).
class Rules(Struct, frozen=True):
    exit_margin_m: float = 20.0
    dwell: dt.timedelta = dt.timedelta(minutes=5)
    reentry_cooldown: dt.timedelta = dt.timedelta(minutes=10)


class State(Struct, frozen=True):
    inside: bool
    entered_at: dt.datetime | None = None
    dwell_reported_at: dt.datetime | None = None
    exited_at: dt.datetime | None = None
    cooldown_until: dt.datetime | None = None
    last_seen_at: dt.datetime | None = None


class Step(Struct, frozen=True):
    state: State | None  # None: nothing to keep (and nothing to write)
    events: tuple[str, ...]

    @property
    def inside(self) -> bool:
        return self.state is not None and self.state.inside


def clearly_inside_of(distance_m: float, accuracy_m: float) -> bool:
    """Inside by more than the fix's accuracy: the only way to enter a fence."""
    return distance_m + accuracy_m <= 0


def advance(state: State | None, *, distance_m: float | None, accuracy_m: float, at: dt.datetime,
            rules: Rules) -> Step:
    """The state after one fix. ``distance_m`` is signed (negative inside), or None when the fence is
    beyond the fix's reach altogether."""
    if state is not None and state.last_seen_at is not None and at < state.last_seen_at:
        return Step(state, ())  # an older fix arriving late says nothing about now
    if state is None or not state.inside:
        clearly_inside = distance_m is not None and clearly_inside_of(distance_m, accuracy_m)
        if not clearly_inside:
            return Step(state, ())
        if state is not None and state.cooldown_until is not None and at < state.cooldown_until:
            return Step(state, ())
        return Step(State(inside=True, entered_at=at, last_seen_at=at,
                          exited_at=state.exited_at if state else None), (ENTER,))
    clearly_outside = distance_m is None or distance_m - accuracy_m >= rules.exit_margin_m
    if clearly_outside:
        return Step(replace(state, inside=False, exited_at=at, cooldown_until=at + rules.reentry_cooldown,
                            last_seen_at=at), (EXIT,))
    assert state.entered_at is not None
    if state.dwell_reported_at is None and at - state.entered_at >= rules.dwell:
        return Step(replace(state, dwell_reported_at=at, last_seen_at=at), (DWELL,))
    return Step(replace(state, last_seen_at=at), ())
