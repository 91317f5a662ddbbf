"""The till's fast reading of purchases and redemptions agrees with the schemas it stands in for."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from wallet import create_app
from wallet.core.wire import json_response
from wallet.pos import wire
from wallet.pos.schemas import IdempotencyHeaderSchema, PurchaseCreateSchema, RedemptionCreateSchema


def _request(body: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json") -> Request:
    return Request(EnvironBuilder(method="POST", data=body, content_type=content_type,
                                  headers=headers or {}).get_environ())


def _load(schema, data):
    try:
        return schema.load(data)
    except ValidationError:
        return None


STORE = str(uuid.UUID(int=7))
PURCHASE = {"member_token": "m.abc", "amount_minor": 1250, "currency": "EUR", "order_reference": "A-1"}
REDEMPTION = {"redemption_token": "r.xyz", "order_reference": "R-1"}

anything = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=3))
tokens = st.one_of(st.text(min_size=0, max_size=3), st.sampled_from(["t" * 512, "t" * 513, "jeton-été"]), anything)
references = st.one_of(st.sampled_from(["A-1", "a.b_c:d/e#f", "-A", "A" * 64, "A" * 65, "A\n", "", "é1", "A 1"]),
                       anything)
amounts = st.one_of(st.integers(-2, 3), st.sampled_from([100_000_000, 100_000_001, 2**70, 12.0, 12.5, True]), anything)
currencies = st.one_of(st.sampled_from(["EUR", "USD", "eur", "EURO", "XXX", ""]), anything)
stores = st.one_of(st.sampled_from([STORE, STORE.replace("-", ""), STORE.upper(), "{" + STORE + "}", "nope", None]),
                   anything)
extras = st.dictionaries(st.sampled_from(["note", "points", "Currency"]), anything, max_size=1)


@settings(max_examples=500, deadline=None)
@given(member_token=tokens, amount_minor=amounts, currency=currencies, order_reference=references,
       store_id=st.one_of(st.just(...), stores), extra=extras,
       drop=st.sampled_from([None, "member_token", "amount_minor", "currency", "order_reference"]))
def test_a_purchase_read_fast_is_what_the_schema_reads(member_token, amount_minor, currency, order_reference,
                                                        store_id, extra, drop):
    data = {"member_token": member_token, "amount_minor": amount_minor, "currency": currency,
            "order_reference": order_reference, **({} if store_id is ... else {"store_id": store_id}), **extra}
    data.pop(drop, None)
    fast = wire.parse_purchase(_request(json.dumps(data).encode()))
    if fast is not None:  # read fast only what the schema accepts, as the schema reads it
        assert fast == (_load(PurchaseCreateSchema(), data),)


@settings(max_examples=300, deadline=None)
@given(redemption_token=tokens, order_reference=references, store_id=st.one_of(st.just(...), stores),
       extra=extras, key=st.one_of(st.none(), st.sampled_from(["k-1", "K" * 255, "K" * 256, "two words", "", "clé"])))
def test_a_redemption_read_fast_is_what_the_schemas_read(redemption_token, order_reference, store_id, extra, key):
    data = {"redemption_token": redemption_token, "order_reference": order_reference,
            **({} if store_id is ... else {"store_id": store_id}), **extra}
    headers = {} if key is None else {"Idempotency-Key": key}
    fast = wire.parse_redemption(_request(json.dumps(data).encode(), headers))
    if fast is not None:
        assert fast == (_load(IdempotencyHeaderSchema(), headers), _load(RedemptionCreateSchema(), data))


def test_the_plain_shapes_are_read_fast():
    purchase = wire.parse_purchase(_request(json.dumps({**PURCHASE, "store_id": STORE}).encode()))
    assert purchase == ({**PURCHASE, "store_id": uuid.UUID(STORE)},)
    assert wire.parse_purchase(_request(json.dumps(PURCHASE).encode())) == (PURCHASE,)
    redemption = wire.parse_redemption(_request(json.dumps(REDEMPTION).encode(), {"Idempotency-Key": "k-1"}))
    assert redemption == ({"idempotency_key": "k-1"}, REDEMPTION)


@pytest.mark.parametrize(("parse", "body", "headers"), [
    (wire.parse_purchase, b'{"member_token": "m"', {}),
    (wire.parse_purchase, json.dumps({**PURCHASE, "amount_minor": 0}).encode(), {}),
    (wire.parse_purchase, json.dumps({**PURCHASE, "currency": "XYZ"}).encode(), {}),
    (wire.parse_purchase, json.dumps({**PURCHASE, "store_id": None}).encode(), {}),
    (wire.parse_purchase, json.dumps({**PURCHASE, "note": "x"}).encode(), {}),
    (wire.parse_redemption, json.dumps(REDEMPTION).encode(), {}),
    (wire.parse_redemption, json.dumps(REDEMPTION).encode(), {"Idempotency-Key": "with space"}),
    (wire.parse_redemption, json.dumps({**REDEMPTION, "order_reference": "-R"}).encode(), {"Idempotency-Key": "k"}),
])
def test_anything_unusual_is_left_to_the_schemas(parse, body, headers):
    assert parse(_request(body, headers)) is None
    assert parse(_request(json.dumps(PURCHASE).encode(), {"Idempotency-Key": "k"}, "text/plain")) is None


def test_an_answer_written_fast_is_the_json_flask_writes():
    answer = {"purchase_id": str(uuid.uuid4()), "points_earned": 12, "tier": {"name": "Or", "rank": 2},
              "rewards_issued": [{"title": "Un croissant offert — « merci »", "expires_at": "2026-11-23T10:00:00+00:00"}],
              "stamps": None, "balance": 340}
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "k" * 32})
    with app.app_context():
        ours, flasks = json_response(answer, status=201), app.json.response(answer)
    assert ours.status_code == 201 and ours.mimetype == flasks.mimetype == "application/json"
    assert json.loads(ours.get_data()) == json.loads(flasks.get_data()) == answer
