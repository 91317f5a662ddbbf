"""What the location pipeline tells the funnel: presence events (enter, dwell, exit) as they happen."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session


def record_presence_events(session: Session, *, shopper_id: uuid.UUID, events: Sequence[Any]) -> None:
    """Record the presence events of one location request, in its transaction (the funnel's
    recording lands with the insight issue)."""
