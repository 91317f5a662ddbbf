"""Candidate fixes for hot spots of the location pipeline, measured by monkeypatching — never applied to
``wallet/``. ``scripts/bench_locations.py --designs index,patched`` serves them as
``gunicorn 'bench_locations_patches:create_app()'`` with ``BENCH_PATCHES=name,name`` (default: all).

coupon_memo   ``wallet/locations/services.py`` ``_move_presence`` calls ``offers.issue_coupons(trigger="dwell")``
              for every fix inside a fence, and each call loads the Geofence again (geometry included: the
              identity map keeps only weak references), the BrandConsent (a miss is not cached) and, when
              opted in, the live offers: 2-3 queries per fix inside a fence. Patched: once per (shopper,
              fence, trigger) and request, one cheap check (opt-in, then any live offer of that trigger on
              that fence, the brand taken from the index's FenceInfo); when it says no, later calls for the
              same batch return at once. (An offer starting mid-batch would wait for the next batch.)
keep_shopper  ``wallet/auth/services.py`` ``authenticate_access_token`` loads the Shopper and lets it go, so
              ``locations/services.py`` ``_consenting_shopper`` selects it again: one query per request.
              Patched: the authenticated Shopper is kept on ``flask.g`` for the rest of the request.
fast_fixes    ``wallet/locations/schemas.py`` ``FixBatchSchema``: marshmallow spends ~30 µs per fix (3.5-4 ms
              for a batch of 120). Patched: a plain loop for well-formed batches; anything unusual falls
              back to marshmallow, so errors are unchanged.
locate_small  ``wallet/locations/services.py`` ``_locate``: ``locate_many`` costs ~0.3-0.5 ms of numpy set-up
              even for one fix; ``GeofenceIndex.locate`` costs ~0.1 ms. Patched: ``locate`` per fix for
              batches of at most 4 fixes.
"""

from __future__ import annotations

import datetime as dt
import os
from types import SimpleNamespace
from typing import Any

PATCHES = ("coupon_memo", "keep_shopper", "fast_fixes", "locate_small")


def _coupon_memo() -> None:
    from flask import g
    from sqlalchemy import select

    from wallet.extensions import db
    from wallet.geo import services as geo
    from wallet.geo.models import Geofence
    from wallet.offers import services as offers
    from wallet.privacy.models import BrandConsent

    from wallet.locations import services as locations

    original = offers.issue_coupons
    move_presence = locations._move_presence

    def _move_presence(*args: Any, **kwargs: Any) -> Any:  # the memo lives as long as one batch
        g._bench_coupon_memo = {}
        try:
            return move_presence(*args, **kwargs)
        finally:
            g._bench_coupon_memo = None

    def issue_coupons(*, shopper_id: Any, geofence_id: Any, trigger: str, visit_started_at: dt.datetime,
                      at: dt.datetime) -> list[Any]:
        memo = g.get("_bench_coupon_memo")
        if memo is None or trigger not in ("enter", "dwell") or at.tzinfo is None or visit_started_at.tzinfo is None:
            return original(shopper_id=shopper_id, geofence_id=geofence_id, trigger=trigger,
                            visit_started_at=visit_started_at, at=at)
        key = (shopper_id, geofence_id, trigger)
        if key not in memo:
            info = geo.current_index().fences.get(str(geofence_id))
            brand_id = info.brand_id if info is not None else db.session.scalar(
                select(Geofence.brand_id).where(Geofence.id == geofence_id))
            worth = brand_id is not None and bool(db.session.scalar(
                select(BrandConsent.opted_in).where(BrandConsent.shopper_id == shopper_id,
                                                    BrandConsent.brand_id == brand_id)))
            if worth:
                fence = SimpleNamespace(id=geofence_id, brand_id=brand_id)
                live = offers._live_offers(fence, trigger, at).with_only_columns(offers.Offer.id).limit(1)
                worth = db.session.scalar(live) is not None
            memo[key] = worth
        if not memo[key]:
            return []
        return original(shopper_id=shopper_id, geofence_id=geofence_id, trigger=trigger,
                        visit_started_at=visit_started_at, at=at)

    offers.issue_coupons = issue_coupons
    locations._move_presence = _move_presence


def _keep_shopper() -> None:
    from flask import g

    from wallet.auth import services
    from wallet.auth.models import AuthSession, Shopper, StaffMember
    from wallet.auth.principal import SHOPPER, Principal
    from wallet.auth.tokens import SHOPPER_AUDIENCE, decode_access_token
    from wallet.core.errors import InvalidToken
    from wallet.extensions import db

    def authenticate_access_token(token: str) -> Principal:  # services.authenticate_access_token, plus g
        claims = decode_access_token(token)
        auth_session = db.session.get(AuthSession, claims.session_id)
        if auth_session is None or auth_session.revoked_at is not None:
            raise InvalidToken("The session has ended; sign in again.", reason="session_ended")
        if claims.audience == SHOPPER_AUDIENCE:
            shopper = db.session.get(Shopper, claims.subject)
            if shopper is None or not shopper.is_active or auth_session.shopper_id != shopper.id:
                raise InvalidToken("The account is not available.")
            g._bench_shopper = shopper  # a strong reference keeps it in the identity map
            return Principal(id=shopper.id, role=SHOPPER, session_id=auth_session.id)
        staff = db.session.get(StaffMember, claims.subject)
        if staff is None or not staff.is_active or auth_session.staff_id != staff.id:
            raise InvalidToken("The account is not available.")
        return Principal(id=staff.id, role=staff.role, brand_id=staff.brand_id,
                         store_ids=frozenset(staff.store_ids), session_id=auth_session.id)

    services.authenticate_access_token = authenticate_access_token


class _Fallback(Exception):
    pass


_FIX_KEYS = frozenset({"lat", "lon", "accuracy_m", "recorded_at", "mocked", "speed_mps"})
_REQUIRED = frozenset({"lat", "lon", "accuracy_m", "recorded_at"})


def _number(value: Any) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    raise _Fallback


def _fast_batch(data: Any) -> dict[str, Any]:
    if type(data) is not dict or data.keys() != {"fixes"}:
        raise _Fallback
    fixes = data["fixes"]
    if type(fixes) is not list or not 1 <= len(fixes) <= 120:
        raise _Fallback
    out = []
    for fix in fixes:
        if type(fix) is not dict or not _REQUIRED <= fix.keys() <= _FIX_KEYS:
            raise _Fallback
        lat, lon, accuracy = _number(fix["lat"]), _number(fix["lon"]), _number(fix["accuracy_m"])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < accuracy <= 100_000):
            raise _Fallback
        text = fix["recorded_at"]
        if type(text) is not str or len(text) < 20 or text[10] != "T":
            raise _Fallback
        try:
            recorded_at = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _Fallback from None
        if recorded_at.tzinfo is None:
            raise _Fallback
        item: dict[str, Any] = {"lat": lat, "lon": lon, "accuracy_m": accuracy,
                                "recorded_at": recorded_at.astimezone(dt.UTC)}
        mocked = fix.get("mocked", False)
        if type(mocked) is not bool:
            raise _Fallback
        item["mocked"] = mocked
        if "speed_mps" in fix:
            speed = _number(fix["speed_mps"])
            if not 0 <= speed <= 1000:
                raise _Fallback
            item["speed_mps"] = speed
        out.append(item)
    return {"fixes": out}


def _fast_fixes() -> None:
    from wallet.locations.schemas import FixBatchSchema

    original = FixBatchSchema.load

    def load(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs.get("many") and not kwargs.get("partial"):
            try:
                return _fast_batch(data)
            except _Fallback:
                pass
        return original(self, data, *args, **kwargs)

    FixBatchSchema.load = load


def _locate_small() -> None:
    from flask import current_app

    from wallet.locations import services

    original = services._locate

    def _locate(loaded: Any, fixes: list[Any]) -> list[Any]:
        if len(fixes) <= 4 and current_app.config["GEOFENCE_LOOKUP"] != "postgis":
            return [loaded.index.locate(f.lat, f.lon, f.accuracy_m) for f in fixes]
        return original(loaded, fixes)

    services._locate = _locate


def apply(names: str | None = None) -> list[str]:
    wanted = [n.strip() for n in (names or "all").split(",") if n.strip()]
    if wanted == ["all"]:
        wanted = list(PATCHES)
    for name in wanted:
        if name not in PATCHES:
            raise ValueError(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")
        globals()[f"_{name}"]()
    return wanted


def create_app() -> Any:
    """The app with the patches named in BENCH_PATCHES (all by default)."""
    from wallet import create_app as wallet_app

    apply(os.environ.get("BENCH_PATCHES", "all"))
    return wallet_app()
