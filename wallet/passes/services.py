"""Issuing passes and checking the codes a till scans: unforgeable, rotating, accepted once."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import case, literal, null, or_, select, update

from wallet.cards.numbers import looks_like_member_number
from wallet.core.db import UTCDateTime
from wallet.core.errors import TooManyRequests, ValidationFailed
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import upsert
from wallet.extensions import db
from wallet.passes import codes
from wallet.passes.models import Pass

MAX_FAILED_ATTEMPTS = 10
LOCKOUT = dt.timedelta(minutes=15)


class CodeRefused(ValidationFailed):
    """A scanned code the till must not honour; ``reason`` says why (``code_forged``, ...)."""

    REASONS = {
        "code_malformed": "Not a code we issued (e.g. a mistyped or truncated code)",
        "code_unknown": "No pass has this code",
        "code_other_brand": "The pass belongs to another brand",
        "code_forged": "The code is not genuine",
        "code_expired": "The code has expired; ask the shopper to show the live code",
        "code_not_yet_valid": "The code is from a few steps ahead: the phone's clock is fast; ask the shopper "
                              "to set it to automatic time",
        "code_replayed": "The code was already used; ask the shopper to show the live code",
    }

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message, reason=f"code_{why}", errors={"json": {"code": [message]}})


class MemberNumberNotAccepted(ValidationFailed):
    """The number printed on a member card, typed at the till where a pass code is expected."""

    reason = "member_number_not_accepted"

    def __init__(self) -> None:
        super().__init__(MEMBER_NUMBER_REFUSAL, errors={"json": {"code": [MEMBER_NUMBER_REFUSAL]}})


@dataclass(frozen=True)
class PassDescriptor:
    """What the app needs to show a rotating code offline (RFC 6238 parameters included)."""

    kind: str
    short_id: str
    secret_base32: str
    algorithm: str
    digits: int
    fallback_digits: int
    period: int
    qr_format: str
    current_code: str
    fallback_code: str
    valid_for_seconds: int


def issue_pass(*, kind: str, brand_id: uuid.UUID, shopper_id: uuid.UUID) -> Pass:
    """A new pass with a fresh secret and an unused short id (the caller commits)."""
    for _ in range(5):
        # One statement, no savepoint: a short id already taken (32^8 makes it rare) inserts nothing.
        statement = (
            upsert(Pass)
            .values(id=uuid.uuid4(), kind=kind, short_id=codes.generate_short_id(), secret=codes.generate_secret(),
                    brand_id=brand_id, shopper_id=shopper_id, failed_attempts=0, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=[Pass.short_id])
            .returning(Pass)
        )
        created = db.session.scalars(statement, execution_options={"populate_existing": True}).first()
        if created is not None:
            return created
    raise RuntimeError("could not allocate a unique pass short id")


def describe_pass(pass_: Pass, *, now: float | None = None) -> PassDescriptor:
    now = time.time() if now is None else now
    step = codes.step_at(now)
    return PassDescriptor(
        kind=pass_.kind,
        short_id=pass_.short_id,
        secret_base32=base64.b32encode(pass_.secret).decode().rstrip("="),
        algorithm="SHA1",
        digits=codes.QR_OTP_DIGITS,
        fallback_digits=codes.FALLBACK_OTP_DIGITS,
        period=codes.PERIOD,
        qr_format=f"{codes.QR_PREFIX}.{{kind}}.{{short_id}}.{{step}}.{{otp}}",
        current_code=codes.format_pass_code(pass_.kind, pass_.short_id, pass_.secret, step),
        fallback_code=codes.format_fallback_code(pass_.short_id, pass_.secret, step),
        valid_for_seconds=codes.PERIOD - int(now) % codes.PERIOD,
    )


def current_code(pass_: Pass, *, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return codes.format_pass_code(pass_.kind, pass_.short_id, pass_.secret, codes.step_at(now))


def looks_like_pass_code(text: str) -> bool:
    return text.strip().upper().startswith(codes.QR_PREFIX + ".")


def resolve_code(text: str, *, brand_id: uuid.UUID, now: float | None = None) -> Pass:
    """The pass a scanned or typed code proves, for a till of ``brand_id``; the code is then spent.

    Refusals, in order: a member number typed instead of a code (``member_number_not_accepted``),
    malformed, unknown (no such pass), other_brand (nothing more is said of a pass of another
    brand), locked (too many wrong codes for this pass lately), forged, expired, not_yet_valid,
    replayed. Every code checked counts towards the lockout (a replayed one is given back);
    otherwise a refusal leaves the pass as it was.
    """
    now = time.time() if now is None else now
    if looks_like_member_number(text):
        # The number printed on the card is no proof that the card is at the till, so it is not
        # looked up at all: the same answer whether or not such a member exists, in any brand.
        raise MemberNumberNotAccepted()
    parsed_qr: codes.ParsedPassCode | None = None
    parsed_fallback: codes.ParsedFallbackCode | None = None
    try:
        if looks_like_pass_code(text):
            parsed_qr = codes.parse_pass_code(text)
            short_id = parsed_qr.short_id
        else:
            parsed_fallback = codes.parse_fallback_code(text)
            short_id = parsed_fallback.short_id
    except codes.MalformedCode as error:
        raise CodeRefused("malformed", f"Not a code we issued: {error}") from None

    pass_ = db.session.scalar(select(Pass).where(Pass.short_id == short_id))
    if pass_ is None or (parsed_qr is not None and parsed_qr.kind != pass_.kind):
        raise CodeRefused("unknown", "No pass has this code.")
    if pass_.brand_id != brand_id:
        raise CodeRefused("other_brand", "This pass belongs to another brand.")
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    _claim_attempt(pass_.id, moment)
    try:
        if parsed_qr is not None:
            step = codes.verify_pass_code(parsed_qr, pass_.secret, now=now, last_accepted_step=pass_.last_accepted_step)
        else:
            assert parsed_fallback is not None
            step = codes.verify_fallback_code(parsed_fallback, pass_.secret, now=now,
                                              last_accepted_step=pass_.last_accepted_step)
    except codes.PassCodeRefused as error:
        if error.reason == "replayed":  # a genuine code shown again is no guess: the attempt is given back
            _give_back_attempt(pass_.id)
        raise CodeRefused(error.reason, _REFUSALS[error.reason]) from None
    _spend(pass_, step)
    return pass_


MEMBER_NUMBER_REFUSAL = (
    "This is the member number printed on the card; it does not identify the member at the till. "
    "Scan the pass shown in the app, or type the code shown under it (such as K3M9-QXAB-482913-Z).")
_REFUSALS = {
    "forged": "The code is not genuine.",
    "expired": "The code has expired; ask the shopper to show the live code.",
    "not_yet_valid": "The code is dated ahead of the till's clock: the phone's clock may be ahead. Ask the shopper "
                     "to set the phone to automatic date and time, then show the code again.",
    "replayed": "This code was already used; ask the shopper to show the live code.",
}


def _spend(pass_: Pass, step: int) -> None:
    """Accept ``step`` once: the conditional update lets exactly one of two racing tills through."""
    with transaction() as session:
        accepted = session.execute(
            update(Pass)
            .where(Pass.id == pass_.id, or_(Pass.last_accepted_step.is_(None), Pass.last_accepted_step < step))
            .values(last_accepted_step=step, failed_attempts=0, locked_until=None)
        ).rowcount
        if accepted != 1:
            raise CodeRefused("replayed", _REFUSALS["replayed"])
    db.session.refresh(pass_)


def _claim_attempt(pass_id: uuid.UUID, moment: dt.datetime) -> None:
    """Count an attempt at this pass's code before checking it (429 while the pass is locked).

    One conditional UPDATE, committed before the code is checked: of any number of concurrent
    attempts, exactly MAX_FAILED_ATTEMPTS get through between two locks (counting then checking
    would let every attempt that read the count before the others wrote it through). The attempt
    that reaches the limit locks the pass; a code accepted resets the count and the lock."""
    lapsed = Pass.locked_until.is_not(None)  # the lock the WHERE lets through is one that has run out
    count = case((lapsed, 1), else_=Pass.failed_attempts + 1)
    with transaction() as session:
        claimed = session.execute(
            update(Pass)
            .where(Pass.id == pass_id, or_(Pass.locked_until.is_(None), Pass.locked_until <= moment))
            .values(failed_attempts=count,
                    locked_until=case((count >= MAX_FAILED_ATTEMPTS, literal(moment + LOCKOUT, UTCDateTime())),
                                      else_=null()))
            .returning(Pass.failed_attempts)
        ).first()
        locked_until = None if claimed else session.scalar(select(Pass.locked_until).where(Pass.id == pass_id))
    if claimed is None:
        wait = int((locked_until - moment).total_seconds()) + 1 if locked_until else 1
        raise TooManyRequests("Too many wrong codes for this pass; ask for a fresh one later.", retry_after=wait,
                              reason="code_locked")


def _give_back_attempt(pass_id: uuid.UUID) -> None:
    with transaction() as session:
        session.execute(update(Pass).where(Pass.id == pass_id, Pass.failed_attempts > 0, Pass.locked_until.is_(None))
                        .values(failed_attempts=Pass.failed_attempts - 1))
