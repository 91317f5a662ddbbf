"""Geofences, presence, last fixes, retained fixes, offers and their counters, coupons, push outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import wallet.core.db

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table('geofence_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_geofence_versions'))
    )
    op.create_table('last_fixes',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('recorded_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_last_fixes_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shopper_id', name=op.f('pk_last_fixes'))
    )
    op.create_table('location_fixes',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('accuracy_m', sa.Float(), nullable=False),
    sa.Column('recorded_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_location_fixes_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_fixes'))
    )
    with op.batch_alter_table('location_fixes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_fixes_recorded_at'), ['recorded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_location_fixes_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('geofences',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('center', wallet.core.db.GeometryType('POINT', srid=4326), nullable=True),
    sa.Column('radius_m', sa.Float(), nullable=True),
    sa.Column('area', wallet.core.db.GeometryType('GEOMETRY', srid=4326), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'circle' AND center IS NOT NULL AND radius_m IS NOT NULL) OR (kind = 'polygon' AND center IS NULL AND radius_m IS NULL)", name=op.f('ck_geofences_shape_matches_kind')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_geofences_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_geofences_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_geofences'))
    )
    with op.batch_alter_table('geofences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_geofences_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_geofences_store_id'), ['store_id'], unique=False)

    if _postgres():
        op.create_index('ix_geofences_area', 'geofences', ['area'], unique=False, postgresql_using='gist')

    op.create_table('offers',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reward_type', sa.String(length=16), nullable=False),
    sa.Column('reward_percent', sa.Integer(), nullable=True),
    sa.Column('reward_amount_minor', sa.Integer(), nullable=True),
    sa.Column('reward_currency', sa.String(length=3), nullable=True),
    sa.Column('reward_item', sa.String(length=120), nullable=True),
    sa.Column('reward_points', sa.Integer(), nullable=True),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('default_locale', sa.String(length=16), nullable=False),
    sa.Column('valid_from', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('schedule', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('trigger', sa.String(length=8), nullable=False),
    sa.Column('dwell_minutes', sa.Integer(), nullable=True),
    sa.Column('all_stores', sa.Boolean(), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('max_per_shopper', sa.Integer(), nullable=True),
    sa.Column('cooldown_minutes', sa.Integer(), nullable=True),
    sa.Column('global_budget', sa.Integer(), nullable=True),
    sa.Column('daily_budget', sa.Integer(), nullable=True),
    sa.Column('coupon_ttl_minutes', sa.Integer(), nullable=False),
    sa.Column('issued_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('issued_count >= 0', name=op.f('ck_offers_issued_count_not_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_offers_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_members.id'], name=op.f('fk_offers_created_by_id_staff_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_brand_id_status', ['brand_id', 'status'], unique=False)

    op.create_table('coupons',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('pass_id', sa.Uuid(), nullable=False),
    sa.Column('geofence_id', sa.Uuid(), nullable=True),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('trigger', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('issued_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('redeemed_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemed_store_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_coupons_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['geofence_id'], ['geofences.id'], name=op.f('fk_coupons_geofence_id_geofences'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_coupons_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_coupons_pass_id_passes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['redeemed_store_id'], ['stores.id'], name=op.f('fk_coupons_redeemed_store_id_stores'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_coupons_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coupons_store_id_stores'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('pass_id', name=op.f('uq_coupons_pass_id'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index('ix_coupons_shopper_id_issued_at', ['shopper_id', 'issued_at'], unique=False)

    op.create_table('offer_daily_counts',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_daily_counts_offer_id_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'day', name=op.f('pk_offer_daily_counts'))
    )
    op.create_table('offer_geofences',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('geofence_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['geofence_id'], ['geofences.id'], name=op.f('fk_offer_geofences_geofence_id_geofences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_geofences_offer_id_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'geofence_id', name=op.f('pk_offer_geofences'))
    )
    with op.batch_alter_table('offer_geofences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_geofences_geofence_id'), ['geofence_id'], unique=False)

    op.create_table('offer_shopper_counts',
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_issued_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_shopper_counts_offer_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_offer_shopper_counts_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'shopper_id', name=op.f('pk_offer_shopper_counts'))
    )
    with op.batch_alter_table('offer_shopper_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_shopper_counts_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('presences',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('geofence_id', sa.Uuid(), nullable=False),
    sa.Column('inside', sa.Boolean(), nullable=False),
    sa.Column('entered_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dwell_reported_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('exited_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cooldown_until', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['geofence_id'], ['geofences.id'], name=op.f('fk_presences_geofence_id_geofences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_presences_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shopper_id', 'geofence_id', name=op.f('pk_presences'))
    )
    with op.batch_alter_table('presences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_presences_geofence_id'), ['geofence_id'], unique=False)

    op.create_table('push_outbox',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('coupon_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('collapse_key', sa.String(length=64), nullable=False),
    sa.Column('ttl_seconds', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_push_outbox_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_push_outbox_coupon_id_coupons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_push_outbox_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_outbox')),
    sa.UniqueConstraint('coupon_id', name=op.f('uq_push_outbox_coupon_id'))
    )
    with op.batch_alter_table('push_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_outbox_shopper_id'), ['shopper_id'], unique=False)
        batch_op.create_index('ix_push_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)



def downgrade():
    if _postgres():
        op.drop_index('ix_geofences_area', table_name='geofences', postgresql_using='gist')
    with op.batch_alter_table('push_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_push_outbox_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_push_outbox_shopper_id'))

    op.drop_table('push_outbox')
    with op.batch_alter_table('presences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presences_geofence_id'))

    op.drop_table('presences')
    with op.batch_alter_table('offer_shopper_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_shopper_counts_shopper_id'))

    op.drop_table('offer_shopper_counts')
    with op.batch_alter_table('offer_geofences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_geofences_geofence_id'))

    op.drop_table('offer_geofences')
    op.drop_table('offer_daily_counts')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_shopper_id_issued_at')
        batch_op.drop_index(batch_op.f('ix_coupons_offer_id'))
        batch_op.drop_index(batch_op.f('ix_coupons_brand_id'))

    op.drop_table('coupons')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_brand_id_status')

    op.drop_table('offers')
    with op.batch_alter_table('geofences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_geofences_store_id'))
        batch_op.drop_index(batch_op.f('ix_geofences_brand_id'))

    op.drop_table('geofences')
    with op.batch_alter_table('location_fixes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_fixes_shopper_id'))
        batch_op.drop_index(batch_op.f('ix_location_fixes_recorded_at'))

    op.drop_table('location_fixes')
    op.drop_table('last_fixes')
    op.drop_table('geofence_versions')
