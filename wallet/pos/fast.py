"""The till's two busiest use cases on PostgreSQL, each one SQL statement: a new purchase and a
plain redemption, written, answered and the answer stored in a single round trip.

Each statement is atomic on its own (one statement, one transaction: in autocommit, or for a
cashier as the whole of the request's transaction, which has only read), so it either does the
whole use case — rows, ledger entry, stored answer — or nothing. It does the common cases only:
whenever it does nothing (a replayed redemption, a refusal, a bonus_points coupon, a stamp card
reward it cannot issue, a race on the same order reference or idempotency key), the caller runs
the general use case in ``services``, which gives the exact answer or error. A purchase that
fills the stamp card takes a second statement, which also issues the reward coupon (its pass
and push) in the same round trip.
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
from wallet.offers.services import MAX_PUSH_TTL, PUSH_KIND
from wallet.passes import codes as pass_codes
from wallet.passes.models import COUPON
from wallet.pos import tokens
from wallet.push.models import PENDING
from wallet.push.wakeup import CHANNEL


def available() -> bool:
    """The statements are PostgreSQL's (data-modifying WITH, jsonb): elsewhere, only the general path."""
    return db.engine.dialect.name == "postgresql"


def _iso(column: str) -> str:
    """A timestamptz as Python's ``isoformat()`` writes an aware UTC datetime (what the API shows)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({utc}, 'US') = '000000' "
            f"THEN '' ELSE '.' || to_char({utc}, 'US') END || '+00:00')")


def _localized(rows: str, content: str, locale: str, default_locale: str) -> str:
    """``offers.localized`` as a SELECT of (key, value) from ``rows``: the texts for ``locale``,
    then for its language, then for the offer's default locale, else the first texts (in jsonb's
    key order, which is the order the ORM reads them in)."""
    wanted = f"lower(coalesce({locale}, ''))"
    return (f"SELECT e.key, e.value FROM {rows}, jsonb_each({content}) WITH ORDINALITY e(key, value, n) "
            f"ORDER BY lower(e.key) = {wanted} DESC, lower(e.key) = split_part({wanted}, '-', 1) DESC, "
            f"lower(e.key) = lower({default_locale}) DESC, e.n LIMIT 1")


def _till_coupon(coupon: str, offer: str, text: str, state: str) -> str:
    """``offers.describe_for_till`` as a jsonb object: ``coupon`` names a row with the coupon's id,
    issued_at and expires_at, ``offer`` one with the offer's offer_id, trigger and reward columns,
    ``text`` the texts' value; ``state`` is the status, usable and why_not (or token) pairs."""
    return f"""jsonb_build_object(
               'id', {coupon}.id,
               'offer_id', {offer}.offer_id,
               'kind', CASE WHEN {offer}.trigger = %(claim)s THEN 'reward' ELSE 'offer' END,
               'title', {text}.value -> 'title',
               'description', {text}.value -> 'description',
               'reward', jsonb_strip_nulls(jsonb_build_object(
                   'type', {offer}.reward_type, 'percent', {offer}.reward_percent,
                   'amount_minor', {offer}.reward_amount_minor, 'currency', {offer}.reward_currency,
                   'item', {offer}.reward_item, 'points', {offer}.reward_points)),
               'issued_at', {_iso(f"{coupon}.issued_at")},
               'expires_at', {_iso(f"{coupon}.expires_at")},
               {state})"""


def _purchase_sql(*, fills: bool) -> str:
    """A new purchase, in one statement; ``fills``: the variant for a purchase that fills the stamp card.

    Guards: no purchase with this reference yet (else the stored answer comes back, read in the
    same statement), the member belongs to the brand's program, the currency is the program's.
    The account row is locked first (the first statement: INSERT ... ON CONFLICT DO UPDATE; the
    variant: UPDATE), then the purchase is inserted; a concurrent copy of the same request fails
    on the unique (brand, order reference) and the caller replays the winner's answer.

    The first statement leaves alone a purchase that would fill the stamp card, and says so
    (``fills``). The variant does only that: under the account's lock it checks the card is still
    filled by this purchase (another till may have filled it meanwhile: then it does nothing),
    takes the card's size off the stamps and issues the reward as ``offers.issue_reward_coupon``
    does for an owed reward (counted on the offer whatever its caps; a pass; a coupon; its push,
    the dispatchers woken), and the answer lists the coupon with its redemption token. Its guards
    leave anything unusual to the general path: a reward offer that is not a live claim offer
    with texts and a coupon lifetime, a first purchase that fills a one-stamp card, a pass short
    id already taken (the insert fails: nothing is written).

    The tier is computed as ``standing.tier_of`` does, with one difference: the 12-month sum is
    read in the statement's snapshot, so when another till credits the same member at the same
    instant (this statement then waits for the account row), the balance in the answer counts
    that purchase (it is read under the lock) but the tier shown may not yet. The tier is
    derived, never stored: the next read shows it right.
    """
    if fills:
        account = """
    UPDATE loyalty_accounts a SET balance = a.balance + earn.points, stamps = a.stamps + 1 - earn.stamp_card_size,
                                  updated_at = %(now)s
    FROM earn
    WHERE a.membership_id = %(membership)s AND earn.stamped AND a.stamps + 1 >= earn.stamp_card_size
      AND EXISTS (SELECT 1 FROM reward)"""
        reward = """
), reward AS (
    SELECT o.id AS offer_id, o.brand_id, o.trigger, o.content, o.default_locale, o.reward_type, o.reward_percent,
           o.reward_amount_minor, o.reward_currency, o.reward_item, o.reward_points,
           least(%(now)s + o.coupon_ttl_minutes * interval '1 minute', o.valid_until) AS expires_at
    FROM program JOIN loyalty_rewards r ON r.id = program.stamp_reward_id JOIN offers o ON o.id = r.offer_id
    WHERE o.trigger = %(claim)s AND o.valid_until > %(now)s AND o.coupon_ttl_minutes > 0
      AND jsonb_typeof(o.content) = 'object' AND o.content <> '{}'::jsonb
), shopper AS (
    SELECT s.id, s.locale FROM memberships m JOIN shoppers s ON s.id = m.shopper_id WHERE m.id = %(membership)s"""
        issue = f"""
), issued AS (
    UPDATE offers SET issued_count = issued_count + 1 FROM account WHERE offers.id = (SELECT offer_id FROM reward)
    RETURNING 1
), pass AS (
    INSERT INTO passes (id, kind, short_id, secret, brand_id, shopper_id, failed_attempts, created_at)
    SELECT %(pass_id)s, %(pass_kind)s, %(short_id)s, %(secret)s, reward.brand_id, shopper.id, 0, %(now)s
    FROM account, reward, shopper
    RETURNING id
), coupon AS (
    INSERT INTO coupons (id, offer_id, brand_id, shopper_id, pass_id, geofence_id, store_id, trigger, status,
                         issued_at, expires_at)
    SELECT %(coupon_id)s, reward.offer_id, reward.brand_id, shopper.id, pass.id, NULL, NULL, %(claim)s, %(issued)s,
           %(now)s, reward.expires_at
    FROM pass, reward, shopper
    RETURNING id, issued_at, expires_at
), push_text AS (
    {_localized("reward, shopper", "reward.content", "shopper.locale", "reward.default_locale")}
), till_text AS (
    {_localized("reward", "reward.content", "reward.default_locale", "reward.default_locale")}
), outbox AS (
    -- offers._push_of: the phone hears of the coupon it did not ask for
    INSERT INTO push_outbox (id, shopper_id, brand_id, coupon_id, kind, payload, collapse_key, ttl_seconds, status,
                             attempts, next_attempt_at, created_at, duplicate_suspected)
    SELECT %(push_id)s, shopper.id, reward.brand_id, coupon.id, %(push_kind)s,
           jsonb_build_object('title', push_text.value -> 'title', 'body', push_text.value -> 'description',
                              'locale', push_text.key,
                              'data', jsonb_build_object('coupon_id', coupon.id, 'offer_id', reward.offer_id,
                                                         'deep_link', 'wallet://coupons/' || coupon.id,
                                                         'notification_id', %(push_id)s::uuid)),
           'offer-' || reward.offer_id,
           greatest(1, floor(least(extract(epoch FROM coupon.expires_at - %(now)s), %(push_ttl_max)s)))::int,
           %(pending)s, 0, %(now)s, %(now)s, false
    FROM coupon, reward, shopper, push_text
    RETURNING 1"""
        rewards_issued = (", 'rewards_issued', jsonb_build_array("
                          + _till_coupon("coupon", "reward", "till_text", "'status', 'active', 'usable', true, "
                                                                           "'redemption_token', %(token)s::text") + ")")
        sources = "earn, account, coupon, reward, till_text"
        said = "(SELECT count(pg_notify(%(channel)s, '')) FROM outbox) AS notified"
    else:
        account = """
    INSERT INTO loyalty_accounts AS a (membership_id, brand_id, balance, stamps, created_at, updated_at)
    SELECT %(membership)s, %(brand)s, earn.points, earn.stamped::int, %(now)s, %(now)s FROM earn
    WHERE earn.stamp_card_size IS NULL OR earn.stamped::int < earn.stamp_card_size
    ON CONFLICT (membership_id) DO UPDATE
        SET balance = a.balance + excluded.balance, stamps = a.stamps + excluded.stamps,
            updated_at = excluded.updated_at
        WHERE (SELECT stamp_card_size FROM earn) IS NULL OR a.stamps + excluded.stamps < (SELECT stamp_card_size FROM earn)"""
        reward = issue = rewards_issued = ""
        sources = "earn, account"
        # A stamped purchase the account refused: the card is full with it (the variant's case).
        said = "(EXISTS (SELECT 1 FROM earn WHERE stamped) AND NOT EXISTS (SELECT 1 FROM account)) AS fills"
    return f"""
WITH prior AS (
    SELECT membership_id, amount_minor, currency, store_id, response FROM loyalty_purchases
    WHERE brand_id = %(brand)s AND order_reference = %(reference)s
), program AS (
    SELECT p.points_per_unit, p.unit_minor, p.stamp_card_size, p.stamp_min_amount_minor, p.stamp_reward_id
    FROM loyalty_programs p JOIN memberships m ON m.brand_id = p.brand_id
    WHERE p.brand_id = %(brand)s AND m.id = %(membership)s AND p.currency = %(currency)s
), earn AS (
    SELECT %(amount)s::bigint * points_per_unit / unit_minor AS points,
           (stamp_card_size IS NOT NULL AND %(amount)s::bigint >= stamp_min_amount_minor) AS stamped, stamp_card_size
    FROM program WHERE NOT EXISTS (SELECT 1 FROM prior){reward}
), account AS ({account}
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
    ) chosen ORDER BY rank LIMIT 1{issue}
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
               'stamp_card_size', earn.stamp_card_size{rewards_issued})
    FROM {sources}
    RETURNING response
), entry AS (
    INSERT INTO loyalty_ledger_entries (id, membership_id, brand_id, kind, points, reason, store_id, order_reference,
                                        purchase_id, coupon_id, actor_kind, actor_id, created_at)
    SELECT %(entry_id)s, %(membership)s, %(brand)s, %(earn)s, earn.points, 'Purchase', %(store)s::uuid, %(reference)s,
           %(id)s, NULL::uuid, %(actor_kind)s, %(actor_id)s::uuid, %(now)s
    FROM earn, purchase WHERE earn.points <> 0
)
SELECT (SELECT response FROM purchase) AS created,
       prior.membership_id, prior.amount_minor, prior.currency, prior.store_id, prior.response AS replayed, {said}
FROM (SELECT 1) one LEFT JOIN prior ON EXISTS (SELECT 1 FROM program)
"""


PURCHASE_SQL = _purchase_sql(fills=False)
FILLING_PURCHASE_SQL = _purchase_sql(fills=True)


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
    -- offers.localized(offer, offer.default_locale)
    {_localized("coupon", "coupon.content", "coupon.default_locale", "coupon.default_locale")}
), redemption AS (
    INSERT INTO pos_redemptions (id, brand_id, idempotency_key, request_hash, coupon_id, store_id, order_reference,
                                 actor_kind, actor_id, created_at, response)
    SELECT %(id)s, %(brand)s, %(key)s, %(request_hash)s, coupon.id, %(store)s::uuid, %(reference)s, %(actor_kind)s,
           %(actor_id)s::uuid, %(now)s,
           %(body)s::jsonb || jsonb_build_object('coupon', {_till_coupon("coupon", "coupon", "texts",
                                                                         "'status', %(redeemed)s, 'usable', false, "
                                                                         "'why_not', %(redeemed)s")})
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
    statements did nothing, for the general path to say why (or to do what they do not)."""
    purchase_id = uuid.uuid4()
    body = {"purchase_id": str(purchase_id), "order_reference": order_reference, "membership_id": str(membership_id),
            "store_id": str(store_id), "amount_minor": amount_minor, "currency": currency, "rewards_issued": [],
            "created_at": now.isoformat()}
    parameters = {
        "id": purchase_id, "entry_id": uuid.uuid4(), "brand": brand_id, "store": store_id,
        "membership": membership_id, "amount": amount_minor, "currency": currency, "reference": order_reference,
        "actor_kind": actor_kind, "actor_id": actor_id, "now": now, "since": tier_window_start(now),
        "qualifying_kinds": list(QUALIFYING_KINDS), "earn": EARN, "body": Jsonb(body)}
    row = _execute(PURCHASE_SQL, parameters)
    if row is not None and row.fills:
        # About one purchase in a card's size: the reward's rows, chosen here, and its token.
        coupon_id = uuid.uuid4()
        row = _execute(FILLING_PURCHASE_SQL, {
            **parameters, "claim": CLAIM, "issued": ISSUED, "coupon_id": coupon_id, "pass_id": uuid.uuid4(),
            "pass_kind": COUPON, "short_id": pass_codes.generate_short_id(), "secret": pass_codes.generate_secret(),
            "push_id": uuid.uuid4(), "push_kind": PUSH_KIND, "pending": PENDING,
            "push_ttl_max": MAX_PUSH_TTL.total_seconds(), "channel": CHANNEL,
            "token": tokens.issue_token(tokens.REDEMPTION, subject_id=coupon_id, brand_id=brand_id,
                                        store_id=store_id)})
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
