"""inbox: every inbound update recorded before it is processed (Telegram and WhatsApp)

Revision ID: b7c1d2e3f4a5
Revises: 87afa64e1b8d
Create Date: 2026-11-23 20:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'b7c1d2e3f4a5'
down_revision: str | None = '87afa64e1b8d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('update_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('chat_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'update_key', name='uq_inbox_channel_key')
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_chat_key'), ['chat_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_status'), ['status'], unique=False)
    # WhatsApp messages join the same mechanism: one inbox for both channels.
    op.execute(
        "INSERT INTO inbox (channel, update_key, chat_key, payload, status, attempts, "
        "received_at, processed_at) SELECT 'whatsapp', wamid, wa_id, payload, status, attempts, "
        "received_at, processed_at FROM wa_inbound ORDER BY id")
    with op.batch_alter_table('wa_inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wa_inbound_wa_id'))
        batch_op.drop_index(batch_op.f('ix_wa_inbound_status'))
    op.drop_table('wa_inbound')


def downgrade() -> None:
    op.create_table('wa_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wamid', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('wa_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('wamid')
    )
    with op.batch_alter_table('wa_inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wa_inbound_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_wa_inbound_wa_id'), ['wa_id'], unique=False)
    op.execute(
        "INSERT INTO wa_inbound (wamid, wa_id, payload, status, attempts, received_at, "
        "processed_at) SELECT update_key, chat_key, payload, status, attempts, received_at, "
        "processed_at FROM inbox WHERE channel = 'whatsapp' ORDER BY id")
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_status'))
        batch_op.drop_index(batch_op.f('ix_inbox_chat_key'))
    op.drop_table('inbox')
