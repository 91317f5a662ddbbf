"""Short-lived tokens a scan hands to the till: proof that a live code was shown at this store.

A scan spends the shopper's rotating code (each step is accepted once), so what the till sends
next — a purchase for the member, the redemption of a coupon — carries a token instead: signed
with the app's secret, naming the member or coupon, the brand and the store, valid for
``TOKEN_TTL`` seconds. Tokens carry no authority of their own: the till must still be of that
brand and store, and a coupon is still redeemed by one conditional update.
"""

from __future__ import annotations

import functools
import hashlib
import uuid

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wallet.core.errors import ValidationFailed

TOKEN_TTL = 15 * 60  # a checkout, however long the basket
MEMBER, REDEMPTION = "member", "redemption"
_FIELDS = {MEMBER: "member_token", REDEMPTION: "redemption_token"}


class TokenRefused(ValidationFailed):
    """A token the till must not use; ``reason`` is token_invalid, token_expired or token_other_store."""

    REASONS = {
        "token_invalid": "Not a checkout token this service issued",
        "token_expired": "The scan is too old: scan the code again",
        "token_other_store": "The code was scanned at another store: scan it here",
    }

    def __init__(self, purpose: str, why: str, message: str) -> None:
        super().__init__(message, reason=f"token_{why}", errors={"json": {_FIELDS[purpose]: [message]}})


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"], purpose)


@functools.lru_cache(maxsize=16)
def _serializer_for(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    # Built once per secret and purpose: every purchase and redemption reads a token.
    return URLSafeTimedSerializer(secret_key, salt=f"wallet.pos.{purpose}", signer_kwargs={"digest_method": hashlib.sha256})


def issue_token(purpose: str, *, subject_id: uuid.UUID, brand_id: uuid.UUID, store_id: uuid.UUID) -> str:
    return str(_serializer(purpose).dumps([subject_id.hex, brand_id.hex, store_id.hex]))


def read_token(purpose: str, token: str, *, brand_id: uuid.UUID, store_id: uuid.UUID) -> uuid.UUID:
    """The member or coupon a token names, if it is genuine, fresh, and for this brand and store."""
    try:
        subject, brand, store = _serializer(purpose).loads(token, max_age=TOKEN_TTL)
        subject_id, token_brand, token_store = uuid.UUID(subject), uuid.UUID(brand), uuid.UUID(store)
    except SignatureExpired:
        raise TokenRefused(purpose, "expired", "The scan is too old: scan the code again.") from None
    except (BadSignature, ValueError, TypeError):
        raise TokenRefused(purpose, "invalid", "Not a token this service issued.") from None
    if token_brand != brand_id:
        # Another brand's till got this token: as good as a forgery for this one.
        raise TokenRefused(purpose, "invalid", "Not a token this service issued.")
    if token_store != store_id:
        raise TokenRefused(purpose, "other_store", "This code was scanned at another store: scan it here.")
    return subject_id
