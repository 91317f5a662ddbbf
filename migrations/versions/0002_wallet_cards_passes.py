"""The wallet: cards, memberships, passes (rotating codes), per-brand consents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

import wallet.core.db


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('brand_consents',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('opted_in', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_brand_consents_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_brand_consents_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shopper_id', 'brand_id', name=op.f('pk_brand_consents'))
    )
    with op.batch_alter_table('brand_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_brand_consents_brand_id'), ['brand_id'], unique=False)

    op.create_table('cards',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=True),
    sa.Column('shop_name', sa.String(length=120), nullable=True),
    sa.Column('label', sa.String(length=120), nullable=True),
    sa.Column('number', sa.String(length=128), nullable=False),
    sa.Column('symbology', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(brand_id IS NULL) <> (shop_name IS NULL)', name=op.f('ck_cards_brand_or_shop')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_cards_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_cards_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cards')),
    sa.UniqueConstraint('shopper_id', 'dedupe_key', name=op.f('uq_cards_shopper_id_dedupe_key'))
    )
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cards_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cards_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('passes',
    sa.Column('kind', sa.String(length=1), nullable=False),
    sa.Column('short_id', sa.String(length=16), nullable=False),
    sa.Column('secret', sa.LargeBinary(length=64), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('last_accepted_step', sa.BigInteger(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', wallet.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_passes_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_passes_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passes')),
    sa.UniqueConstraint('short_id', name=op.f('uq_passes_short_id'))
    )
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passes_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_shopper_id'), ['shopper_id'], unique=False)

    op.create_table('memberships',
    sa.Column('shopper_id', sa.Uuid(), nullable=False),
    sa.Column('brand_id', sa.Uuid(), nullable=False),
    sa.Column('member_number', sa.String(length=32), nullable=False),
    sa.Column('card_id', sa.Uuid(), nullable=False),
    sa.Column('pass_id', sa.Uuid(), nullable=False),
    sa.Column('enrolled_at', wallet.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_memberships_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_memberships_card_id_cards'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_memberships_pass_id_passes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shopper_id'], ['shoppers.id'], name=op.f('fk_memberships_shopper_id_shoppers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('brand_id', 'member_number', name=op.f('uq_memberships_brand_id_member_number')),
    sa.UniqueConstraint('card_id', name=op.f('uq_memberships_card_id')),
    sa.UniqueConstraint('pass_id', name=op.f('uq_memberships_pass_id')),
    sa.UniqueConstraint('shopper_id', 'brand_id', name=op.f('uq_memberships_shopper_id_brand_id'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_shopper_id'), ['shopper_id'], unique=False)

    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('brand_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_consent_events_brand_id_brands'), 'brands', ['brand_id'], ['id'], ondelete='CASCADE')



def downgrade():
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_consent_events_brand_id_brands'), type_='foreignkey')
        batch_op.drop_column('brand_id')

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_shopper_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passes_shopper_id'))
        batch_op.drop_index(batch_op.f('ix_passes_brand_id'))

    op.drop_table('passes')
    with op.batch_alter_table('cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cards_shopper_id'))
        batch_op.drop_index(batch_op.f('ix_cards_brand_id'))

    op.drop_table('cards')
    with op.batch_alter_table('brand_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_brand_consents_brand_id'))

    op.drop_table('brand_consents')
