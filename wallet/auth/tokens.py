"""Signed JWT access tokens: short-lived, bound to a session and to one audience."""

from __future__ import annotations

import datetime as dt
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
    """Verify signature, expiry, issuer and audience; any failure is a 401, never a 500."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            audience=list(AUDIENCES),
            issuer=current_app.config["TOKEN_ISSUER"],
            options={"require": ["exp", "iat", "sub", "aud", "iss", "sid"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired.", reason="token_expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token is not meant for this API.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The access token is invalid.") from None
    try:
        return AccessClaims(
            subject=uuid.UUID(claims["sub"]), audience=claims["aud"], session_id=uuid.UUID(claims["sid"])
        )
    except (ValueError, TypeError):
        raise InvalidToken("The access token is invalid.") from None
