"""The hot path's reading and writing of position reports agree with the schemas they stand in for."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from wallet.core.wire import json_response
from wallet.locations import wire
from wallet.locations.filters import Fix
from wallet.locations.schemas import FixBatchSchema, RecordedSchema
from wallet.locations.services import Monitor, PresenceEvent, Recorded, Region
from wallet.offers.services import IssuedCoupon


def _request(body: bytes, content_type: str = "application/json") -> Request:
    return Request(EnvironBuilder(method="POST", data=body, content_type=content_type).get_environ())


def _schema(body: bytes) -> list[Fix] | None:
    try:
        loaded = FixBatchSchema().load(json.loads(body))
    except (ValidationError, ValueError):
        return None
    return [Fix(**fix) for fix in loaded["fixes"]]


def _fast(body: bytes) -> list[Fix] | None:
    return wire.parse_fix_batch(_request(body))


GOOD = {"lat": 48.8566, "lon": 2.3522, "accuracy_m": 8.5, "recorded_at": "2026-11-22T10:00:00.250+01:00"}

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1000, 1000),
                    st.booleans(), st.text(max_size=4), st.none())
times = st.one_of(
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5, minutes=-30))]))
    .map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),  # no offset: refused
    st.sampled_from(["2026-11-22T10:00:00Z", "2026-02-30T10:00:00Z", "2026-11-22 10:00:00+00:00",
                     "20261122T100000Z", "2026-11-22T10:00:00+0100", "yesterday", ""]),
    st.integers(),
)
fixes = st.fixed_dictionaries(
    {"lat": st.one_of(st.floats(-95, 95), numbers), "lon": st.one_of(st.floats(-185, 185), numbers),
     "accuracy_m": st.one_of(st.floats(-1, 200), numbers), "recorded_at": times},
    optional={"speed_mps": st.one_of(st.floats(-1, 1100), numbers), "mocked": st.one_of(st.booleans(), numbers),
              "heading": st.floats()},
)


@settings(max_examples=400, deadline=None)
@given(st.lists(fixes, min_size=0, max_size=4))
def test_the_fast_reading_accepts_only_what_the_schema_accepts_and_reads_it_the_same(batch):
    body = json.dumps({"fixes": batch}).encode()
    fast = _fast(body)
    if fast is not None:  # otherwise the schema decides (and answers its own 422)
        assert fast == _schema(body)


def test_plain_batches_take_the_fast_reading():
    body = json.dumps({"fixes": [GOOD, {**GOOD, "speed_mps": 1.2, "mocked": False, "lat": 48}]}).encode()
    fast = _fast(body)
    assert fast is not None and fast == _schema(body)
    assert fast[0].recorded_at == dt.datetime(2026, 11, 22, 9, 0, 0, 250000, tzinfo=dt.UTC)
    assert _fast(json.dumps({"fixes": [{**GOOD, "recorded_at": "2026-11-22T09:00:00Z"}]}).encode()) is not None


@pytest.mark.parametrize("recorded_at", ["2026-11-22t10:00:00z", "2026-11-22 10:00:00+00:00",
                                         "2026-11-22T10:00:00.1234567-03:30", "2026-11-22T10:00:00+0100"])
def test_both_readings_parse_rfc_3339_times_alike(recorded_at):
    body = json.dumps({"fixes": [{**GOOD, "recorded_at": recorded_at}]}).encode()
    fast = _fast(body)
    assert fast is not None and fast == _schema(body)
    assert fast[0].recorded_at.tzinfo is dt.UTC


@pytest.mark.parametrize("recorded_at", ["20261122T100000Z", "2026-11-22T10:00:00,5Z", "2026-11-22T10:00Z",
                                         "2026-11-22T24:00:00Z"])
def test_times_that_are_not_rfc_3339_are_refused_by_both(recorded_at):
    body = json.dumps({"fixes": [{**GOOD, "recorded_at": recorded_at}]}).encode()
    assert _fast(body) is None and _schema(body) is None


def test_an_unknown_speed_may_be_null():
    body = json.dumps({"fixes": [{**GOOD, "speed_mps": None}]}).encode()
    fast = _fast(body)
    assert fast is not None and fast == _schema(body) and fast[0].speed_mps is None


@pytest.mark.parametrize("body", [
    b'{"fixes": [', b"[]", b'{"fixes": []}', b'{"fixes": {}}',
    json.dumps({"fixes": [GOOD], "more": 1}).encode(),
    json.dumps({"fixes": [GOOD] * 121}).encode(),
    json.dumps({"fixes": [{**GOOD, "lat": "48.85"}]}).encode(),
    json.dumps({"fixes": [{**GOOD, "lat": 91}]}).encode(),
    json.dumps({"fixes": [{**GOOD, "accuracy_m": 0}]}).encode(),
    json.dumps({"fixes": [{**GOOD, "mocked": 1}]}).encode(),
    json.dumps({"fixes": [{**GOOD, "recorded_at": "2026-11-22T10:00:00"}]}).encode(),
    b'{"fixes": [{"lat": NaN, "lon": 2, "accuracy_m": 5, "recorded_at": "2026-11-22T10:00:00Z"}]}',
])
def test_anything_unusual_is_left_to_the_schema(body):
    assert _fast(body) is None


def test_a_body_not_sent_as_json_is_left_to_the_schema():
    assert wire.parse_fix_batch(_request(json.dumps({"fixes": [GOOD]}).encode(), "text/plain")) is None


def _region(n: int, with_id: bool = True) -> Region:
    return Region(str(uuid.uuid4()) if with_id else None, 48.0 + n / 7, 2.0 - n / 3, 50.0 + n, float(n) - 2.5)


def test_the_written_answer_equals_the_schemas_dump():
    at = dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.UTC)
    coupon = IssuedCoupon(id=uuid.uuid4(), offer_id=uuid.uuid4(), brand_id=uuid.uuid4(), store_id=None,
                          trigger="dwell", issued_at=at, expires_at=at + dt.timedelta(hours=2), locale="fr",
                          title="Un café offert", description="Au comptoir « Châtelet »", terms="",
                          reward={"type": "percent_off", "percent": 10})
    others = [dataclasses.replace(coupon, id=uuid.uuid4(), store_id=uuid.uuid4(), trigger="enter", reward=reward)
              for reward in ({"type": "amount_off", "amount_minor": 300, "currency": "EUR"},
                             {"type": "free_item", "item": "Croissant"}, {"type": "bonus_points", "points": 50})]
    recorded = Recorded(
        accepted=3, rejected={"future": 0, "stale": 2, "inaccurate": 0, "mocked": 0, "out_of_order": 4,
                              "impossible_speed": 1, "unknown_region": 1},
        events=[PresenceEvent("enter", uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), at)],
        coupons=[coupon, *others],
        monitor=Monitor(regions=[_region(n) for n in range(3)], resync=_region(9, with_id=False)),
    )
    assert wire.dump_recorded(recorded) == RecordedSchema().dump(recorded)
    empty = Recorded(accepted=0, rejected={"mocked": 1})
    assert wire.dump_recorded(empty) == RecordedSchema().dump(empty)


def test_the_answer_is_written_as_flasks_json_provider_writes_it():
    from wallet import create_app

    at = dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.UTC)
    coupon = IssuedCoupon(id=uuid.uuid4(), offer_id=uuid.uuid4(), brand_id=uuid.uuid4(), store_id=uuid.uuid4(),
                          trigger="enter", issued_at=at, expires_at=at + dt.timedelta(hours=1), locale="fr-CA",
                          title="Un café « offert »", description="Près de la caisse\n", terms="Un par jour",
                          reward={"type": "amount_off", "amount_minor": 300, "currency": "EUR"})
    recorded = Recorded(accepted=1, rejected={"future": 0, "stale": 2}, coupons=[coupon],
                        events=[PresenceEvent("exit", uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), at)],
                        monitor=Monitor(regions=[_region(n) for n in range(19)], resync=_region(0, with_id=False)))
    payload = wire.dump_recorded(recorded)
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "k" * 32})
    with app.app_context():
        ours, flasks = json_response(payload), app.json.response(payload)
    assert ours.mimetype == flasks.mimetype == "application/json"
    assert json.loads(ours.get_data()) == json.loads(flasks.get_data()) == payload
    # The same text but for the spaces, and for non-ASCII characters (a coupon's French title), which Flask
    # escapes ("\u00e9") and the hot path writes as UTF-8: the same JSON either way.
    unescaped = json.dumps(json.loads(flasks.get_data()), ensure_ascii=False, separators=(",", ":"))
    assert ours.get_data() == unescaped.encode() + b"\n"
    assert flasks.get_data().replace(b", ", b",").replace(b": ", b":").rstrip() == json.dumps(
        json.loads(flasks.get_data()), separators=(",", ":")).encode()


def test_the_answer_documents_every_reason_a_fix_is_refused_for():
    from wallet.locations import filters, services
    from wallet.locations.schemas import RejectedFixesSchema

    assert set(RejectedFixesSchema().fields) == {*filters.REASONS, services.UNKNOWN_REGION}
