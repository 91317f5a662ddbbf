"""What the location pipeline tells the funnel: presence events (enter, dwell, exit) as they happen."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from wallet.insights import history

_METRICS = {"enter": history.ENTRIES, "dwell": history.DWELLS}


def record_presence_events(*, shopper_id: uuid.UUID, events: Sequence[Any],
                           listening: Callable[[uuid.UUID], Sequence[Any]]) -> None:
    """Record the presence events of one location request, in its transaction.

    Each event has ``type`` ("enter" | "dwell" | "exit"), ``geofence_id``, ``store_id`` and ``at``
    (UTC). ``listening(fence_id)`` gives the enter and dwell offers live on that fence during the
    report (each with ``id``, ``valid_from`` and ``valid_until``): the location pipeline has just read
    them to decide what to issue, so the funnel does not ask again. Called only when there are events.

    An entry or dwell counts for every offer listening to that fence at that moment (active,
    within its validity, attached to the fence or to all the brand's stores), whether or not it
    then issued a coupon: the funnel's top is who came, its next step who got one. Exits are not
    counted. The shopper is noted only as a keyed hash, for distinct counts.
    """
    counts: Counter[history.CountKey] = Counter()
    cells: set[history.CellKey] = set()
    for event in events:
        metric = _METRICS.get(event.type)
        if metric is None:
            continue
        day = event.at.astimezone(dt.UTC).date()
        for offer in listening(event.geofence_id):
            if offer.valid_from <= event.at < offer.valid_until:
                counts[(offer.id, event.store_id, day, metric)] += 1
                cells.add((offer.id, event.store_id, day))
    if counts:
        history.add_counts(counts)
        history.add_shoppers(cells, history.shopper_key(shopper_id))
