"""The till's two busiest use cases on PostgreSQL, each one SQL statement: a new purchase and a
plain redemption, written, answered and the answer stored in a single round trip.

Each statement is atomic on its own (one statement, one transaction: in autocommit, or for a
cashier as the whole of the request's transaction, which has only read), so it either does the
whole use case — rows, ledger entry, stored answer — or nothing. It does the common case only:
whenever it does nothing (a replayed redemption, a refusal, a bonus_points coupon, a stamp card
this purchase fills, a race on the same order reference or idempotency key), the caller runs the
general use case in ``services``, which gives the exact answer or error.
The answers are built by the database from the same fields as ``services`` builds them (a test
holds the two to the same output).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from wallet.extensions import db
from wallet.loyalty.models import EARN, QUALIFYING_KINDS
from wallet.loyalty.rules import tier_window_start
from wallet.offers.models import BONUS_POINTS, CLAIM, ISSUED, REDEEMED


def available() -> bool:
    """The statements are PostgreSQL's (data-modifying WITH, jsonb): elsewhere, only the general path."""
    return db.engine.dialect.name == "postgresql"


def _iso(column: str) -> str:
    """A timestamptz as Python's ``isoformat()`` writes an aware UTC datetime (what the API shows)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({utc}, 'US') = '000000' "
            f"THEN '' ELSE '.' || to_char({utc}, 'US') END || '+00:00')")


# A new purchase. Guards: no purchase with this reference yet (else the stored answer comes back,
# read in the same statement), the member belongs to the brand's program, the currency is the
# program's, and the stamp card is not filled by this purchase (its reward is a coupon: general
# path). The account row is locked first (INSERT ... ON CONFLICT DO UPDATE), then the purchase is
# inserted; a concurrent copy of the same request fails on the unique (brand, order reference)
# and the caller replays the winner's answer. The tier is computed as ``standing.tier_of`` does,
# with one difference: the 12-month sum is read in the statement's snapshot, so when another till
# credits the same member at the same instant (this statement then waits for the account row),
# the balance in the answer counts that purchase (it is read under the lock) but the tier shown
# may not yet. The tier is derived, never stored: the next read shows it right.
PURCHASE_SQL = """
WITH prior AS (
    SELECT membership_id, amount_minor, currency, store_id, response FROM loyalty_purchases
    WHERE brand_id = %(brand)s AND order_reference = %(reference)s
), program AS (
    SELECT p.points_per_unit, p.unit_minor, p.stamp_card_size, p.stamp_min_amount_minor
    FROM loyalty_programs p JOIN memberships m ON m.brand_id = p.brand_id
    WHERE p.brand_id = %(brand)s AND m.id = %(membership)s AND p.currency = %(currency)s
), earn AS (
    SELECT %(amount)s::bigint * points_per_unit / unit_minor AS points,
           (stamp_card_size IS NOT NULL AND %(amount)s::bigint >= stamp_min_amount_minor) AS stamped, stamp_card_size
    FROM program WHERE NOT EXISTS (SELECT 1 FROM prior)
), account AS (
    INSERT INTO loyalty_accounts AS a (membership_id, brand_id, balance, stamps, created_at, updated_at)
    SELECT %(membership)s, %(brand)s, earn.points, earn.stamped::int, %(now)s, %(now)s FROM earn
    WHERE earn.stamp_card_size IS NULL OR earn.stamped::int < earn.stamp_card_size
    ON CONFLICT (membership_id) DO UPDATE
        SET balance = a.balance + excluded.balance, stamps = a.stamps + excluded.stamps,
            updated_at = excluded.updated_at
        WHERE (SELECT stamp_card_size FROM earn) IS NULL OR a.stamps + excluded.stamps < (SELECT stamp_card_size FROM earn)
    RETURNING a.balance, a.stamps, a.tier_override_id, a.tier_override_until
), qualifying AS (
    -- The entry this statement appends is not visible to it: its points are added below.
    SELECT coalesce(sum(points), 0)::bigint AS points FROM loyalty_ledger_entries
    WHERE membership_id = %(membership)s AND kind = ANY(%(qualifying_kinds)s)
      AND created_at > %(since)s AND created_at <= %(now)s
), tier AS (
    SELECT id, name, threshold_points FROM (
        SELECT 1 AS rank, t.id, t.name, t.threshold_points
        FROM account JOIN loyalty_tiers t ON t.id = account.tier_override_id AND t.brand_id = %(brand)s
        WHERE account.tier_override_until IS NULL OR account.tier_override_until > %(now)s
        UNION ALL
        (SELECT 2, t.id, t.name, t.threshold_points FROM loyalty_tiers t
         WHERE t.brand_id = %(brand)s
           AND t.threshold_points <= (SELECT greatest(0, qualifying.points + earn.points) FROM qualifying, earn)
         ORDER BY t.threshold_points DESC LIMIT 1)
    ) chosen ORDER BY rank LIMIT 1
), purchase AS (
    INSERT INTO loyalty_purchases (id, brand_id, membership_id, store_id, order_reference, amount_minor, currency,
                                   points, refunded_amount_minor, points_reversed, stamped, actor_kind, actor_id,
                                   created_at, response)
    SELECT %(id)s, %(brand)s, %(membership)s, %(store)s::uuid, %(reference)s, %(amount)s, %(currency)s, earn.points,
           0, 0, earn.stamped, %(actor_kind)s, %(actor_id)s::uuid, %(now)s,
           %(body)s::jsonb || jsonb_build_object(
               'points_earned', earn.points,
               'balance', account.balance,
               'tier', (SELECT jsonb_build_object('id', id, 'name', name, 'threshold_points', threshold_points)
                        FROM tier),
               'stamps', CASE WHEN earn.stamp_card_size IS NULL THEN NULL ELSE account.stamps END,
               'stamp_card_size', earn.stamp_card_size)
    FROM earn, account
    RETURNING response
), entry AS (
    INSERT INTO loyalty_ledger_entries (id, membership_id, brand_id, kind, points, reason, store_id, order_reference,
                                        purchase_id, coupon_id, actor_kind, actor_id, created_at)
    SELECT %(entry_id)s, %(membership)s, %(brand)s, %(earn)s, earn.points, 'Purchase', %(store)s::uuid, %(reference)s,
           %(id)s, NULL::uuid, %(actor_kind)s, %(actor_id)s::uuid, %(now)s
    FROM earn, purchase WHERE earn.points <> 0
)
SELECT (SELECT response FROM purchase) AS created,
       prior.membership_id, prior.amount_minor, prior.currency, prior.store_id, prior.response AS replayed
FROM (SELECT 1) one LEFT JOIN prior ON EXISTS (SELECT 1 FROM program)
"""


# A redemption: the conditional update issued → redeemed (every rule of ``offers.redeem_coupon``
# in its WHERE clause, bonus_points coupons left to the general path), then the redemption row
# with its answer, claiming the idempotency key; a key already taken fails the statement.
REDEMPTION_SQL = f"""
WITH coupon AS (
    UPDATE coupons c SET status = %(redeemed)s, redeemed_at = %(now)s, redeemed_store_id = %(store)s
    FROM offers o
    WHERE c.id = %(coupon)s AND c.brand_id = %(brand)s AND c.status = %(issued)s AND c.expires_at > %(now)s
      AND o.id = c.offer_id
      AND NOT (o.reward_type = %(bonus_points)s AND coalesce(o.reward_points, 0) <> 0)
      AND (o.all_stores OR o.trigger = %(claim)s OR EXISTS (
            SELECT 1 FROM offer_geofences og JOIN geofences g ON g.id = og.geofence_id
            WHERE og.offer_id = c.offer_id AND g.store_id = %(store)s))
    RETURNING c.id, c.issued_at, c.expires_at, o.id AS offer_id, o.trigger, o.content, o.default_locale,
              o.reward_type, o.reward_percent, o.reward_amount_minor, o.reward_currency, o.reward_item,
              o.reward_points
), texts AS (
    -- offers.localized(offer, offer.default_locale): that locale, then its language, else the first texts
    SELECT e.value FROM coupon, jsonb_each(coupon.content) WITH ORDINALITY e(key, value, n)
    ORDER BY lower(e.key) = lower(coupon.default_locale) DESC,
             lower(e.key) = split_part(lower(coupon.default_locale), '-', 1) DESC, e.n
    LIMIT 1
), redemption AS (
    INSERT INTO pos_redemptions (id, brand_id, idempotency_key, request_hash, coupon_id, store_id, order_reference,
                                 actor_kind, actor_id, created_at, response)
    SELECT %(id)s, %(brand)s, %(key)s, %(request_hash)s, coupon.id, %(store)s::uuid, %(reference)s, %(actor_kind)s,
           %(actor_id)s::uuid, %(now)s,
           %(body)s::jsonb || jsonb_build_object('coupon', jsonb_build_object(
               'id', coupon.id,
               'offer_id', coupon.offer_id,
               'kind', CASE WHEN coupon.trigger = %(claim)s THEN 'reward' ELSE 'offer' END,
               'title', texts.value -> 'title',
               'description', texts.value -> 'description',
               'reward', jsonb_strip_nulls(jsonb_build_object(
                   'type', coupon.reward_type, 'percent', coupon.reward_percent,
                   'amount_minor', coupon.reward_amount_minor, 'currency', coupon.reward_currency,
                   'item', coupon.reward_item, 'points', coupon.reward_points)),
               'status', %(redeemed)s,
               'issued_at', {_iso("coupon.issued_at")},
               'expires_at', {_iso("coupon.expires_at")},
               'usable', false,
               'why_not', %(redeemed)s))
    FROM coupon, texts
    RETURNING response
)
SELECT response FROM redemption
"""


@dataclass(frozen=True)
class PriorPurchase:
    """The purchase already recorded under an order reference, as the fast statement saw it."""

    membership_id: uuid.UUID
    amount_minor: int
    currency: str
    store_id: uuid.UUID | None
    response: dict[str, Any] | None


def record_purchase(
    *, brand_id: uuid.UUID, store_id: uuid.UUID, membership_id: uuid.UUID, amount_minor: int, currency: str,
    order_reference: str, actor_kind: str, actor_id: uuid.UUID | None, now: dt.datetime,
) -> dict[str, Any] | PriorPurchase | None:
    """The new purchase's answer; or the purchase already under this reference; or None: the
    statement did nothing, for the general path to say why (or to do what it does not)."""
    purchase_id = uuid.uuid4()
    body = {"purchase_id": str(purchase_id), "order_reference": order_reference, "membership_id": str(membership_id),
            "store_id": str(store_id), "amount_minor": amount_minor, "currency": currency, "rewards_issued": [],
            "created_at": now.isoformat()}
    row = _execute(PURCHASE_SQL, {
        "id": purchase_id, "entry_id": uuid.uuid4(), "brand": brand_id, "store": store_id,
        "membership": membership_id, "amount": amount_minor, "currency": currency, "reference": order_reference,
        "actor_kind": actor_kind, "actor_id": actor_id, "now": now, "since": tier_window_start(now),
        "qualifying_kinds": list(QUALIFYING_KINDS), "earn": EARN, "body": Jsonb(body)})
    if row is None:
        return None
    if row.created is not None:
        return dict(row.created)
    if row.membership_id is not None:
        return PriorPurchase(row.membership_id, row.amount_minor, row.currency, row.store_id, row.replayed)
    return None


def redeem(
    *, brand_id: uuid.UUID, store_id: uuid.UUID, coupon_id: uuid.UUID, idempotency_key: str, request_hash: str,
    order_reference: str, actor_kind: str, actor_id: uuid.UUID | None, now: dt.datetime,
) -> dict[str, Any] | None:
    """The redemption's answer, or None: nothing was done (for the general path)."""
    redemption_id = uuid.uuid4()
    body = {"redemption_id": str(redemption_id), "order_reference": order_reference, "store_id": str(store_id),
            "redeemed_at": now.isoformat(), "bonus_points": None, "balance": None}
    row = _execute(REDEMPTION_SQL, {
        "id": redemption_id, "brand": brand_id, "store": store_id, "coupon": coupon_id, "key": idempotency_key,
        "request_hash": request_hash, "reference": order_reference, "actor_kind": actor_kind, "actor_id": actor_id,
        "now": now, "body": Jsonb(body), "redeemed": REDEEMED, "issued": ISSUED, "claim": CLAIM,
        "bonus_points": BONUS_POINTS})
    return dict(row.response) if row is not None else None


def _execute(sql: str, parameters: dict[str, Any]) -> Any:
    """Run one statement as a transaction of its own; its row (a named tuple), or None when it
    failed (a unique key taken by a concurrent copy of the request, a deadlock victim, a lost
    connection): the general path then answers, in a transaction of its own, whether or not the
    statement had committed.

    A till with a remembered POS key reaches here with nothing open: the statement runs in
    autocommit on a pooled psycopg connection (lent as SQLAlchemy's pool lends it, pinged first if
    the pool pings). A cashier's token was checked in the request's session,
    which holds a connection: the statement runs there, and the session commits it (so that a
    request never needs two connections at once). The statement goes to psycopg as it is (it is
    PostgreSQL's own text, and psycopg prepares it after a few runs): nothing to compile.
    """
    registry = db.session.registry
    if registry.has() and registry().in_transaction():  # (asking the proxy would make a session)
        session = registry()
        try:
            row = _run(session.connection().connection.driver_connection, sql, parameters)
        except _GIVE_WAY:
            session.rollback()
            return None
        session.commit()  # also when the statement did nothing: it may hold a row lock
        return row
    pooled = db.engine.raw_connection()
    driver = pooled.driver_connection
    try:
        driver.autocommit = True
        try:
            return _run(driver, sql, parameters)
        except _GIVE_WAY:
            if driver.broken or driver.closed:
                pooled.invalidate()  # the pool replaces it
            return None
        finally:
            if not driver.closed:
                driver.autocommit = False  # as the pool lends it
    finally:
        pooled.close()  # back to the pool


# What makes the statement give way to the general path: a unique key taken, a deadlock or
# serialization victim, a lost connection. Anything else is a bug, and raises.
_GIVE_WAY = (psycopg.IntegrityError, psycopg.OperationalError)


def _run(driver: Any, sql: str, parameters: dict[str, Any]) -> Any:
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, parameters)
        return cursor.fetchone()
