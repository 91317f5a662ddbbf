"""Insight: the funnel's daily counters per offer, store and metric, and its pseudonymous
distinct-shopper keys (which survive retention of raw rows, and are re-keyed on erasure).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('funnel_counts',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_funnel_counts_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_funnel_counts_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'store_id', 'day', 'metric', name=op.f('pk_funnel_counts'))
    )
    with op.batch_alter_table('funnel_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funnel_counts_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_funnel_counts_store_id'), ['store_id'], unique=False)

    op.create_table('funnel_shoppers',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('shopper_key', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_funnel_shoppers_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_funnel_shoppers_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'store_id', 'day', 'shopper_key', name=op.f('pk_funnel_shoppers'))
    )
    with op.batch_alter_table('funnel_shoppers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funnel_shoppers_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_funnel_shoppers_shopper_key'), ['shopper_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_funnel_shoppers_store_id'), ['store_id'], unique=False)


def downgrade():
    with op.batch_alter_table('funnel_shoppers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funnel_shoppers_store_id'))
        batch_op.drop_index(batch_op.f('ix_funnel_shoppers_shopper_key'))
        batch_op.drop_index(batch_op.f('ix_funnel_shoppers_day'))
    op.drop_table('funnel_shoppers')
    with op.batch_alter_table('funnel_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funnel_counts_store_id'))
        batch_op.drop_index(batch_op.f('ix_funnel_counts_day'))
    op.drop_table('funnel_counts')
