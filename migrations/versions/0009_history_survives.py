"""History survives deletions: a deleted store or geofence is archived (``archived_at``), kept for
the coupons, purchases and funnel figures that name it, instead of deleted with them. Cards' duplicate
keys are recomputed from the number as stored (the check digit a shopper left off included).

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
    _rekey_cards()


def _rekey_cards():
    """A key ends with the number as typed ("...:400638133393"); it must end with the number as
    stored ("...:4006381333931"), or the same card can be added again. A card the shopper already
    holds under the right key keeps it; the other keeps its old key (a duplicate theirs to delete)."""
    cards = sa.table('cards', sa.column('id', sa.Uuid()), sa.column('shopper_id', sa.Uuid()),
                     sa.column('number', sa.String()), sa.column('dedupe_key', sa.String()))
    connection = op.get_bind()
    key_end = sa.func.substr(cards.c.dedupe_key, sa.func.length(cards.c.dedupe_key) - sa.func.length(cards.c.number))
    stale = connection.execute(sa.select(cards.c.id, cards.c.shopper_id, cards.c.number, cards.c.dedupe_key)
                               .where(key_end != sa.literal(':') + cards.c.number)).all()
    for row in stale:
        key = f"{row.dedupe_key.rpartition(':')[0]}:{row.number}"
        held = connection.execute(sa.select(cards.c.id).where(cards.c.shopper_id == row.shopper_id,
                                                              cards.c.dedupe_key == key)).first()
        if held is None:
            connection.execute(sa.update(cards).where(cards.c.id == row.id).values(dedupe_key=key))


def downgrade():
    # Archived stores come back into the lists (their fences stay inactive): delete them first if
    # they should go, and their history goes with them.
    with op.batch_alter_table('geofences', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
