"""areas (routing by area, service area), followers, category.route_by_area, nearby index

Revision ID: e3c0c0ffee03
Revises: e1a0c0ffee01
Create Date: 2026-11-24 01:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'e3c0c0ffee03'
down_revision: str | None = 'e1a0c0ffee01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'area',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('opd_id', sa.Integer(), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('geojson', sa.Text(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['opd_id'], ['opd.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_area_opd_id'), ['opd_id'], unique=False)
    op.create_table(
        'follower',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizen.id']),
        sa.ForeignKeyConstraint(['report_id'], ['report.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('report_id', 'citizen_id', name='uq_follower_report'),
    )
    with op.batch_alter_table('follower', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follower_citizen_id'), ['citizen_id'], unique=False)
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_by_area', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index('ix_report_category_lat', ['category_id', 'latitude', 'longitude'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_category_lat')
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.drop_column('route_by_area')
    with op.batch_alter_table('follower', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follower_citizen_id'))
    op.drop_table('follower')
    with op.batch_alter_table('area', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_area_opd_id'))
    op.drop_table('area')
