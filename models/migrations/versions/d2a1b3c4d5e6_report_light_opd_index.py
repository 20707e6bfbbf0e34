"""report: (light, opd_id, created_at, status) index for the admin reports

/terlambat and the report card's open reds count and list the red and yellow reports per OPD
from this index alone (a covering index scan), instead of walking a million-row table.

Revision ID: d2a1b3c4d5e6
Revises: c8d9e0f1a2b3
Create Date: 2026-11-23 22:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'd2a1b3c4d5e6'
down_revision: str | None = 'c8d9e0f1a2b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_report_light_opd', 'report',
                    ['light', 'opd_id', 'created_at', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_report_light_opd', table_name='report')
