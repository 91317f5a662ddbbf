"""History survives deletions: a deleted store or geofence is archived (``archived_at``), kept for
the coupons, purchases and funnel figures that name it, instead of deleted with them.

Revision ID: 0009_history_survives
Revises: 0008_card_patterns
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

import wallet.core.db

# revision identifiers, used by Alembic.
revision = '0009_history_survives'
down_revision = '0008_card_patterns'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('geofences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', wallet.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    # Archived stores come back into the lists (their fences stay inactive): delete them first if
    # they should go, and their history goes with them.
    with op.batch_alter_table('geofences', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
