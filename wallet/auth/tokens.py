"""Signed JWT access tokens: short-lived, bound to a session and to one audience."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass

import jwt
from flask import current_app

from wallet.core.errors import InvalidToken
from wallet.core.time import utcnow

SHOPPER_AUDIENCE = "wallet:shopper"
STAFF_AUDIENCE = "wallet:staff"
AUDIENCES = (SHOPPER_AUDIENCE, STAFF_AUDIENCE)
ALGORITHM = "HS256"
LEEWAY_S = 5
# Tokens whose signature and claims this process has verified: a phone sends the same token with
# every position report for its whole life (ACCESS_TOKEN_TTL), so it is verified once, not every time.
_VERIFIED_TOKENS = 8192


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID
    audience: str
    session_id: uuid.UUID


def _signing_key() -> str:
    return "access-token:" + current_app.config["SECRET_KEY"]


def issue_access_token(*, subject: uuid.UUID, audience: str, session_id: uuid.UUID) -> str:
    now = utcnow()
    claims = {
        "iss": current_app.config["TOKEN_ISSUER"],
        "aud": audience,
        "sub": str(subject),
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(seconds=int(current_app.config["ACCESS_TOKEN_TTL"])),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM)


def decode_access_token(token: str) -> AccessClaims:
    """Verify signature, expiry, issuer and audience; any failure is a 401, never a 500.

    What does not depend on the time (signature, issuer, audience, the claims' presence and types) is
    verified once per token and remembered; the times (exp, nbf, iat) are checked on every call."""
    try:
        claims, expires, not_before = _verified(token, _signing_key(), current_app.config["TOKEN_ISSUER"])
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token is not meant for this API.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The access token is invalid.") from None
    now = utcnow().timestamp()
    if expires <= now - LEEWAY_S:
        raise InvalidToken("The access token has expired.", reason="token_expired")
    if not_before > now + LEEWAY_S:
        raise InvalidToken("The access token is invalid.")  # not valid yet: issued by a clock ahead of ours
    return claims


@functools.lru_cache(maxsize=_VERIFIED_TOKENS)
def _verified(token: str, key: str, issuer: str) -> tuple[AccessClaims, float, float]:
    """The claims of a token signed with ``key`` by ``issuer`` for one of our audiences, with its expiry
    and the time before which it is not valid (the later of nbf and iat). Raises ``jwt.PyJWTError``
    (never remembered) for anything else. Keyed by the signing key too: a new secret verifies afresh."""
    claims = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=list(AUDIENCES),
        issuer=issuer,
        options={"require": ["exp", "iat", "sub", "aud", "iss", "sid"], "verify_exp": False,
                 "verify_nbf": False, "verify_iat": False},
    )
    try:
        expires = float(claims["exp"])
        not_before = max(float(claims["iat"]), float(claims.get("nbf", claims["iat"])))
        verified = AccessClaims(
            subject=uuid.UUID(claims["sub"]), audience=claims["aud"], session_id=uuid.UUID(claims["sid"])
        )
    except (ValueError, TypeError, AttributeError):
        raise jwt.InvalidTokenError("malformed claims") from None
    return verified, expires, not_before
