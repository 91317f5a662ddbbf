"""The till's two busiest requests read without marshmallow (as ``locations.wire`` reads positions).

A purchase or a redemption in the plain shape every till sends is decoded by msgspec into the same
arguments the schemas give (~2 µs, where webargs and marshmallow take ~50); anything else (a field
of another type, an unknown field, a value out of range, a text that is not one line, malformed
JSON, a missing or odd Idempotency-Key) returns ``None`` and the caller falls back on the schemas,
so that every refusal is the schemas' own 4xx. ``tests/unit/test_pos_wire.py`` checks that both readings agree.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import msgspec
from flask import Request

from wallet.core.fields import is_single_line
from wallet.core.wire import decode_plain
from wallet.offers.schemas import CURRENCIES, MAX_AMOUNT_MINOR
from wallet.pos.schemas import IDEMPOTENCY_KEY_PATTERN, ORDER_REFERENCE_PATTERN, TOKEN_MAX_LENGTH

_Token = Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_MAX_LENGTH)]
_OrderReference = Annotated[str, msgspec.Meta(pattern=ORDER_REFERENCE_PATTERN)]


class _Purchase(msgspec.Struct, forbid_unknown_fields=True):
    member_token: _Token
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT_MINOR)]
    currency: str
    order_reference: _OrderReference
    store_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET  # absent, not null: null is the schema's to refuse


class _Redemption(msgspec.Struct, forbid_unknown_fields=True):
    redemption_token: _Token
    order_reference: _OrderReference
    store_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET


_PURCHASE = msgspec.json.Decoder(_Purchase)
_REDEMPTION = msgspec.json.Decoder(_Redemption)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def parse_purchase(request: Request) -> tuple[dict[str, Any]] | None:
    """``(data,)`` as ``PurchaseCreateSchema`` loads it, or None to let the schema decide."""
    body = decode_plain(_PURCHASE, request)
    if body is None or body.currency not in CURRENCIES:
        return None
    data = _fields(body)
    return None if data is None else (data,)


def parse_redemption(request: Request) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(headers, data)`` as ``IdempotencyHeaderSchema`` and ``RedemptionCreateSchema`` load them, or None."""
    key = request.headers.get("Idempotency-Key")
    if key is None or not _IDEMPOTENCY_KEY.fullmatch(key):
        return None
    body = decode_plain(_REDEMPTION, request)
    data = None if body is None else _fields(body)
    if data is None:
        return None
    return {"idempotency_key": key}, data


def _fields(body: msgspec.Struct) -> dict[str, Any] | None:
    """The body's fields, or None when a text is not one line (the schemas' ``Line`` refuses it)."""
    values = {name: value for name in body.__struct_fields__ if (value := getattr(body, name)) is not msgspec.UNSET}
    if any(isinstance(value, str) and not is_single_line(value) for value in values.values()):
        return None
    return values
