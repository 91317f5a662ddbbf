"""Loyalty: programs, tiers, the rewards catalogue, accounts, the append-only points ledger,
purchases and refunds, till redemptions keyed by idempotency key; offers may target tiers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wallet.core.db

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('loyalty_tiers',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('threshold_points', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('threshold_points >= 0', name=op.f('ck_loyalty_tiers_threshold_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_tiers_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_tiers')),
    sa.UniqueConstraint('brand_id', 'name', name=op.f('uq_loyalty_tiers_brand_id_name')),
    sa.UniqueConstraint('brand_id', 'threshold_points', name=op.f('uq_loyalty_tiers_brand_id_threshold_points'))
    )
    op.create_table('loyalty_accounts',
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('stamps', sa.Integer(), nullable=False),
    sa.Column('tier_override_id', sa.Uuid(), nullable=True),
    sa.Column('tier_override_until', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tier_override_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_loyalty_accounts_balance_not_negative')),
    sa.CheckConstraint('stamps >= 0', name=op.f('ck_loyalty_accounts_stamps_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_accounts_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_loyalty_accounts_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_override_id'], ['loyalty_tiers.id'], name=op.f('fk_loyalty_accounts_tier_override_id_loyalty_tiers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('membership_id', name=op.f('pk_loyalty_accounts'))
    )
    with op.batch_alter_table('loyalty_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_accounts_brand_id'), ['brand_id'], unique=False)

    op.create_table('loyalty_purchases',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('order_reference', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('refunded_amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('points_reversed', sa.BigInteger(), nullable=False),
    sa.Column('stamped', sa.Boolean(), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('points_reversed <= points', name=op.f('ck_loyalty_purchases_reversal_within_points')),
    sa.CheckConstraint('refunded_amount_minor <= amount_minor', name=op.f('ck_loyalty_purchases_refunds_within_amount')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_purchases_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_loyalty_purchases_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_loyalty_purchases_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_purchases')),
    sa.UniqueConstraint('brand_id', 'order_reference', name=op.f('uq_loyalty_purchases_brand_id_order_reference'))
    )
    with op.batch_alter_table('loyalty_purchases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_purchases_membership_id'), ['membership_id'], unique=False)

    op.create_table('loyalty_rewards',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('points_cost', sa.BigInteger(), nullable=False),
    sa.Column('retired_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points_cost > 0', name=op.f('ck_loyalty_rewards_positive_cost')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_rewards_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_loyalty_rewards_offer_id_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_rewards')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_loyalty_rewards_offer_id'))
    )
    with op.batch_alter_table('loyalty_rewards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_rewards_brand_id'), ['brand_id'], unique=False)

    op.create_table('loyalty_ledger_entries',
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('order_reference', sa.String(length=64), nullable=True),
    sa.Column('purchase_id', sa.Uuid(), nullable=True),
    sa.Column('coupon_id', sa.Uuid(), nullable=True),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('points <> 0', name=op.f('ck_loyalty_ledger_entries_points_not_zero')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_ledger_entries_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_loyalty_ledger_entries_coupon_id_coupons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_loyalty_ledger_entries_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['loyalty_purchases.id'], name=op.f('fk_loyalty_ledger_entries_purchase_id_loyalty_purchases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_loyalty_ledger_entries_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_ledger_entries'))
    )
    with op.batch_alter_table('loyalty_ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_ledger_entries_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loyalty_ledger_entries_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index('ix_loyalty_ledger_entries_membership_id_created_at', ['membership_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_loyalty_ledger_entries_purchase_id'), ['purchase_id'], unique=False)

    op.create_table('loyalty_programs',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('points_per_unit', sa.Integer(), nullable=False),
    sa.Column('unit_minor', sa.Integer(), nullable=False),
    sa.Column('points_expiry_months', sa.Integer(), nullable=True),
    sa.Column('stamp_card_size', sa.Integer(), nullable=True),
    sa.Column('stamp_min_amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('stamp_reward_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(stamp_card_size IS NULL AND stamp_reward_id IS NULL) OR (stamp_card_size IS NOT NULL AND stamp_reward_id IS NOT NULL)', name=op.f('ck_loyalty_programs_stamp_card_complete')),
    sa.CheckConstraint('points_per_unit > 0 AND unit_minor > 0', name=op.f('ck_loyalty_programs_positive_rate')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_programs_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stamp_reward_id'], ['loyalty_rewards.id'], name=op.f('fk_loyalty_programs_stamp_reward_id_loyalty_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_programs')),
    sa.UniqueConstraint('brand_id', name=op.f('uq_loyalty_programs_brand_id'))
    )
    op.create_table('loyalty_refunds',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('purchase_id', sa.Uuid(), nullable=False),
    sa.Column('refund_reference', sa.String(length=64), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('points_reversed', sa.BigInteger(), nullable=False),
    sa.Column('points_unrecovered', sa.BigInteger(), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_loyalty_refunds_positive_amount')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_loyalty_refunds_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purchase_id'], ['loyalty_purchases.id'], name=op.f('fk_loyalty_refunds_purchase_id_loyalty_purchases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_loyalty_refunds_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_refunds')),
    sa.UniqueConstraint('brand_id', 'refund_reference', name=op.f('uq_loyalty_refunds_brand_id_refund_reference'))
    )
    with op.batch_alter_table('loyalty_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_refunds_purchase_id'), ['purchase_id'], unique=False)

    op.create_table('pos_redemptions',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('coupon_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('order_reference', sa.String(length=64), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_pos_redemptions_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_pos_redemptions_coupon_id_coupons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_pos_redemptions_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pos_redemptions')),
    sa.UniqueConstraint('brand_id', 'idempotency_key', name=op.f('uq_pos_redemptions_brand_id_idempotency_key')),
    sa.UniqueConstraint('coupon_id', name=op.f('uq_pos_redemptions_coupon_id'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), server_default=sa.text("'[]'"), nullable=False))

    _refuse_ledger_changes()


# The ledger is append-only: its accounting columns can never be changed. References to a store,
# purchase or coupon may still be nulled when those are deleted; whole entries go only with their
# member or brand. (A later batch_alter_table of the ledger on SQLite copies the table and drops
# this trigger: such a revision must create it again.)
_GUARDED = "membership_id, brand_id, kind, points, created_at"


def _refuse_ledger_changes():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION loyalty_ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'loyalty_ledger_entries is append-only (entry %)', OLD.id
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$
        """)
        op.execute(f"""
            CREATE TRIGGER loyalty_ledger_entries_append_only BEFORE UPDATE OF {_GUARDED}
            ON loyalty_ledger_entries FOR EACH ROW EXECUTE FUNCTION loyalty_ledger_entries_append_only()
        """)
    else:
        op.execute(f"""
            CREATE TRIGGER loyalty_ledger_entries_append_only BEFORE UPDATE OF {_GUARDED}
            ON loyalty_ledger_entries BEGIN SELECT RAISE(ABORT, 'loyalty_ledger_entries is append-only'); END
        """)



def downgrade():
    op.execute("DROP TRIGGER IF EXISTS loyalty_ledger_entries_append_only"
               + (" ON loyalty_ledger_entries" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS loyalty_ledger_entries_append_only()")
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('tier_ids')

    op.drop_table('pos_redemptions')
    with op.batch_alter_table('loyalty_refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_refunds_purchase_id'))

    op.drop_table('loyalty_refunds')
    op.drop_table('loyalty_programs')
    with op.batch_alter_table('loyalty_ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_ledger_entries_purchase_id'))
        batch_op.drop_index('ix_loyalty_ledger_entries_membership_id_created_at')
        batch_op.drop_index(batch_op.f('ix_loyalty_ledger_entries_coupon_id'))
        batch_op.drop_index(batch_op.f('ix_loyalty_ledger_entries_brand_id'))

    op.drop_table('loyalty_ledger_entries')
    with op.batch_alter_table('loyalty_rewards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_rewards_brand_id'))

    op.drop_table('loyalty_rewards')
    with op.batch_alter_table('loyalty_purchases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_purchases_membership_id'))

    op.drop_table('loyalty_purchases')
    with op.batch_alter_table('loyalty_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_accounts_brand_id'))

    op.drop_table('loyalty_accounts')
    op.drop_table('loyalty_tiers')
