"""Push: devices, the outbox's lease and outcome columns, the daily push cap, opens per offer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import wallet.core.db

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_devices',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('token', sa.String(length=1024), nullable=False),
    sa.Column('token_kind', sa.String(length=20), nullable=False),
    sa.Column('platform', sa.String(length=8), nullable=False),
    sa.Column('app_version', sa.String(length=32), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retired_reason', sa.String(length=32), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_push_devices_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_devices')),
    sa.UniqueConstraint('token', name=op.f('uq_push_devices_token'))
    )
    with op.batch_alter_table('push_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_devices_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('push_daily_counts',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_push_daily_counts_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shopper_id', 'day', name=op.f('pk_push_daily_counts'))
    )
    op.create_table('push_open_counts',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_push_open_counts_offer_id_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', name=op.f('pk_push_open_counts'))
    )
    with op.batch_alter_table('push_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('duplicate_suspected', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('cap_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('opened_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('push_outbox', schema=None) as batch_op:
        batch_op.drop_column('opened_at')
        batch_op.drop_column('message_id')
        batch_op.drop_column('cap_day')
        batch_op.drop_column('duplicate_suspected')
        batch_op.drop_column('reason')
        batch_op.drop_column('lease_id')

    op.drop_table('push_open_counts')
    op.drop_table('push_daily_counts')
    with op.batch_alter_table('push_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_devices_shopper_id'))

    op.drop_table('push_devices')
