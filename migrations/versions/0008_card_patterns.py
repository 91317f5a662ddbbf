"""Brands: card number patterns are matched with RE2 (linear time), and checked when saved. A
pattern saved before that RE2 cannot run (a backreference, a lookaround, a program too large) is
cleared: set to NULL, so that the brand's card numbers are no longer checked against a format
until its admin saves one again. No other column changes; the downgrade has nothing to restore.

Revision ID: 0008_card_patterns
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_card_patterns'
down_revision = '0007'
branch_labels = None
depends_on = None

# As wallet.brands.patterns has them when this revision was written (a migration must not change
# with the application's code).
_MAX_PATTERN_LENGTH = 200
_MAX_PROGRAM_BYTES = 1 << 20


def _runs_under_re2(pattern: str) -> bool:
    import re2

    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_PROGRAM_BYTES
    if len(pattern) > _MAX_PATTERN_LENGTH:
        return False
    try:
        re2.compile(pattern, options)
    except re2.error:
        return False
    return True


def upgrade():
    brands = sa.table('brands', sa.column('id', sa.Uuid()), sa.column('card_number_pattern', sa.String(200)))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(brands.c.id, brands.c.card_number_pattern).where(brands.c.card_number_pattern.is_not(None))
    ).all()
    refused = [row.id for row in rows if not _runs_under_re2(row.card_number_pattern)]
    if refused:
        connection.execute(
            brands.update().where(brands.c.id.in_(refused)).values(card_number_pattern=None)
        )


def downgrade():
    pass  # the cleared patterns cannot be told apart from patterns never set
