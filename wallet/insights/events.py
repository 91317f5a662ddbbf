"""What the location pipeline tells the funnel: presence events (enter, dwell, exit) as they happen."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from wallet.insights import history
from wallet.offers.models import ACTIVE, CLAIM, Offer, OfferGeofence

_METRICS = {"enter": history.ENTRIES, "dwell": history.DWELLS}


def record_presence_events(session: Session, *, shopper_id: uuid.UUID, events: Sequence[Any]) -> None:
    """Record the presence events of one location request, in its transaction.

    Each event has ``type`` ("enter" | "dwell" | "exit"), ``geofence_id``, ``store_id``, ``brand_id``
    and ``at`` (UTC). Called only when there are events.

    An entry or dwell counts for every offer listening to that fence at that moment (active,
    within its validity, attached to the fence or to all the brand's stores), whether or not it
    then issued a coupon: the funnel's top is who came, its next step who got one. Exits are not
    counted. The shopper is noted only as a keyed hash, for distinct counts.
    """
    counted = [event for event in events if event.type in _METRICS]
    if not counted:
        return
    fences = {event.geofence_id for event in counted}
    brands = {event.brand_id for event in counted}
    earliest, latest = min(event.at for event in counted), max(event.at for event in counted)
    # The live offers of these brands, each with the event fences it is attached to (one round trip).
    rows = session.execute(
        select(Offer.id, Offer.brand_id, Offer.all_stores, Offer.valid_from, Offer.valid_until,
               OfferGeofence.geofence_id)
        .outerjoin(OfferGeofence, and_(OfferGeofence.offer_id == Offer.id, OfferGeofence.geofence_id.in_(fences)))
        .where(Offer.brand_id.in_(brands), Offer.status == ACTIVE, Offer.trigger != CLAIM,
               Offer.valid_from <= latest, Offer.valid_until > earliest,
               or_(Offer.all_stores.is_(True), OfferGeofence.geofence_id.is_not(None)))
    ).all()
    if not rows:
        return
    offers = list({row.id: row for row in rows}.values())
    attached: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in rows:
        if row.geofence_id is not None:
            attached.setdefault(row.geofence_id, set()).add(row.id)
    counts: Counter[history.CountKey] = Counter()
    cells: set[history.CellKey] = set()
    for event in counted:
        day = event.at.astimezone(dt.UTC).date()
        for offer in offers:
            if offer.brand_id != event.brand_id or not offer.valid_from <= event.at < offer.valid_until:
                continue
            if not offer.all_stores and offer.id not in attached.get(event.geofence_id, ()):
                continue
            counts[(offer.id, event.store_id, day, _METRICS[event.type])] += 1
            cells.add((offer.id, event.store_id, day))
    history.add_counts(counts)
    history.add_shoppers(cells, history.shopper_key(shopper_id))
