"""The ledger's invariant on the real services and PostgreSQL, with hypothesis: any sequence of
purchases, refunds, reward claims, adjustments and expiry runs keeps every member's balance equal
to the sum of their ledger entries, and never below zero; refunds never exceed their purchase."""

from __future__ import annotations

import datetime as dt
import uuid

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.loyalty_support import add_reward, audit, enrol, platform_admin, set_program
from wallet.auth.models import Role
from wallet.auth.principal import SHOPPER, Principal
from wallet.auth.services import sign_up_shopper
from wallet.brands.models import Brand, Store
from wallet.core.errors import WalletError
from wallet.core.time import utcnow
from wallet.core.transaction import transaction
from wallet.extensions import db
from wallet.loyalty import rules
from wallet.loyalty import services as loyalty
from wallet.loyalty.models import Purchase
from wallet.pos import services as pos
from wallet.pos import tokens

operations = st.lists(
    st.one_of(
        st.tuples(st.just("purchase"), st.integers(min_value=1, max_value=50_000)),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20), st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("claim"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("adjust"), st.integers(min_value=-500, max_value=500).filter(bool)),
        st.tuples(st.just("expire"), st.integers(min_value=0, max_value=30)),
    ),
    min_size=1,
    max_size=25,
)


def _world():
    """A fresh brand, store, program, rewards and member for one example (examples share the database)."""
    with transaction() as session:
        brand = Brand(name=f"Brand {uuid.uuid4().hex[:8]}", name_key=uuid.uuid4().hex)
        session.add(brand)
        session.flush()
        store = Store(brand_id=brand.id, name="Store", street="1 rue", postal_code="75001", city="Paris",
                      country_code="FR", time_zone="Europe/Paris", location=shapely.Point(2.35, 48.85))
        session.add(store)
    set_program(brand, points_expiry_months=12)
    rewards = [add_reward(brand, cost) for cost in (50, 200, 1000)]
    shopper, _ = sign_up_shopper(email=f"p-{uuid.uuid4().hex[:10]}@example.com", password="correct-horse-battery",
                                 display_name="P")
    membership = enrol(shopper, brand)
    till = Principal(id=uuid.uuid4(), role=Role.CASHIER, brand_id=brand.id, store_ids=frozenset({store.id}))
    token = tokens.issue_token(tokens.MEMBER, subject_id=membership.id, brand_id=brand.id, store_id=store.id)
    return brand, rewards, shopper, membership, till, token


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
def test_any_sequence_keeps_the_balance_equal_to_the_ledger_and_never_negative(app, history):
    brand, rewards, shopper, membership, till, token = _world()
    admin = platform_admin()
    me = Principal(id=shopper.id, role=SHOPPER)
    orders: list[str] = []
    for operation in history:
        try:
            if operation[0] == "purchase":
                reference = f"O-{len(orders)}"
                pos.record_purchase(principal=till, member_token=token, amount_minor=operation[1], currency="EUR",
                                    order_reference=reference)
                orders.append(reference)
            elif operation[0] == "refund" and orders:
                reference = orders[operation[1] % len(orders)]
                bought = db.session.scalars(select(Purchase).where(Purchase.brand_id == brand.id,
                                                                   Purchase.order_reference == reference)).one()
                amount = max(1, bought.amount_minor * operation[2] // 100)
                pos.record_refund(principal=till, order_reference=reference, refund_reference=uuid.uuid4().hex[:20],
                                  amount_minor=amount, currency="EUR")
            elif operation[0] == "claim":
                loyalty.claim_reward(principal=me, brand_id=brand.id, reward_id=rewards[operation[1]].id)
            elif operation[0] == "adjust":
                loyalty.adjust_points(principal=admin, brand_id=brand.id, membership_id=membership.id,
                                      points=operation[1], reason="property")
            elif operation[0] == "expire":
                loyalty.expire_points(at=rules.add_months(utcnow(), operation[1]) + dt.timedelta(seconds=1))
        except WalletError as refused:  # refusals (not enough points, too large a refund) change nothing
            assert refused.reason in {"insufficient_points", "refund_exceeds_purchase"}, refused.reason
        result = audit(membership.id)
        assert result.balance == result.ledger_sum >= 0, (operation, result)
    for bought in db.session.scalars(select(Purchase).where(Purchase.brand_id == brand.id)):
        assert 0 <= bought.refunded_amount_minor <= bought.amount_minor
        assert 0 <= bought.points_reversed <= bought.points
