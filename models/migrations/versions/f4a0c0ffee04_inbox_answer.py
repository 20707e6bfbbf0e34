"""inbox.answer: direct answers committed with an update's effects until they are sent

Revision ID: f4a0c0ffee04
Revises: e3c0c0ffee03
Create Date: 2026-11-24 04:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f4a0c0ffee04'
down_revision: str | None = 'e3c0c0ffee03'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer', sa.JSON(none_as_null=True), nullable=True))
        batch_op.create_index('ix_inbox_answer_pending', ['id'], unique=False,
                              sqlite_where=sa.text('answer IS NOT NULL'),
                              postgresql_where=sa.text('answer IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_answer_pending')
        batch_op.drop_column('answer')
