"""personal data: identity modes, encrypted phone and NIK with lookup hashes, purge mark

Adds report.identity_mode (named | confidential | anonymous; anonymous rows marked from the
old `anonymous` flag), report.reporter_phone_enc/_hash, report.reporter_nik_enc/_hash,
report.personal_purged_at, citizen.phone_enc/_hash. The old plain-text phones are converted
to encrypted E.164 at start-up (models/pii.py convert_plaintext), not here: a migration has
no key.

Revision ID: e2b0c0ffee02
Revises: d2a1b3c4d5e6
Create Date: 2026-11-24 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'e2b0c0ffee02'
down_revision: str | None = 'd2a1b3c4d5e6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report') as batch_op:
        batch_op.add_column(sa.Column('identity_mode', sqlmodel.sql.sqltypes.AutoString(
            length=16), nullable=False, server_default='named'))
        batch_op.add_column(sa.Column('reporter_phone_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reporter_phone_hash', sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=True))
        batch_op.add_column(sa.Column('reporter_nik_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reporter_nik_hash', sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=True))
        batch_op.add_column(sa.Column('personal_purged_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.create_index('ix_report_reporter_phone_hash', ['reporter_phone_hash'])
        batch_op.create_index('ix_report_reporter_nik_hash', ['reporter_nik_hash'])
        batch_op.create_index('ix_report_purge', ['personal_purged_at', 'updated_at'])
    op.execute("UPDATE report SET identity_mode = 'anonymous' WHERE anonymous")
    with op.batch_alter_table('citizen') as batch_op:
        batch_op.add_column(sa.Column('phone_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('phone_hash', sqlmodel.sql.sqltypes.AutoString(
            length=64), nullable=True))
        batch_op.create_index('ix_citizen_phone_hash', ['phone_hash'])


def downgrade() -> None:
    with op.batch_alter_table('citizen') as batch_op:
        batch_op.drop_index('ix_citizen_phone_hash')
        batch_op.drop_column('phone_hash')
        batch_op.drop_column('phone_enc')
    with op.batch_alter_table('report') as batch_op:
        batch_op.drop_index('ix_report_purge')
        batch_op.drop_index('ix_report_reporter_nik_hash')
        batch_op.drop_index('ix_report_reporter_phone_hash')
        for name in ('personal_purged_at', 'reporter_nik_hash', 'reporter_nik_enc',
                     'reporter_phone_hash', 'reporter_phone_enc', 'identity_mode'):
            batch_op.drop_column(name)
