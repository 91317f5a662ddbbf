"""The hot path's own reading and writing of position reports, equal to the schemas' but cheaper.

A phone reports its positions every few seconds, so the request parsing and the answer's
serialisation are a large share of the cost of a report. marshmallow spends ~30 µs per fix; a batch
in the plain shape every app sends is decoded here by msgspec straight into ``Fix`` values, whose
annotations carry the schema's ranges (~0.3 µs per fix). Anything else — a string for a number, an
unknown field, malformed JSON — returns ``None`` and the caller falls back on the schema, so that
every refusal is the schema's own 4xx. Times are read by the same RFC 3339 parser on both paths
(``wallet.core.fields.AwareDateTime``). ``tests/unit/test_location_wire.py`` checks that both readings and both
writings agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from flask import Request

from wallet.core.fields import to_utc
from wallet.core.wire import decode_plain
from wallet.locations.filters import Fix
from wallet.locations.schemas import MAX_BATCH
from wallet.offers.schemas import RewardSchema

_REWARD_FIELDS = tuple(RewardSchema().fields)  # in the schema's order, as its dump writes them


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    fixes: Annotated[list[Fix], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


_DECODER = msgspec.json.Decoder(_Batch)


def parse_fix_batch(request: Request) -> list[Fix] | None:
    """The fixes of a well-formed ``{"fixes": [...]}`` body (times in UTC), or None to let the schema decide."""
    batch = decode_plain(_DECODER, request)
    if batch is None:
        return None
    fixes = [fix if fix.recorded_at.tzinfo is dt.UTC else _in_utc(fix) for fix in batch.fixes]
    return None if None in fixes else fixes  # a time UTC cannot hold: the schema refuses it


def _in_utc(fix: Fix) -> Fix | None:
    recorded_at = to_utc(fix.recorded_at)
    return None if recorded_at is None else msgspec.structs.replace(fix, recorded_at=recorded_at)


def parse_fix_batch_arguments(request: Request) -> tuple[dict[str, list[Fix]]] | None:
    """``(batch,)`` as ``FixBatchSchema`` loads it (for ``core.wire.plain_arguments``), or None."""
    fixes = parse_fix_batch(request)
    return None if fixes is None else ({"fixes": fixes},)


def dump_recorded(recorded: Any) -> dict[str, Any]:
    """``RecordedSchema().dump(recorded)``, written out."""
    return {
        "accepted": recorded.accepted,
        "rejected": dict(recorded.rejected),
        "events": [{"type": e.type, "geofence_id": _str(e.geofence_id), "store_id": _str(e.store_id),
                    "brand_id": _str(e.brand_id), "at": _time(e.at)} for e in recorded.events],
        "coupons": [{"id": _str(c.id), "offer_id": _str(c.offer_id), "brand_id": _str(c.brand_id),
                     "store_id": _str(c.store_id), "trigger": c.trigger, "issued_at": _time(c.issued_at),
                     "expires_at": _time(c.expires_at), "locale": c.locale, "title": c.title,
                     "description": c.description, "terms": c.terms, "reward": _reward(c.reward)}
                    for c in recorded.coupons],
        "monitor": None if recorded.monitor is None else dump_monitor(recorded.monitor),
    }


def dump_monitor(monitor: Any) -> dict[str, Any]:
    """``MonitorSchema().dump(monitor)``, written out."""
    return {"regions": [_region(r) for r in monitor.regions], "resync": _region(monitor.resync)}


def _region(region: Any) -> dict[str, Any]:
    return {"geofence_id": region.geofence_id, "lat": float(region.lat), "lon": float(region.lon),
            "radius_m": float(region.radius_m), "distance_m": float(region.distance_m)}


def _reward(reward: dict[str, Any]) -> dict[str, Any]:
    """``RewardSchema().dump(reward)``: the fields of its type, as they are (all JSON-ready)."""
    return {name: reward[name] for name in _REWARD_FIELDS if name in reward}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
