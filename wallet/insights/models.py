"""The funnel's own history: daily counters per offer and store, and pseudonymous shopper keys.

Nothing here names a shopper. ``funnel_counts`` holds what the location pipeline saw (entries,
dwells) and what was carried over from raw rows that retention or erasure removed (coupons,
pushes, opens), so that a funnel does not change when the raw rows go. ``funnel_shoppers`` holds,
per offer, store and day, a keyed hash of each shopper who entered: enough to count distinct
shoppers (and suppress small counts), and re-keyed to a random value when that shopper is erased.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wallet.core.db import Base


class FunnelCount(Base):
    """One metric of one offer at one store on one UTC day (``entries``, ``push_sent``, ...)."""

    __tablename__ = "funnel_counts"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class FunnelShopper(Base):
    """A shopper (as a keyed hash, or a random key once erased) who entered an offer's fence that day."""

    __tablename__ = "funnel_shoppers"

    offer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)
    shopper_key: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
