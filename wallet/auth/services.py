"""Use cases of accounts: sign-up, sign-in, token refresh, sign-out, profiles, API key checks."""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import Select, and_, bindparam, case, delete, literal, not_, null, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from wallet.auth import secrets as auth_secrets
from wallet.auth.models import AuthSession, ConsentEvent, PosApiKey, RefreshToken, Role, Shopper, SignInThrottle, StaffMember
from wallet.auth.principal import POS_KEY, SHOPPER, Principal
from wallet.auth.tokens import SHOPPER_AUDIENCE, STAFF_AUDIENCE, decode_access_token, issue_access_token
from wallet.core import reads
from wallet.core.db import UTCDateTime
from wallet.core.errors import (Conflict, InvalidCredentials, InvalidToken, NotFound, PermissionDenied, TooManyRequests,
                                ValidationFailed)
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import upsert
from wallet.extensions import db

CONSENTS = ("location", "marketing")
API_KEY_PREFIX = "wk_"
# A key is "wk_" + 8-character lookup prefix + "_" + secret; the prefix is what lists show.
_KEY_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    token_type: str = "Bearer"


# --- shoppers -------------------------------------------------------------------------------


def sign_up_shopper(
    *,
    email: str,
    password: str,
    display_name: str,
    locale: str = "fr-FR",
    time_zone: str = "Europe/Paris",
    birthday: dt.date | None = None,
    consents: dict[str, bool] | None = None,
) -> tuple[Shopper, TokenPair]:
    """Create a shopper account (every consent off unless given) and sign it in."""
    email = normalize_email(email)
    with transaction() as session:
        if session.scalar(select(Shopper.id).where(Shopper.email == email)) is not None:
            raise Conflict("An account already exists for this e-mail.", reason="email_taken")
        shopper = Shopper(
            email=email,
            password_hash=auth_secrets.hash_password(password),
            display_name=display_name,
            locale=locale,
            time_zone=time_zone,
            birthday=birthday,
        )
        session.add(shopper)
        session.flush()
        _apply_consents(shopper, consents or {}, source="sign_up")
        tokens = _open_session(shopper_id=shopper.id)
        try:
            session.flush()
        except IntegrityError:  # a concurrent sign-up with the same e-mail won the race
            raise Conflict("An account already exists for this e-mail.", reason="email_taken") from None
    return shopper, tokens


def get_shopper(*, principal: Principal) -> Shopper:
    shopper = db.session.get(Shopper, principal.id)
    if shopper is None:
        raise NotFound("Account not found.")
    return shopper


def update_shopper_profile(*, principal: Principal, changes: dict[str, Any]) -> Shopper:
    """Change profile fields; consent changes are recorded with their source."""
    with transaction():
        shopper = get_shopper(principal=principal)
        consents = changes.pop("consents", None) or {}
        for name, value in changes.items():
            setattr(shopper, name, value)
        _apply_consents(shopper, consents, source="profile")
    return shopper


def _apply_consents(shopper: Shopper, consents: dict[str, bool], *, source: str) -> None:
    for name in CONSENTS:
        if name not in consents:
            continue
        granted = bool(consents[name])
        attribute = f"consent_{name}"
        if getattr(shopper, attribute) == granted and source != "sign_up":
            continue
        setattr(shopper, attribute, granted)
        db.session.add(ConsentEvent(shopper_id=shopper.id, consent=name, granted=granted, source=source))


# --- staff ----------------------------------------------------------------------------------


def create_platform_admin(*, email: str, password: str, display_name: str) -> StaffMember:
    email = normalize_email(email)
    with transaction() as session:
        if session.scalar(select(StaffMember.id).where(StaffMember.email == email)) is not None:
            raise Conflict("A staff account already exists for this e-mail.", reason="email_taken")
        admin = StaffMember(
            email=email,
            password_hash=auth_secrets.hash_password(password),
            display_name=display_name,
            role=Role.PLATFORM_ADMIN,
            brand_id=None,
        )
        session.add(admin)
    return admin


def get_staff_member(*, principal: Principal) -> StaffMember:
    member = db.session.get(StaffMember, principal.id)
    if member is None:
        raise NotFound("Account not found.")
    return member


# --- sign-in, refresh, sign-out -------------------------------------------------------------


def sign_in(*, audience: str, email: str, password: str) -> TokenPair:
    """Check the password; after repeated failures the e-mail is locked for a while (429)."""
    email = normalize_email(email)
    model = Shopper if audience == SHOPPER_AUDIENCE else StaffMember
    throttle_key = f"{audience}:{email}"
    claim_password_attempt(throttle_key, utcnow())
    account = db.session.scalar(select(model).where(model.email == email))
    if account is None:
        auth_secrets.burn_password_check(password)
        ok = False
    else:
        ok = auth_secrets.verify_password(account.password_hash, password) and account.is_active
    if not ok:
        raise InvalidCredentials("E-mail or password is incorrect.")
    with transaction() as session:
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == throttle_key))
        if audience == SHOPPER_AUDIENCE:
            return _open_session(shopper_id=account.id)
        return _open_session(staff_id=account.id)


class PasswordIncorrect(PermissionDenied):
    reason = "password_incorrect"


def confirm_password(*, audience: str, account: Shopper | StaffMember, password: str | None, field: str) -> None:
    """The account's own password confirms an action a stolen access token alone must not do
    (changing that password); wrong ones count towards the account's sign-in lockout."""
    if not password:
        raise ValidationFailed("Give your current password to change it.", reason="current_password_required",
                               errors={"json": {field: ["Required to change your own password."]}})
    throttle_key = f"{audience}:{account.email}"
    claim_password_attempt(throttle_key, utcnow())
    if not auth_secrets.verify_password(account.password_hash, password):
        raise PasswordIncorrect("The current password is incorrect.", errors={"json": {field: ["Incorrect."]}})
    with transaction() as session:  # right: the attempt is forgotten, as after a sign-in
        session.execute(delete(SignInThrottle).where(SignInThrottle.key == throttle_key))


def claim_password_attempt(key: str, now: dt.datetime) -> None:
    """Count an attempt at the password of ``key`` (sign-in, or a password-confirmed action) before
    it is checked; 429 while ``key`` is locked out. The caller forgets the count (deletes the
    throttle row) when the password was right.

    One statement (INSERT … ON CONFLICT DO UPDATE … RETURNING), committed before the check: of any
    number of concurrent attempts, exactly ``SIGN_IN_MAX_FAILURES`` are checked within a window
    (counting after the check let every attempt that read the count before the others wrote it
    through). The attempt that reaches the limit locks the key for ``SIGN_IN_LOCKOUT`` seconds;
    a window of ``SIGN_IN_WINDOW`` seconds that has run out, or a lock that has, starts afresh."""
    config = current_app.config
    limit = int(config["SIGN_IN_MAX_FAILURES"])
    window_floor = now - dt.timedelta(seconds=int(config["SIGN_IN_WINDOW"]))
    lock = literal(now + dt.timedelta(seconds=int(config["SIGN_IN_LOCKOUT"])), UTCDateTime())
    at_now = literal(now, UTCDateTime())
    throttle = SignInThrottle.__table__.c
    locked_now = and_(throttle.locked_until.is_not(None), throttle.locked_until > at_now)
    # Not locked now (the WHERE below) and either the window or a lock has run out.
    afresh = or_(throttle.window_started_at < window_floor, throttle.locked_until.is_not(None))
    count = case((afresh, 1), else_=throttle.failures + 1)
    statement = (
        upsert(SignInThrottle)
        .values(key=key, failures=1, window_started_at=now, locked_until=lock if limit <= 1 else None)
        .on_conflict_do_update(
            index_elements=[throttle.key],
            set_={"failures": count,
                  "window_started_at": case((afresh, at_now), else_=throttle.window_started_at),
                  "locked_until": case((count >= limit, lock), else_=null())},
            where=not_(locked_now),
        )
        .returning(throttle.failures)
    )
    with transaction() as session:
        claimed = session.execute(statement).first()
        locked_until = None if claimed else session.scalar(
            select(SignInThrottle.locked_until).where(SignInThrottle.key == key))
    if claimed is None:
        wait = int((locked_until - now).total_seconds()) + 1 if locked_until else 1
        raise TooManyRequests(
            f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait, reason="sign_in_locked"
        )


def _open_session(*, shopper_id: uuid.UUID | None = None, staff_id: uuid.UUID | None = None) -> TokenPair:
    """Start a session and hand out its first tokens (the caller commits)."""
    now = utcnow()
    refresh_ttl = int(current_app.config["REFRESH_TOKEN_TTL"])
    auth_session = AuthSession(
        shopper_id=shopper_id, staff_id=staff_id, expires_at=now + dt.timedelta(seconds=refresh_ttl)
    )
    db.session.add(auth_session)
    db.session.flush()
    return _issue_tokens(auth_session, now)


def _issue_tokens(auth_session: AuthSession, now: dt.datetime) -> TokenPair:
    refresh = auth_secrets.new_token()
    expires_at = min(auth_session.expires_at, now + dt.timedelta(seconds=int(current_app.config["REFRESH_TOKEN_TTL"])))
    db.session.add(
        RefreshToken(
            session_id=auth_session.id, token_hash=auth_secrets.digest(refresh), issued_at=now, expires_at=expires_at
        )
    )
    if auth_session.shopper_id is not None:
        subject, audience = auth_session.shopper_id, SHOPPER_AUDIENCE
    else:
        assert auth_session.staff_id is not None
        subject, audience = auth_session.staff_id, STAFF_AUDIENCE
    return TokenPair(
        access_token=issue_access_token(subject=subject, audience=audience, session_id=auth_session.id),
        expires_in=int(current_app.config["ACCESS_TOKEN_TTL"]),
        refresh_token=refresh,
        refresh_expires_in=max(0, int((expires_at - now).total_seconds())),
    )


def refresh_tokens(*, refresh_token: str) -> TokenPair:
    """Trade a refresh token for new tokens. A token is good once: replaying a spent one (a sign
    of theft) revokes the whole session."""
    now = utcnow()
    with transaction() as session:
        token = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == auth_secrets.digest(refresh_token)).with_for_update()
        )
        if token is None:
            raise InvalidToken("The refresh token is invalid.")
        auth_session = session.get(AuthSession, token.session_id, with_for_update=True)
        assert auth_session is not None
        if auth_session.revoked_at is not None or auth_session.expires_at <= now:
            raise InvalidToken("The session has ended; sign in again.", reason="session_ended")
        if token.used_at is not None:
            auth_session.revoked_at = now
            session.commit()
            raise InvalidToken("The refresh token was already used; the session is revoked.", reason="token_reused")
        if token.expires_at <= now:
            raise InvalidToken("The refresh token has expired.", reason="token_expired")
        if not _account_is_active(auth_session):
            raise InvalidToken("The account is disabled.", reason="account_disabled")
        # The conditional update makes two concurrent refreshes with one token yield one winner.
        spent = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if spent != 1:
            raise InvalidToken("The refresh token was already used.", reason="token_reused")
        return _issue_tokens(auth_session, now)


def sign_out(*, principal: Principal) -> None:
    """End the caller's session: its refresh tokens and access tokens stop working."""
    with transaction() as session:
        auth_session = session.get(AuthSession, principal.session_id) if principal.session_id else None
        if auth_session is not None and auth_session.revoked_at is None:
            auth_session.revoked_at = utcnow()


def _account_is_active(auth_session: AuthSession) -> bool:
    if auth_session.shopper_id is not None:
        shopper = db.session.get(Shopper, auth_session.shopper_id)
        return shopper is not None and shopper.is_active
    staff = db.session.get(StaffMember, auth_session.staff_id)
    return staff is not None and staff.is_active


# --- request authentication -----------------------------------------------------------------


_SHOPPER_SESSION = (
    select(AuthSession.revoked_at, AuthSession.shopper_id, Shopper.is_active)
    .outerjoin(Shopper, Shopper.id == AuthSession.shopper_id)
    .where(AuthSession.id == bindparam("session_id"))
)
_COMPANIONS_KEY = "_wallet_session_companions"


@dataclass(frozen=True, eq=False)
class SessionCompanion:
    """What an endpoint reads of the shopper together with the caller's session, in one statement.

    The hottest endpoints (every position report) need a few facts of the shopper first; read on
    their own they would cost a second round trip right after the session's. ``extend`` adds the
    columns (and outer joins) to the session read, where the shopper is ``Shopper``; the session
    checks are unchanged. The values wait in the request for ``companion_values``."""

    extend: Callable[[Select[Any]], Select[Any]]

    @functools.cached_property
    def read(self) -> reads.DriverRead:
        return reads.DriverRead(self.extend(_SHOPPER_SESSION))


_SHOPPER_SESSION_READ = reads.DriverRead(_SHOPPER_SESSION)


def authenticate_access_token(token: str, companion: SessionCompanion | None = None) -> Principal:
    """The principal behind an access token whose session is still open (for a shopper, with the
    companion's values read in the same statement)."""
    claims = decode_access_token(token)
    if claims.audience == SHOPPER_AUDIENCE:
        # The hot path of every shopper request (each position report): one round trip.
        read = _SHOPPER_SESSION_READ if companion is None else companion.read
        row = read.one_or_none({"session_id": claims.session_id})
        if row is None or row[0] is not None:  # revoked_at
            raise InvalidToken("The session has ended; sign in again.", reason="session_ended")
        _, shopper_id, is_active = row[:3]
        if not is_active or shopper_id != claims.subject:
            raise InvalidToken("The account is not available.")
        if companion is not None:
            g.setdefault(_COMPANIONS_KEY, {})[companion] = (claims.session_id, tuple(row[3:]))
        return Principal(id=claims.subject, role=SHOPPER, session_id=claims.session_id)
    auth_session = db.session.get(AuthSession, claims.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise InvalidToken("The session has ended; sign in again.", reason="session_ended")
    staff = db.session.get(StaffMember, claims.subject)
    if staff is None or not staff.is_active or auth_session.staff_id != staff.id:
        raise InvalidToken("The account is not available.")
    return Principal(
        id=staff.id,
        role=staff.role,
        brand_id=staff.brand_id,
        store_ids=frozenset(staff.store_ids),
        session_id=auth_session.id,
    )


def companion_values(companion: SessionCompanion, principal: Principal) -> tuple[Any, ...] | None:
    """The companion's values read with this principal's session in this request, once (None if
    they were not: the caller reads them itself)."""
    if not has_app_context():
        return None
    stored = g.get(_COMPANIONS_KEY, {}).pop(companion, None)
    if stored is None or stored[0] != principal.session_id:
        return None
    return stored[1]


def authenticate_api_key(raw_key: str) -> Principal:
    """The store principal behind a POS API key that exists and is not revoked.

    A till sends its key with every request, so each process remembers the principal of a good
    key for ``POS_KEY_CACHE_SECONDS`` (default 5; 0 looks the key up every time): revoking a key,
    or deleting its store or brand, takes effect at once in the process that does it and within
    that bound everywhere else. Unknown and revoked keys are never remembered.
    """
    digest = auth_secrets.digest(raw_key)
    cache, ttl = _pos_key_cache()
    now_mono = time.monotonic()
    cached = cache.get(digest)
    if cached is not None and now_mono - cached[1] < ttl:
        return cached[0]
    # On a connection of its own, returned at once: the request's session starts with nothing open.
    # Committed, never rolled back, even when only read: on a rollback psycopg deallocates every
    # statement it prepared on the connection, and the till's hot statements, planned again for
    # their next runs, would cost all of a process's requests more every time its keys lapse.
    now = utcnow()
    with db.engine.begin() as connection:
        key = connection.execute(_POS_KEY_LOOKUP, {"digest": digest}).first()
        good = key is not None and key.revoked_at is None
        if good and (key.last_used_at is None or now - key.last_used_at > _KEY_LAST_USED_RESOLUTION):
            connection.execute(update(PosApiKey).where(PosApiKey.id == key.id).values(last_used_at=now))
    if not good:
        cache.pop(digest, None)
        raise InvalidToken("The API key is invalid or revoked.", reason="invalid_api_key")
    principal = Principal(id=key.id, role=POS_KEY, brand_id=key.brand_id, store_ids=frozenset({key.store_id}))
    if ttl > 0:
        if len(cache) >= _POS_KEY_CACHE_SIZE:
            cache.clear()  # many keys in one process: start again rather than grow without bound
        cache[digest] = (principal, now_mono)
    return principal


# Plain columns (no ORM identity map): this runs whenever a key's remembered principal lapses.
_POS_KEY_LOOKUP = select(PosApiKey.id, PosApiKey.brand_id, PosApiKey.store_id, PosApiKey.last_used_at,
                         PosApiKey.revoked_at).where(PosApiKey.key_hash == bindparam("digest"))
_POS_KEY_CACHE = "wallet.pos_key_principals"
_POS_KEY_CACHE_SIZE = 10_000


def _pos_key_cache() -> tuple[dict[str, tuple[Principal, float]], float]:
    """This app's remembered POS key principals (key digest → principal, when looked up), and their TTL."""
    cache = current_app.extensions.get(_POS_KEY_CACHE)
    if cache is None:
        cache = current_app.extensions[_POS_KEY_CACHE] = {}
        _forget_pos_keys_on_changes()
    return cache, float(current_app.config.get("POS_KEY_CACHE_SECONDS", 5.0))


def _forget_pos_keys(*_: Any) -> None:
    """A key was changed (revoked) or deleted, or a store or brand (and their keys with them):
    this process forgets every remembered key, so that the change holds for its next request."""
    if has_app_context():
        current_app.extensions.get(_POS_KEY_CACHE, {}).clear()


def _forget_pos_keys_on_changes() -> None:
    from wallet.brands.models import Brand, Store

    for target, events in ((PosApiKey, ("after_update", "after_delete")), (Store, ("after_delete",)),
                           (Brand, ("after_delete",))):
        for name in events:
            if not sa_event.contains(target, name, _forget_pos_keys):
                sa_event.listen(target, name, _forget_pos_keys)


def normalize_email(email: str) -> str:
    return email.strip().lower()
