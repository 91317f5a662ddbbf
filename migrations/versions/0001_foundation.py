"""Foundation: brands, stores, shoppers, staff, sessions, refresh tokens, POS keys, throttles.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Runs on PostgreSQL + PostGIS and on SQLite (geometry as WKB there, no spatial index).
"""
import sqlalchemy as sa
from alembic import op

import wallet.core.db


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _postgres():
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('brands',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_key', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=60), nullable=True),
    sa.Column('website_url', sa.String(length=500), nullable=True),
    sa.Column('logo_url', sa.String(length=500), nullable=True),
    sa.Column('primary_color', sa.String(length=7), nullable=False),
    sa.Column('secondary_color', sa.String(length=7), nullable=False),
    sa.Column('card_number_pattern', sa.String(length=200), nullable=True),
    sa.Column('default_symbology', sa.String(length=16), nullable=False),
    sa.Column('listed', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brands')),
    sa.UniqueConstraint('name_key', name=op.f('uq_brands_name_key'))
    )
    op.create_table('shoppers',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('consent_location', sa.Boolean(), nullable=False),
    sa.Column('consent_marketing', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shoppers')),
    sa.UniqueConstraint('email', name=op.f('uq_shoppers_email'))
    )
    op.create_table('sign_in_throttles',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttles'))
    )
    op.create_table('consent_events',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('consent', sa.String(length=32), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('recorded_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_consent_events_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_events_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('staff_members',
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(role = 'platform_admin' AND brand_id IS NULL) OR (role <> 'platform_admin' AND brand_id IS NOT NULL)", name=op.f('ck_staff_members_brand_matches_role')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_staff_members_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_members')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_members_email'))
    )
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_members_brand_id'), ['brand_id'], unique=False)

    op.create_table('stores',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('postal_code', sa.String(length=16), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('location', wallet.core.db.GeometryType('POINT', srid=4326), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_stores_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stores'))
    )
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stores_brand_id'), ['brand_id'], unique=False)
    if _postgres():
        op.create_index('ix_stores_location', 'stores', ['location'], unique=False, postgresql_using='gist')

    op.create_table('auth_sessions',
    sa.Column('shopper_id', sa.Uuid(), nullable=True),
    sa.Column('staff_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('(shopper_id IS NULL) <> (staff_id IS NULL)', name=op.f('ck_auth_sessions_one_account')),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_auth_sessions_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_auth_sessions_staff_id_staff_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_sessions'))
    )
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_sessions_shopper_id'), ['shopper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_sessions_staff_id'), ['staff_id'], unique=False)

    op.create_table('pos_api_keys',
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_pos_api_keys_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_members.id'], name=op.f('fk_pos_api_keys_created_by_id_staff_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_pos_api_keys_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pos_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_pos_api_keys_key_hash')),
    sa.UniqueConstraint('prefix', name=op.f('uq_pos_api_keys_prefix'))
    )
    with op.batch_alter_table('pos_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pos_api_keys_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pos_api_keys_store_id'), ['store_id'], unique=False)

    op.create_table('staff_store_scopes',
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_staff_store_scopes_staff_id_staff_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_staff_store_scopes_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'store_id', name=op.f('pk_staff_store_scopes'))
    )
    with op.batch_alter_table('staff_store_scopes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_store_scopes_store_id'), ['store_id'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['auth_sessions.id'], name=op.f('fk_refresh_tokens_session_id_auth_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_session_id'), ['session_id'], unique=False)



def downgrade():
    if _postgres():
        op.drop_index('ix_stores_location', table_name='stores', postgresql_using='gist')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_session_id'))

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('staff_store_scopes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_store_scopes_store_id'))

    op.drop_table('staff_store_scopes')
    with op.batch_alter_table('pos_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pos_api_keys_store_id'))
        batch_op.drop_index(batch_op.f('ix_pos_api_keys_brand_id'))

    op.drop_table('pos_api_keys')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_sessions_staff_id'))
        batch_op.drop_index(batch_op.f('ix_auth_sessions_shopper_id'))

    op.drop_table('auth_sessions')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stores_brand_id'))

    op.drop_table('stores')
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_members_brand_id'))

    op.drop_table('staff_members')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_events_shopper_id'))

    op.drop_table('consent_events')
    op.drop_table('sign_in_throttles')
    op.drop_table('shoppers')
    op.drop_table('brands')
