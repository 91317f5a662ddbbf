"""Use cases of push for shoppers: register and remove devices, report a notification opened;
and the open counts per offer, for reporting."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import case, select, update

from wallet.auth.models import Shopper
from wallet.auth.principal import Principal
from wallet.core.errors import Conflict, NotFound
from wallet.core.pagination import Page, paginate
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import upsert
from wallet.extensions import db
from wallet.offers.models import Coupon
from wallet.push.models import REGISTRATION_TOKEN, SUPPRESSED, PushDevice, PushOpenCount, PushOutbox

REPLACED, REMOVED = "replaced", "removed"  # why a device was retired by us rather than by FCM


def register_device(*, principal: Principal, token: str, platform: str, app_version: str, locale: str,
                    token_kind: str = REGISTRATION_TOKEN) -> PushDevice:
    """Register this phone's push token for the shopper; registering again refreshes it.

    A token is one app install: if another account registered it, it moves to this one (the
    phone changed hands, or the shopper switched accounts). Past the device limit, the least
    recently seen device is retired.
    """
    limit = int(current_app.config["PUSH_MAX_DEVICES"])
    with transaction() as session:
        # One registration at a time per shopper, so that racing ones cannot exceed the limit.
        session.execute(select(Shopper.id).where(Shopper.id == principal.id).with_for_update())
        now = utcnow()
        insert = upsert(PushDevice).values(
            id=uuid.uuid4(), shopper_id=principal.id, token=token, token_kind=token_kind, platform=platform,
            app_version=app_version, locale=locale, created_at=now, last_seen_at=now)
        moved = PushDevice.shopper_id != insert.excluded.shopper_id
        device_id = session.scalar(insert.on_conflict_do_update(
            index_elements=[PushDevice.token],
            set_={"shopper_id": insert.excluded.shopper_id, "token_kind": insert.excluded.token_kind,
                  "platform": insert.excluded.platform,
                  "app_version": insert.excluded.app_version, "locale": insert.excluded.locale,
                  "created_at": case((moved, insert.excluded.created_at), else_=PushDevice.created_at),
                  "last_seen_at": insert.excluded.last_seen_at, "retired_at": None, "retired_reason": None},
        ).returning(PushDevice.id))
        others = session.scalars(
            select(PushDevice)
            .where(PushDevice.shopper_id == principal.id, PushDevice.retired_at.is_(None), PushDevice.id != device_id)
            .order_by(PushDevice.last_seen_at.desc(), PushDevice.id)
        ).all()
        for device in others[max(0, limit - 1):]:
            device.retired_at, device.retired_reason = now, REPLACED
        device = session.scalars(select(PushDevice).where(PushDevice.id == device_id)
                                 .execution_options(populate_existing=True)).one()
    return device


def list_devices(*, principal: Principal, page: int, page_size: int) -> Page[PushDevice]:
    """The shopper's active devices, most recently seen first."""
    query = (select(PushDevice)
             .where(PushDevice.shopper_id == principal.id, PushDevice.retired_at.is_(None))
             .order_by(PushDevice.last_seen_at.desc(), PushDevice.id))
    return paginate(query, page=page, page_size=page_size)


def remove_device(*, principal: Principal, device_id: uuid.UUID) -> None:
    """Stop pushing to a device (the app signs out, or the shopper removes a phone)."""
    with transaction() as session:
        device = session.get(PushDevice, device_id, with_for_update=True)
        if device is None or device.shopper_id != principal.id or device.retired_at is not None:
            raise NotFound("Device not found.")
        device.retired_at, device.retired_reason = utcnow(), REMOVED


def record_open(*, principal: Principal, notification_id: uuid.UUID) -> None:
    """The shopper opened a notification: counted once for its offer, however often reported."""
    with transaction() as session:
        notification = session.get(PushOutbox, notification_id)
        if notification is None or notification.shopper_id != principal.id:
            raise NotFound("Notification not found.")
        if notification.status == SUPPRESSED or notification.attempts == 0:
            raise Conflict("This notification was never sent.", reason="notification_not_sent")
        first = session.execute(
            update(PushOutbox)
            .where(PushOutbox.id == notification_id, PushOutbox.opened_at.is_(None))
            .values(opened_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if not first or notification.coupon_id is None:
            return
        offer_id = session.scalar(select(Coupon.offer_id).where(Coupon.id == notification.coupon_id))
        if offer_id is not None:
            insert = upsert(PushOpenCount).values(offer_id=offer_id, opens=1)
            session.execute(insert.on_conflict_do_update(index_elements=[PushOpenCount.offer_id],
                                                         set_={"opens": PushOpenCount.opens + 1}))


def open_counts(*, offer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Opened notifications per offer (offers never opened count 0)."""
    wanted = list(offer_ids)
    counts = {offer_id: 0 for offer_id in wanted}
    if wanted:
        rows = db.session.execute(
            select(PushOpenCount.offer_id, PushOpenCount.opens).where(PushOpenCount.offer_id.in_(wanted)))
        counts.update({offer_id: opens for offer_id, opens in rows})
    return counts
