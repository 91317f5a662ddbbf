"""The hot path's own reading and writing of position reports, equal to the schemas' but cheaper.

A phone reports its positions every few seconds, so the request parsing and the answer's
serialisation are a large share of the cost of a report. marshmallow spends ~30 µs per fix; a batch
in the plain shape every app sends (numbers as numbers, times as ISO 8601 with an offset) is read
here by a loop instead. Anything else — a string for a number, an unknown field, a time without an
offset, malformed JSON — returns ``None`` and the caller falls back on the schema, so that every
refusal is the schema's own 4xx. ``tests/unit/test_location_wire.py`` checks that both readings and
both writings agree.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import Request

from wallet.locations.filters import Fix
from wallet.locations.schemas import MAX_BATCH

_REQUIRED = frozenset({"lat", "lon", "accuracy_m", "recorded_at"})
_ALLOWED = _REQUIRED | {"speed_mps", "mocked"}
# ISO 8601 as apps write it, with an offset; marshmallow accepts these and more (the rest falls back).
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})\Z")


def parse_fix_batch(request: Request) -> list[Fix] | None:
    """The fixes of a well-formed ``{"fixes": [...]}`` body, or None to let the schema decide."""
    if not request.is_json:
        return None
    try:
        data = json.loads(request.get_data(cache=True))
    except ValueError:
        return None
    if type(data) is not dict or len(data) != 1 or type(fixes := data.get("fixes")) is not list:
        return None
    if not 1 <= len(fixes) <= MAX_BATCH:
        return None
    parsed = []
    for item in fixes:
        fix = _fix(item)
        if fix is None:
            return None
        parsed.append(fix)
    return parsed


def _fix(item: Any) -> Fix | None:
    if type(item) is not dict or not _REQUIRED <= item.keys() <= _ALLOWED:
        return None
    lat, lon, accuracy, at = item["lat"], item["lon"], item["accuracy_m"], item["recorded_at"]
    if not (_number(lat) and -90 <= lat <= 90 and _number(lon) and -180 <= lon <= 180
            and _number(accuracy) and 0 < accuracy <= 100_000):
        return None  # NaN fails every comparison, infinities the ranges
    speed = item.get("speed_mps")
    if "speed_mps" in item and not (_number(speed) and 0 <= speed <= 1_000):
        return None
    mocked = item.get("mocked", False)
    if type(mocked) is not bool or type(at) is not str or not _TIME.match(at):
        return None
    try:
        recorded_at = dt.datetime.fromisoformat(at).astimezone(dt.UTC)
    except ValueError:  # e.g. 30 February
        return None
    return Fix(lat=float(lat), lon=float(lon), accuracy_m=float(accuracy), recorded_at=recorded_at,
               speed_mps=None if speed is None else float(speed), mocked=mocked)


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int  # not bool, not a numeric string


def dump_recorded(recorded: Any) -> dict[str, Any]:
    """``RecordedSchema().dump(recorded)``, written out."""
    return {
        "accepted": recorded.accepted,
        "rejected": dict(recorded.rejected),
        "events": [{"type": e.type, "geofence_id": _str(e.geofence_id), "store_id": _str(e.store_id),
                    "brand_id": _str(e.brand_id), "at": _time(e.at)} for e in recorded.events],
        "coupons": [{"id": _str(c.id), "offer_id": _str(c.offer_id), "brand_id": _str(c.brand_id),
                     "store_id": _str(c.store_id), "trigger": c.trigger, "expires_at": _time(c.expires_at)}
                    for c in recorded.coupons],
        "monitor": None if recorded.monitor is None else dump_monitor(recorded.monitor),
    }


def dump_monitor(monitor: Any) -> dict[str, Any]:
    """``MonitorSchema().dump(monitor)``, written out."""
    return {"regions": [_region(r) for r in monitor.regions], "resync": _region(monitor.resync)}


def _region(region: Any) -> dict[str, Any]:
    return {"geofence_id": _str(region.geofence_id), "lat": float(region.lat), "lon": float(region.lon),
            "radius_m": float(region.radius_m), "distance_m": float(region.distance_m)}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()
