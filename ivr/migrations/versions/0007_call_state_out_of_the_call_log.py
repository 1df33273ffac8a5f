"""call state out of the call log: order failures, verified orders, hand-off TwiML

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:20:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('handoff_twiml', sa.Text(), nullable=True))

    op.create_table('call_verified_orders',
    sa.Column('call_sid', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_sid'], ['calls.sid'], ),
    sa.PrimaryKeyConstraint('call_sid', 'number')
    )

    # A call live during the upgrade keeps its lock-out count (verified orders are proven again).
    op.execute("UPDATE calls SET order_failures = (SELECT count(*) FROM call_events"
               " WHERE call_events.call_sid = calls.sid AND call_events.kind = 'order_check_failed')")


def downgrade() -> None:
    op.drop_table('call_verified_orders')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('handoff_twiml')
        batch_op.drop_column('order_failures')
