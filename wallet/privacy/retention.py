"""Retention: delete what has outlived its purpose (run by ``wallet purge`` and, under ``make run``,
by a thread of the server). Idempotent: a second run finds nothing more to delete.

Each rule deletes rows past their time and nothing else; funnel figures of push rows are folded
into the funnel's aggregates before those rows go.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import and_, delete, or_, select

from wallet.auth.models import AuthSession, RefreshToken, SignInThrottle
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.geo.models import LastFix, LocationFix, Presence
from wallet.insights import history
from wallet.offers.models import Coupon
from wallet.push.models import FINAL_STATUSES, PushDailyCount, PushDevice, PushOutbox

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    removed: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.removed.items())


def purge_expired(config: Mapping[str, Any], *, now: dt.datetime | None = None) -> PurgeReport:
    """Delete every kind of row past its retention period, in one transaction; counts by kind."""
    now = now or utcnow()

    def ago(key: str) -> dt.datetime:
        return now - dt.timedelta(seconds=float(config[key]))

    report = PurgeReport()
    with transaction() as session:
        def run(name: str, statement: Any) -> None:
            report.removed[name] = session.execute(statement.execution_options(synchronize_session=False)).rowcount

        # Presence: a visit not updated for a day is over; a new position starts afresh.
        run("presences", delete(Presence).where(
            Presence.last_seen_at < ago("RETENTION_PRESENCE"),
            or_(Presence.cooldown_until.is_(None), Presence.cooldown_until < now)))
        run("last_fixes", delete(LastFix).where(LastFix.recorded_at < ago("RETENTION_LAST_FIX")))
        run("location_fixes", delete(LocationFix).where(LocationFix.recorded_at < ago("LOCATION_RETENTION")))
        # Pushes that reached a final state long ago: their funnel figures are carried over first.
        old_pushes = and_(PushOutbox.status.in_(FINAL_STATUSES), PushOutbox.created_at < ago("RETENTION_PUSH_OUTBOX"))
        history.fold_removed(Coupon.id.in_(select(PushOutbox.coupon_id).where(old_pushes)),
                             figures=(history.PUSH_FIGURES,))
        run("push_outbox", delete(PushOutbox).where(old_pushes))
        run("push_devices", delete(PushDevice).where(PushDevice.retired_at < ago("RETENTION_RETIRED_DEVICES")))
        # Cap counters of days that are over everywhere (local days end at most 14 h after UTC's).
        run("push_daily_counts", delete(PushDailyCount).where(PushDailyCount.day < (now - dt.timedelta(days=2)).date()))
        # Sessions: expired, or signed out a while ago (their refresh tokens go with them).
        run("auth_sessions", delete(AuthSession).where(or_(
            AuthSession.expires_at < now, AuthSession.revoked_at < ago("RETENTION_ENDED_SESSIONS"))))
        # Spent refresh tokens are kept until they expire: a reuse must still be recognised.
        run("refresh_tokens", delete(RefreshToken).where(RefreshToken.expires_at < now))
        run("sign_in_throttles", delete(SignInThrottle).where(
            SignInThrottle.window_started_at < ago("SIGN_IN_WINDOW"),
            or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now)))
        report.removed["funnel_history"] = history.purge_history(
            before=now.date() - dt.timedelta(days=int(config["RETENTION_FUNNEL_DAYS"])))
    return report


def start_background_retention(app: Flask) -> threading.Thread:
    """A thread of the server process (``make run``) that purges every ``RETENTION_INTERVAL`` seconds."""
    interval = float(app.config["RETENTION_INTERVAL"])
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    report = purge_expired(app.config)
                    log.info("retention: %s", report.describe())
                except Exception:  # a failed round is retried at the next interval
                    log.exception("retention round failed")

    thread = threading.Thread(target=run, name="retention", daemon=True)
    thread.start()
    app.extensions["wallet.retention"] = (thread, stop)
    return thread
