"""outbox messages name their office; a void keeps its reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: rows written before this revision name no office (every office's day
    # close waits for them, as before) and voids before it have no stored reason (it is in
    # the audit log's payment.voided entry).
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('office_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('void_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('void_reason')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('office_id')
