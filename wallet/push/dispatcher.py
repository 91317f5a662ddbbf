"""The dispatcher: drains the push outbox through a provider, safely with several in parallel.

One round: **claim** up to a batch of due rows in one short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so parallel dispatchers take disjoint rows; a conditional update
everywhere), decide restraint for each and give each kept row a lease; **send** outside any
transaction; **record** each outcome under the lease. A dispatcher that dies holding rows
loses them when the lease expires: another one sends them again and marks them
``duplicate_suspected`` (FCM may have accepted the first copy; nothing is lost).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import and_, case, func, select, true, update

from wallet.auth.models import Shopper
from wallet.config import ConfigurationError
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import upsert
from wallet.extensions import db
from wallet.offers.models import ISSUED, Coupon
from wallet.privacy.models import BrandConsent
from wallet.push import restraint
from wallet.push.models import DEAD, PENDING, SENDING, SENT, SUPPRESSED, PushDailyCount, PushDevice, PushOutbox
from wallet.push.providers import ACCEPTED, DEAD_TOKEN, FAILED, RETRY, Provider, PushMessage, SendResult, make_provider
from wallet.push.wakeup import Waiter

log = logging.getLogger(__name__)

LEASE_EXPIRED = "lease_expired"  # dead-letter reason: every attempt's dispatcher died holding the row


@dataclass(frozen=True)
class Settings:
    batch_size: int
    max_attempts: int
    backoff_base: float
    backoff_max: float
    lease_seconds: float
    poll_seconds: float
    listen_seconds: float
    daily_cap: int
    quiet_hours: restraint.QuietHours | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        try:
            settings = cls(
                batch_size=int(config["PUSH_BATCH_SIZE"]),
                max_attempts=int(config["PUSH_MAX_ATTEMPTS"]),
                backoff_base=float(config["PUSH_BACKOFF_BASE"]),
                backoff_max=float(config["PUSH_BACKOFF_MAX"]),
                lease_seconds=float(config["PUSH_LEASE_SECONDS"]),
                poll_seconds=float(config["PUSH_POLL_SECONDS"]),
                listen_seconds=float(config["PUSH_LISTEN_SECONDS"]),
                daily_cap=int(config["PUSH_DAILY_CAP"]),
                quiet_hours=restraint.QuietHours.parse(config["PUSH_QUIET_HOURS"]),
            )
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"invalid push setting: {error}") from None
        if not 1 <= settings.batch_size <= 1000 or settings.max_attempts < 1 or settings.lease_seconds <= 0:
            raise ConfigurationError("WALLET_PUSH_BATCH_SIZE must be 1..1000, WALLET_PUSH_MAX_ATTEMPTS >= 1, "
                                     "WALLET_PUSH_LEASE_SECONDS > 0")
        return settings


@dataclass
class Totals:
    """What rounds of the dispatcher did (logged; the e2e tests and the benchmark read them)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    devices_retired: int = 0
    duplicate_suspected: int = 0
    lease_lost: int = 0  # outcomes not recorded: another dispatcher had taken the row over

    def add(self, other: Totals) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.dead.update(other.dead)
        self.suppressed.update(other.suppressed)
        self.devices_retired += other.devices_retired
        self.duplicate_suspected += other.duplicate_suspected
        self.lease_lost += other.lease_lost

    def describe(self) -> str:
        return (f"claimed {self.claimed}, sent {self.sent}, retried {self.retried}, dead {dict(self.dead)}, "
                f"suppressed {dict(self.suppressed)}, devices retired {self.devices_retired}, "
                f"duplicate suspected {self.duplicate_suspected}, lease lost {self.lease_lost}")


@dataclass(frozen=True)
class _Claim:
    """A row this dispatcher holds, and the messages (one per device) it is about to send."""

    row_id: uuid.UUID
    lease_id: uuid.UUID
    attempts: int
    deadline: dt.datetime
    messages: list[PushMessage]


class Dispatcher:
    """Drains the outbox of the current app's database; use inside an app context."""

    def __init__(self, app: Flask, provider: Provider | None = None, *, settings: Settings | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, rng: random.Random | None = None) -> None:
        self.app = app
        self.settings = settings or Settings.from_config(app.config)
        self.provider = provider or make_provider(app.config)
        self.clock = clock
        self.rng = rng or random.Random()

    # --- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> Totals:
        """Dispatch until ``stop`` is set, waking on NOTIFY (PostgreSQL) or polling (SQLite)."""
        totals = Totals()
        waiter = Waiter(db.engine.url, stop=stop, poll_seconds=self.settings.poll_seconds,
                        listen_seconds=self.settings.listen_seconds)
        try:
            waiter.start()  # before the first look, so that no row committed meanwhile goes unnoticed
            while not stop.is_set():
                try:
                    totals.add(self.drain(stop=stop))
                    due_in = self.seconds_until_due()
                except Exception:  # a database hiccup must not end the dispatcher
                    log.exception("push dispatch round failed; trying again in a second")
                    db.session.rollback()
                    due_in = 1.0
                waiter.wait(at_most=due_in)
        finally:
            waiter.close()
            db.session.remove()
        return totals

    def drain(self, *, stop: threading.Event | None = None) -> Totals:
        """Rounds until nothing is due (or ``stop``): what is due now is sent now."""
        totals = Totals()
        while stop is None or not stop.is_set():
            round_totals = self.dispatch_once()
            totals.add(round_totals)
            if round_totals.claimed < self.settings.batch_size:
                break
        return totals

    def seconds_until_due(self) -> float | None:
        """When the next pending row (or lease) comes due, None if nothing waits."""
        with transaction() as session:
            soonest = session.scalar(select(func.min(PushOutbox.next_attempt_at))
                                     .where(PushOutbox.status.in_((PENDING, SENDING))))
        if soonest is None:
            return None
        return max(0.0, (soonest - self.clock()).total_seconds())

    def close(self) -> None:
        self.provider.close()

    # --- one round ------------------------------------------------------------------------

    def dispatch_once(self) -> Totals:
        totals = Totals()
        claims = self._claim(totals)
        messages = [message for claim in claims for message in claim.messages]
        if messages:
            try:
                results = self.provider.send(messages)
            except Exception as error:  # a provider bug must not lose the rows: retry them
                log.exception("push provider %s failed", self.provider.name)
                results = [SendResult(RETRY, reason="provider_error", detail=str(error))] * len(messages)
            by_message = {(message.notification_id, message.device_id): result
                          for message, result in zip(messages, results, strict=True)}
            self._record(claims, by_message, totals)
        return totals

    def _claim(self, totals: Totals) -> list[_Claim]:
        now = self.clock()
        settings = self.settings
        lease_id = uuid.uuid4()
        due = and_(PushOutbox.status.in_((PENDING, SENDING)), PushOutbox.next_attempt_at <= now)
        with transaction() as session:
            query = (select(PushOutbox.id, PushOutbox.status).where(due)
                     .order_by(PushOutbox.next_attempt_at).limit(settings.batch_size))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found = session.execute(query).all()
            if not found:
                return []
            ids = [row_id for row_id, _ in found]
            # Still "sending" when due: its dispatcher died, and the first copy may have left.
            orphaned = {row_id for row_id, status in found if status == SENDING}
            # Conditional, so that on SQLite (no row locks) two dispatchers cannot both take a row.
            session.execute(
                update(PushOutbox)
                .where(PushOutbox.id.in_(ids), due)
                .values(status=SENDING, lease_id=lease_id, attempts=PushOutbox.attempts + 1,
                        next_attempt_at=now + dt.timedelta(seconds=settings.lease_seconds),
                        duplicate_suspected=case((PushOutbox.status == SENDING, true()),
                                                 else_=PushOutbox.duplicate_suspected))
                .execution_options(synchronize_session=False)
            )
            rows = list(session.scalars(select(PushOutbox).where(PushOutbox.lease_id == lease_id)
                                        .execution_options(populate_existing=True)))
            totals.claimed += len(rows)
            totals.duplicate_suspected += len(orphaned & {row.id for row in rows})
            facts = _Facts.load(rows)
            kept = [row for row in rows if self._restrain(row, facts, now, totals)]
            # Cap slots are counter rows locked until commit: every dispatcher takes them in the
            # same order (shopper, then oldest push first), so that two can never deadlock.
            kept.sort(key=lambda row: (str(row.shopper_id), row.created_at, str(row.id)))
            claims = []
            for row in kept:
                if row.cap_day is None:
                    shopper = facts.shoppers.get(row.shopper_id)
                    day = restraint.local_day(now, shopper.time_zone if shopper is not None else None)
                    if not _take_cap_slot(row.shopper_id, day, settings.daily_cap):
                        self._finish(row, SUPPRESSED, restraint.DAILY_CAP, totals)
                        continue
                    row.cap_day = day  # kept across retries: one push spends one slot
                claims.append(self._messages(row, facts, now))
        return claims

    def _deadline(self, row: PushOutbox, facts: _Facts) -> dt.datetime:
        """After this the push is worthless: the end of its relevance, or of its coupon."""
        deadline = row.created_at + dt.timedelta(seconds=row.ttl_seconds)
        coupon = facts.coupons.get(row.coupon_id) if row.coupon_id is not None else None
        return min(deadline, coupon.expires_at) if coupon is not None else deadline

    def _restrain(self, row: PushOutbox, facts: _Facts, now: dt.datetime, totals: Totals) -> bool:
        """Whether a claimed row may be sent now (the daily cap aside); if not, it is finished here."""
        if row.attempts > self.settings.max_attempts:  # only when dispatchers died holding it every time
            self._finish(row, DEAD, LEASE_EXPIRED, totals, error="every attempt's dispatcher stopped mid-send")
            return False
        shopper = facts.shoppers.get(row.shopper_id)
        coupon = facts.coupons.get(row.coupon_id) if row.coupon_id is not None else None
        reason = restraint.suppression_reason(
            restraint.Facts(
                push_deadline=self._deadline(row, facts),
                coupon_expires_at=coupon.expires_at if coupon is not None else None,
                coupon_active=coupon is None or coupon.status == ISSUED,
                shopper_active=shopper is not None and shopper.is_active,
                marketing_consent=shopper is not None and shopper.consent_marketing,
                brand_opted_in=row.brand_id is None or facts.opted_in.get((row.shopper_id, row.brand_id), False),
                time_zone=shopper.time_zone if shopper is not None else "",
                active_devices=len(facts.devices.get(row.shopper_id, [])),
            ),
            now=now, quiet_hours=self.settings.quiet_hours,
        )
        if reason is not None:
            self._finish(row, SUPPRESSED, reason, totals)
        return reason is None

    def _messages(self, row: PushOutbox, facts: _Facts, now: dt.datetime) -> _Claim:
        """The row, held under its lease, and its message to each of the shopper's devices."""
        deadline = self._deadline(row, facts)
        ttl = max(1, int((deadline - now).total_seconds()))
        payload = row.payload
        data = {key: str(value) for key, value in (payload.get("data") or {}).items()}
        data["notification_id"] = str(row.id)
        messages = [
            PushMessage(notification_id=row.id, device_id=device.id, token=device.token,
                        token_kind=device.token_kind, platform=device.platform,
                        title=str(payload.get("title", "")), body=str(payload.get("body", "")), data=data,
                        collapse_key=row.collapse_key, ttl_seconds=ttl)
            for device in facts.devices[row.shopper_id]
        ]
        assert row.lease_id is not None
        return _Claim(row.id, row.lease_id, row.attempts, deadline, messages)

    def _finish(self, row: PushOutbox, status: str, reason: str, totals: Totals, *, error: str | None = None) -> None:
        row.status, row.reason, row.lease_id = status, reason, None
        if error is not None:
            row.last_error = error
        (totals.suppressed if status == SUPPRESSED else totals.dead)[reason] += 1
        log.info("push %s %s (%s)", row.id, status, reason)

    def _record(self, claims: Sequence[_Claim], results: dict[tuple[uuid.UUID, uuid.UUID], SendResult],
                totals: Totals) -> None:
        now = self.clock()

        def result_of(message: PushMessage) -> SendResult:
            return results[(message.notification_id, message.device_id)]

        dead_tokens = {message.device_id: result_of(message).reason or "dead_token"
                       for claim in claims for message in claim.messages if result_of(message).outcome == DEAD_TOKEN}
        with transaction() as session:
            # Devices in one order for every dispatcher, so that two retiring the same ones cannot deadlock.
            for device_id in sorted(dead_tokens, key=str):
                totals.devices_retired += _retire_device(device_id, dead_tokens[device_id], now)
            for claim in claims:
                values = self._outcome(claim, [result_of(message) for message in claim.messages], now, totals)
                recorded = session.execute(
                    update(PushOutbox)
                    .where(PushOutbox.id == claim.row_id, PushOutbox.lease_id == claim.lease_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if recorded.rowcount != 1:
                    totals.lease_lost += 1
                    log.warning("push %s: lease lost before its outcome was recorded (sent twice?)", claim.row_id)

    def _outcome(self, claim: _Claim, results: list[SendResult], now: dt.datetime, totals: Totals) -> dict[str, Any]:
        """The row's new state from its messages' results: sent if any device accepted it."""
        failures = [result for result in results if result.outcome != ACCEPTED]
        error = "; ".join(f"{r.reason}: {r.detail}" for r in failures)[:2000] or None
        accepted = [result for result in results if result.outcome == ACCEPTED]
        if accepted:
            totals.sent += 1
            log.info("push %s sent to %d device(s)", claim.row_id, len(accepted))
            return {"status": SENT, "sent_at": now, "message_id": accepted[0].message_id, "lease_id": None,
                    "reason": None, "last_error": error}
        retryable = [result for result in results if result.outcome == RETRY]
        if retryable:
            reason = retryable[0].reason or "retry"
            if claim.attempts < self.settings.max_attempts:
                retry_after = max((r.retry_after for r in retryable if r.retry_after is not None), default=None)
                at = now + dt.timedelta(seconds=self.backoff(claim.attempts, retry_after))
                if at < claim.deadline:
                    totals.retried += 1
                    log.info("push %s: %s, attempt %d, next at %s", claim.row_id, reason, claim.attempts,
                             at.isoformat(timespec="seconds"))
                    return {"status": PENDING, "next_attempt_at": at, "lease_id": None, "last_error": error}
                error = f"{error} (the coupon's push window closes before the next attempt)"
        else:  # permanent: every token dead, or a message FCM will never take
            reason = next((r.reason for r in failures if r.outcome == FAILED), None) or failures[0].reason or "failed"
        totals.dead[reason] += 1
        log.info("push %s dead-lettered (%s)", claim.row_id, reason)
        return {"status": DEAD, "reason": reason, "lease_id": None, "last_error": error}

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        return backoff_delay(attempts, retry_after, base=self.settings.backoff_base, cap=self.settings.backoff_max,
                             rng=self.rng)


def backoff_delay(attempts: int, retry_after: float | None, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential, with jitter
    (half to all of the step, so that a burst of failures does not retry in lockstep), and
    never sooner than the server's Retry-After."""
    step = min(cap, base * 2 ** max(0, attempts - 1))
    delay = step * rng.uniform(0.5, 1.0)
    return max(delay, retry_after) if retry_after is not None else delay


@dataclass
class _Facts:
    """Everything restraint needs for a batch, in one query per table."""

    shoppers: dict[uuid.UUID, Any]
    coupons: dict[uuid.UUID, Any]
    opted_in: dict[tuple[uuid.UUID, uuid.UUID], bool]
    devices: dict[uuid.UUID, list[PushDevice]]

    @classmethod
    def load(cls, rows: Sequence[PushOutbox]) -> _Facts:
        session = db.session
        shopper_ids = {row.shopper_id for row in rows}
        coupon_ids = {row.coupon_id for row in rows if row.coupon_id is not None}
        shoppers = {s.id: s for s in session.execute(
            select(Shopper.id, Shopper.is_active, Shopper.consent_marketing, Shopper.time_zone)
            .where(Shopper.id.in_(shopper_ids)))}
        coupons = {c.id: c for c in session.execute(
            select(Coupon.id, Coupon.status, Coupon.expires_at).where(Coupon.id.in_(coupon_ids)))} if coupon_ids else {}
        opted_in = {(c.shopper_id, c.brand_id): c.opted_in for c in session.execute(
            select(BrandConsent.shopper_id, BrandConsent.brand_id, BrandConsent.opted_in)
            .where(BrandConsent.shopper_id.in_(shopper_ids)))}
        devices: dict[uuid.UUID, list[PushDevice]] = {}
        for device in session.scalars(select(PushDevice).where(PushDevice.shopper_id.in_(shopper_ids),
                                                               PushDevice.retired_at.is_(None))
                                      .order_by(PushDevice.last_seen_at.desc())):
            devices.setdefault(device.shopper_id, []).append(device)
        return cls(shoppers, coupons, opted_in, devices)


def _take_cap_slot(shopper_id: uuid.UUID, day: dt.date, cap: int) -> bool:
    """One of the shopper's pushes for ``day``, if any is left: one conditional upsert, so that
    parallel dispatchers cannot together exceed the cap."""
    if cap < 1:
        return False
    insert = upsert(PushDailyCount)
    statement = insert.values(shopper_id=shopper_id, day=day, count=1).on_conflict_do_update(
        index_elements=[PushDailyCount.shopper_id, PushDailyCount.day],
        set_={"count": PushDailyCount.count + 1},
        where=PushDailyCount.count < cap,
    ).returning(PushDailyCount.count)
    return db.session.execute(statement).first() is not None


def _retire_device(device_id: uuid.UUID, reason: str, now: dt.datetime) -> int:
    result = db.session.execute(
        update(PushDevice).where(PushDevice.id == device_id, PushDevice.retired_at.is_(None))
        .values(retired_at=now, retired_reason=reason).execution_options(synchronize_session=False))
    if result.rowcount:
        log.info("push device %s retired (%s)", device_id, reason)
    return int(result.rowcount or 0)


# --- processes and threads ----------------------------------------------------------------


def run_worker(app: Flask, *, once: bool = False) -> Totals:
    """The ``wallet worker`` process: dispatch until SIGTERM (or Ctrl-C), finishing the round in hand."""
    stop = threading.Event()
    dispatcher = Dispatcher(app)

    def request_stop(signum: int, frame: Any) -> None:
        log.info("push worker: %s received, stopping after the current round", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    log.info("push worker: provider %s, database %s, %s", dispatcher.provider.name,
             db.engine.url.render_as_string(hide_password=True),
             "LISTEN/NOTIFY" if db.engine.dialect.name == "postgresql" else "polling")
    try:
        totals = dispatcher.drain() if once else dispatcher.run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        dispatcher.close()
    log.info("push worker stopped: %s", totals.describe())
    return totals


def start_background_dispatcher(app: Flask) -> threading.Thread:
    """A dispatcher thread inside the server process (``make run``), so one command demos pushes.

    The dispatcher (and its provider) is built here, so a bad push configuration stops the start.
    """
    dispatcher = Dispatcher(app)
    stop = threading.Event()

    def run() -> None:
        with app.app_context():
            dispatcher.run(stop)

    push_log = logging.getLogger("wallet.push")
    if not logging.getLogger().handlers and not push_log.handlers:  # the dev server configures no logging
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        push_log.addHandler(handler)
        push_log.setLevel(logging.INFO)
    thread = threading.Thread(target=run, name="push-dispatcher", daemon=True)
    thread.start()
    app.extensions["wallet.push_dispatcher"] = (thread, stop)
    log.info("push dispatcher thread started (provider %s)", dispatcher.provider.name)
    return thread
