"""The location use cases: record a batch of fixes (or OS region events), move presence, issue coupons,
and tell the phone which regions to monitor next.

Hot path design: one in-memory index lookup for the whole batch; a fix far from every fence writes
nothing; the database is touched only for shoppers inside or near a fence.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from flask import current_app
from sqlalchemy import Connection, Select, Uuid, any_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from wallet.auth.models import Shopper
from wallet.auth.principal import Principal
from wallet.auth.services import SessionCompanion, companion_values
from wallet.core import reads
from wallet.core.errors import ConsentRequired, NotFound
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.core.upsert import insert_for
from wallet.extensions import db
from wallet.geo import services as geo
from wallet.geo.index import Pairs
from wallet.geo.models import LastFix, LocationFix, Presence
from wallet.insights import events as insight_events
from wallet.locations import filters, presence
from wallet.locations.filters import Fix

UNKNOWN_REGION = "unknown_region"
_LAST_FIX_CACHE_SIZE = 100_000
_LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)
_LOCATE_ONE_BY_ONE = 4


@dataclass(frozen=True)
class Region:
    geofence_id: str | None  # as the index keys it (the answer writes it out as it is)
    lat: float
    lon: float
    radius_m: float
    distance_m: float


@dataclass(frozen=True)
class Monitor:
    regions: list[Region]
    resync: Region


@dataclass(frozen=True)
class PresenceEvent:
    type: str
    geofence_id: uuid.UUID
    store_id: uuid.UUID
    brand_id: uuid.UUID
    at: dt.datetime


@dataclass
class Recorded:
    accepted: int
    rejected: dict[str, int]
    events: list[PresenceEvent] = field(default_factory=list)
    coupons: list[Any] = field(default_factory=list)  # offers.IssuedCoupon, once the report is done
    monitor: Monitor | None = None


@dataclass(frozen=True)
class _Facts:
    """What a position report needs to know of the shopper, read in one round trip."""

    previous: Fix | None  # the last fix stored near a fence (for the speed check across processes)
    inside_any: bool  # inside some fence: a far fix may mean an exit


def record_fixes(*, principal: Principal, fixes: list[Fix], extra_rejections: Counter[str] | None = None) -> Recorded:
    """Screen the fixes, move presence for the fences they are in or near, issue the coupons that
    entering or dwelling earns, and answer with events, coupons and the regions to monitor.

    A report far from every fence, from a shopper inside none, reads one row and writes nothing."""
    facts = _facts(principal)
    now = utcnow()
    config = current_app.config
    loaded = geo.current_index()
    screened = filters.screen(fixes, previous=_previous_fix(principal.id, facts), now=now, limits=_limits())
    rejected = screened.rejected + (extra_rejections or Counter())
    reasons = sorted(set(filters.REASONS) | set(rejected))  # every reason, even at zero, for a stable answer
    result = Recorded(accepted=len(screened.accepted), rejected={reason: rejected[reason] for reason in reasons})
    if not screened.accepted:
        return result
    accepted = screened.accepted
    pairs = _locate(loaded, accepted)
    _remember(principal.id, accepted[-1])
    near_any = len(pairs.points) > 0
    # Presence moves only for a shopper inside a fence (who may leave it) or a fix clearly inside one.
    clearly = np.zeros(0, dtype=bool)
    if near_any:  # most reports are near no fence
        accuracies = np.array([fix.accuracy_m for fix in accepted])
        clearly = presence.clearly_inside_of(pairs.distances, accuracies[pairs.points])
    moves = facts.inside_any or bool(clearly.any())
    retention = int(config["LOCATION_RETENTION"])
    if near_any and not moves and retention == 0 and not db.session().in_transaction():
        # Only the last fix to keep: one statement on its own, without BEGIN and COMMIT around it.
        _store_last_fix(reads.alone(), principal.id, accepted[-1])
    elif moves or near_any or retention > 0:
        with transaction() as session:
            if moves:
                _move_presence(principal.id, accepted, pairs, clearly, loaded, result)
            if near_any:
                _store_last_fix(session.connection(), principal.id, accepted[-1])
            if retention > 0:
                session.add_all(LocationFix(shopper_id=principal.id, lat=f.lat, lon=f.lon, accuracy_m=f.accuracy_m,
                                            recorded_at=f.recorded_at) for f in accepted)
    last = accepted[-1]
    result.monitor = _monitor(loaded, last.lat, last.lon)
    return result


def _with_facts(statement: Select[Any]) -> Select[Any]:
    """The shopper's facts added to a statement that has the shopper (``Shopper``) in it."""
    inside_any = select(Presence.geofence_id).where(Presence.shopper_id == Shopper.id,
                                                    Presence.inside.is_(True)).exists()
    return (statement.add_columns(Shopper.consent_location, LastFix.lat, LastFix.lon, LastFix.recorded_at, inside_any)
            .outerjoin(LastFix, LastFix.shopper_id == Shopper.id))


# The routes read the facts with the caller's session, in one round trip; _FACTS is for other callers.
FACTS_WITH_SESSION = SessionCompanion(_with_facts)
_FACTS = _with_facts(select().select_from(Shopper)).where(Shopper.id == bindparam("shopper_id"))


def _facts(principal: Principal) -> _Facts:
    """Consent (refused here), the stored last fix and whether the shopper is inside any fence."""
    row = companion_values(FACTS_WITH_SESSION, principal)
    if row is None:
        row = reads.read(_FACTS, {"shopper_id": principal.id}).one_or_none()
    if row is None:
        raise NotFound("Account not found.")
    consent, lat, lon, recorded_at, inside_any = row
    _refuse_without_consent(consent)
    previous = None if recorded_at is None else Fix(lat=lat, lon=lon, accuracy_m=0.0, recorded_at=recorded_at)
    return _Facts(previous=previous, inside_any=bool(inside_any))


def _locate(loaded: geo.LoadedIndex, fixes: list[Fix]) -> Pairs:
    """The fences each fix is in or near, as (fix, fence, distance) pairs: from the in-memory index, or
    (``GEOFENCE_LOOKUP=postgis``, the naive design kept as the benchmark's baseline) one PostGIS query
    per fix."""
    if current_app.config["GEOFENCE_LOOKUP"] != "postgis":
        if len(fixes) > _LOCATE_ONE_BY_ONE:  # below, the batch's array set-up costs more than a few lookups
            return loaded.index.locate_pairs([f.lat for f in fixes], [f.lon for f in fixes],
                                             [f.accuracy_m for f in fixes])
        return _pairs([(k, hit.fence_id, hit.distance_m) for k, fix in enumerate(fixes)
                       for hit in loaded.index.locate(fix.lat, fix.lon, fix.accuracy_m)])
    covering = text(
        "SELECT id FROM geofences WHERE active AND ST_Covers(area, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
    )
    # Only containment is known here: covering fences count as clearly inside. Fences the index leaves
    # out (they break the shape rules) are left out here too.
    return _pairs([(k, str(fence_id), -(fix.accuracy_m + 1.0)) for k, fix in enumerate(fixes)
                   for fence_id in db.session.scalars(covering, {"lon": fix.lon, "lat": fix.lat})
                   if str(fence_id) in loaded.fences])


def _pairs(found: list[tuple[int, str, float]]) -> Pairs:
    fence_ids = np.empty(len(found), dtype=object)
    fence_ids[:] = [fence_id for _, fence_id, _ in found]
    return Pairs(np.array([k for k, _, _ in found], dtype=np.intp), fence_ids,
                 np.array([distance for _, _, distance in found], dtype=np.float64))


_LOCK_SHOPPER = reads.DriverStatement(
    select(Shopper.id).where(Shopper.id == bindparam("shopper_id")).with_for_update())


def _move_presence(shopper_id: uuid.UUID, accepted: list[Fix], pairs: Pairs, clearly: npt.NDArray[np.bool_],
                   loaded: geo.LoadedIndex, result: Recorded) -> None:
    """``clearly`` marks the pairs whose fix is clearly inside the fence."""
    session = db.session
    rules = _rules()
    # Serialise a shopper's concurrent requests: two phones' batches must not both enter a fence.
    # (Core statements on the session's connection, here, for the presence rows and for the triggers.)
    connection = session.connection()
    _LOCK_SHOPPER.run(connection, {"shopper_id": shopper_id})
    # A fence changes only if the shopper is inside it or a fix is clearly inside it (presence.advance
    # leaves any other as it is): the hits of other fences, most of a batch's, are not looked at.
    # Fences are keyed by the index's string ids in the loop below; each id is parsed once per report.
    entering = set(pairs.fence_ids[clearly].tolist())
    ids = {name: uuid.UUID(name) for name in entering}
    # Read after the lock, fresh: another request may just have committed a change to these rows.
    states: dict[str, presence.State | None] = {}
    for fence_id, *state in _PRESENCES.rows(connection, {"shopper_id": shopper_id,
                                                          "near_ids": list(ids.values())}):
        key = str(fence_id)
        ids[key], states[key] = fence_id, presence.State(*state)
    inside = {key for key, state in states.items() if state is not None and state.inside}
    relevant = entering | inside
    by_fix: dict[int, list[tuple[str, float]]] = {}
    for k, fence, distance in zip(pairs.points.tolist(), pairs.fence_ids.tolist(), pairs.distances.tolist()):
        if fence in relevant:
            by_fix.setdefault(k, []).append((fence, distance))
    fence_brands = {ids[key]: info.brand_id for key in ids
                    if (info := loaded.fences.get(key)) is not None}  # the active fences
    issuer = _CouponIssuer(shopper_id, fence_brands, since=accepted[0].recorded_at, until=accepted[-1].recorded_at)
    changed: dict[uuid.UUID, presence.State] = {}
    stored = dict(states)
    for k, fix in enumerate(accepted):
        # A fence the shopper is not inside (yet) can only change on a fix clearly inside it.
        distances = {fence: distance for fence, distance in by_fix.get(k, ())
                     if fence in inside or presence.clearly_inside_of(distance, fix.accuracy_m)}
        if not distances and not inside:
            continue
        for key in sorted(distances.keys() | inside):
            fence_id = ids[key]
            info = loaded.fences.get(key)
            if info is None:  # a fence deleted or deactivated since the shopper entered it
                info = geo.fence_info(fence_id)
                if info is None:
                    continue
            before = states.get(key)
            step = presence.advance(before, distance_m=distances.get(key), accuracy_m=fix.accuracy_m,
                                    at=fix.recorded_at, rules=rules)
            states[key] = step.state
            if step.inside:
                inside.add(key)
            else:
                inside.discard(key)
            for event in step.events:
                result.events.append(PresenceEvent(event, fence_id, info.store_id, info.brand_id, fix.recorded_at))
            if step.state is None or step.state == before:
                continue
            if presence.ENTER in step.events:
                result.coupons += issuer.on_enter(fence_id, at=fix.recorded_at)
            elif step.inside:
                assert step.state.entered_at is not None
                result.coupons += issuer.on_dwell(fence_id, entered_at=step.state.entered_at, at=fix.recorded_at)
            if _worth_writing(stored.get(key), step):
                changed[fence_id] = step.state
    # What the answer shows of each coupon, read now: after the commit it would be reloaded.
    result.coupons = issuer.describe(result.coupons)
    if changed:
        _PRESENCE_UPSERT.run(connection, [_presence_row(shopper_id, fence_id, state)
                                          for fence_id, state in changed.items()])
    if result.events:
        insight_events.record_presence_events(shopper_id=shopper_id, events=result.events,
                                              listening=issuer.listening)


class _CouponIssuer:
    """Calls ``offers.issue_coupons`` only where a live offer may issue: the fences' triggers are
    read once per batch, on the first entry or dwell, and a dwell is checked once per batch for each
    threshold reached (an offer refused then, say by its schedule, is checked again next batch)."""

    def __init__(self, shopper_id: uuid.UUID, fence_brands: dict[uuid.UUID, uuid.UUID], *, since: dt.datetime,
                 until: dt.datetime) -> None:
        from wallet.offers import services as offers  # offers depend on geo; import here to keep the layers acyclic

        self.offers = offers
        self.shopper_id = shopper_id
        self.fence_brands = fence_brands
        self.since, self.until = since, until
        self._triggers: dict[uuid.UUID, Any] | None = None
        self._dwell_checked: set[tuple[uuid.UUID, int]] = set()

    def _of(self, fence_id: uuid.UUID) -> Any:
        if self._triggers is None:
            self._triggers = self.offers.live_triggers(self.fence_brands, since=self.since, until=self.until)
        return self._triggers.get(fence_id, self.offers.NO_TRIGGERS)

    def describe(self, coupons: list[Any]) -> list[Any]:
        """The coupons issued, as the answer tells the phone of them (``offers.IssuedCoupon``)."""
        return self.offers.describe_issued(coupons, shopper_id=self.shopper_id) if coupons else []

    def listening(self, fence_id: uuid.UUID) -> tuple[Any, ...]:
        """The enter and dwell offers live on the fence during the report (for the funnel)."""
        return self._of(fence_id).offers

    def on_enter(self, fence_id: uuid.UUID, *, at: dt.datetime) -> list[Any]:
        if not self._of(fence_id).enter:
            return []
        return self.offers.issue_coupons(shopper_id=self.shopper_id, geofence_id=fence_id, trigger="enter",
                                         visit_started_at=at, at=at)

    def on_dwell(self, fence_id: uuid.UUID, *, entered_at: dt.datetime, at: dt.datetime) -> list[Any]:
        minutes = self._of(fence_id).dwell_minutes
        if not minutes:  # called for every fix of a stay: most fences have no dwell offer
            return []
        stayed = at - entered_at
        reached = sum(1 for m in minutes if stayed >= dt.timedelta(minutes=m))
        if not reached or (fence_id, reached) in self._dwell_checked:
            return []
        self._dwell_checked.add((fence_id, reached))
        return self.offers.issue_coupons(shopper_id=self.shopper_id, geofence_id=fence_id, trigger="dwell",
                                         visit_started_at=entered_at, at=at)


# Core statements on the session's connection, run straight on the driver on PostgreSQL
# (``reads.DriverStatement``): no ORM identity map, no unit of work to flush. A presence row's state
# columns are named as ``presence.State``'s fields, and read in their order.
_PRESENCE_STATE = presence.State.__struct_fields__


def _presences(dialect: str) -> Select[Any]:
    """The shopper's presence rows for the fences near the report and those the shopper is inside."""
    near = (Presence.geofence_id == any_(bindparam("near_ids", type_=ARRAY(Uuid))) if dialect == "postgresql"
            else Presence.geofence_id.in_(bindparam("near_ids", expanding=True)))
    return (select(Presence.geofence_id, *(getattr(Presence, name) for name in _PRESENCE_STATE))
            .where(Presence.shopper_id == bindparam("shopper_id"), or_(Presence.inside.is_(True), near)))


def _presence_upsert(dialect: str) -> Any:
    statement = insert_for(dialect)(Presence.__table__).values(
        shopper_id=bindparam("shopper_id"), geofence_id=bindparam("geofence_id"),
        **{name: bindparam(name) for name in _PRESENCE_STATE})
    return statement.on_conflict_do_update(index_elements=[Presence.shopper_id, Presence.geofence_id],
                                           set_={name: statement.excluded[name] for name in _PRESENCE_STATE})


_PRESENCES = reads.DriverStatement(_presences)
_PRESENCE_UPSERT = reads.DriverStatement(_presence_upsert)


def _worth_writing(stored: presence.State | None, step: presence.Step) -> bool:
    """Not when only the last-seen time moved, by less than a minute since the stored row's."""
    state = step.state
    assert state is not None
    if step.events or stored is None or stored.last_seen_at is None or state.last_seen_at is None:
        return True
    return state.last_seen_at - stored.last_seen_at >= _LAST_SEEN_RESOLUTION


def _presence_row(shopper_id: uuid.UUID, fence_id: uuid.UUID, state: presence.State) -> dict[str, Any]:
    row = {name: getattr(state, name) for name in _PRESENCE_STATE}
    return {**row, "shopper_id": shopper_id, "geofence_id": fence_id, "last_seen_at": state.last_seen_at or utcnow()}


def record_region_events(*, principal: Principal, events: list[dict[str, Any]]) -> Recorded:
    """OS region events, checked against the true geometry: each carries the phone's position,
    which goes through the same filters and presence rules as any fix."""
    loaded = geo.current_index()
    fixes, unknown = [], Counter()
    for event in events:
        if str(event["geofence_id"]) not in loaded.fences:
            unknown[UNKNOWN_REGION] += 1
            continue
        fixes.append(Fix(lat=event["lat"], lon=event["lon"], accuracy_m=event["accuracy_m"],
                         recorded_at=event["recorded_at"], mocked=event.get("mocked", False)))
    return record_fixes(principal=principal, fixes=fixes, extra_rejections=unknown)


def nearby(*, principal: Principal, lat: float, lon: float) -> Monitor:
    """The regions to monitor around a position (no state is kept)."""
    _consenting_shopper(principal)
    return _monitor(geo.current_index(), lat, lon)


def _monitor(loaded: geo.LoadedIndex, lat: float, lon: float) -> Monitor:
    """The nearest regions within ``MONITOR_RADIUS_M`` and the circle to re-sync on: a fence left out
    cannot be reached without leaving that circle (up to its 200 m floor, for dense streets)."""
    limit = int(current_app.config["MONITOR_REGION_LIMIT"])
    within = float(current_app.config["MONITOR_RADIUS_M"])
    nearest = loaded.index.nearest(lat, lon, limit=limit, within_m=within)
    regions = [Region(fence_id, c.lat, c.lon, c.radius_m, round(d, 1)) for fence_id, c, d in nearest]
    if len(regions) < limit:
        reach = within  # every region reaching within it is listed
    else:  # leaving the circle through the farthest region listed: others may now be nearer
        reach = min(max(200.0, max(r.distance_m for r in regions)), within)
    return Monitor(regions=regions, resync=Region(None, lat, lon, round(reach, 1), 0.0))


def _consenting_shopper(principal: Principal) -> None:
    consent = db.session.scalar(select(Shopper.consent_location).where(Shopper.id == principal.id))
    if consent is None:
        raise NotFound("Account not found.")
    _refuse_without_consent(consent)


def _refuse_without_consent(consent: bool) -> None:
    if not consent:
        raise ConsentRequired("Location consent is off: turn it on to receive offers where you are.",
                              reason="location_consent_required")


# --- last fix, for the speed check across requests -----------------------------------------

_CACHE_LOCK = threading.Lock()


def _cache() -> OrderedDict[uuid.UUID, Fix]:
    return current_app.extensions.setdefault("wallet.last_fixes", OrderedDict())


def _remember(shopper_id: uuid.UUID, fix: Fix) -> None:
    with _CACHE_LOCK:
        cache = _cache()
        known = cache.get(shopper_id)
        # Two reports of one shopper may race: the older one must not set the clock back for the next.
        if known is None or known.recorded_at <= fix.recorded_at:
            cache[shopper_id] = fix
        cache.move_to_end(shopper_id)
        while len(cache) > _LAST_FIX_CACHE_SIZE:
            cache.popitem(last=False)


def _previous_fix(shopper_id: uuid.UUID, facts: _Facts) -> Fix | None:
    """The shopper's last accepted fix: this process remembers it; near fences it is also stored,
    so that another process (or a restart) still catches a jump into a store."""
    with _CACHE_LOCK:
        cached = _cache().get(shopper_id)
    if cached is None or (facts.previous is not None and facts.previous.recorded_at > cached.recorded_at):
        return facts.previous
    return cached


def _last_fix_upsert(dialect: str) -> Any:
    statement = insert_for(dialect)(LastFix.__table__).values(
        shopper_id=bindparam("shopper_id"), lat=bindparam("lat"), lon=bindparam("lon"),
        recorded_at=bindparam("recorded_at"))
    return statement.on_conflict_do_update(
        index_elements=[LastFix.shopper_id],
        set_={"lat": statement.excluded.lat, "lon": statement.excluded.lon,
              "recorded_at": statement.excluded.recorded_at},
        where=statement.excluded.recorded_at >= LastFix.recorded_at,
    )


_LAST_FIX_UPSERT = reads.DriverStatement(_last_fix_upsert)


def _store_last_fix(connection: Connection, shopper_id: uuid.UUID, fix: Fix) -> None:
    """Keep the newest fix near a fence, in one statement (two requests may race here), on
    ``connection``: the session's (in the report's transaction) or ``reads.alone()`` (on its own)."""
    _LAST_FIX_UPSERT.run(connection, {"shopper_id": shopper_id, "lat": fix.lat, "lon": fix.lon,
                                      "recorded_at": fix.recorded_at})


def _limits() -> filters.Limits:
    config = current_app.config
    return filters.Limits(
        max_age=dt.timedelta(seconds=float(config["LOCATION_MAX_AGE"])),
        max_future=dt.timedelta(seconds=float(config["LOCATION_MAX_FUTURE"])),
        max_accuracy_m=float(config["LOCATION_MAX_ACCURACY_M"]),
        max_speed_mps=float(config["LOCATION_MAX_SPEED_MPS"]),
    )


def _rules() -> presence.Rules:
    config = current_app.config
    return presence.Rules(
        exit_margin_m=float(config["PRESENCE_EXIT_MARGIN_M"]),
        dwell=dt.timedelta(minutes=float(config["PRESENCE_DWELL_MINUTES"])),
        reentry_cooldown=dt.timedelta(minutes=float(config["PRESENCE_REENTRY_COOLDOWN_MINUTES"])),
    )
