"""report: operator verification (verified_at, verified_by), merged duplicates, spam score

Revision ID: e1a0c0ffee01
Revises: e2b0c0ffee02
Create Date: 2026-11-24 01:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'e1a0c0ffee01'
down_revision: str | None = 'e2b0c0ffee02'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column(
            'verified_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('spam_score', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column(
            'spam_reasons', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_foreign_key('fk_report_merged_into', 'report', ['merged_into_id'],
                                    ['id'])


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint('fk_report_merged_into', type_='foreignkey')
        batch_op.drop_column('spam_reasons')
        batch_op.drop_column('spam_score')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
