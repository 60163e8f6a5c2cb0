"""Print batches: when the PDF rendering last made progress, so a dead one can be told apart.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "print_batches", sa.Column("render_beat_at", sa.DateTime(timezone=True), nullable=True)
    )
    # A rendering that was under way when the server was upgraded did not survive the restart:
    # give it a heartbeat from its start, so it shows as stopped and can be started again.
    op.execute(
        "UPDATE print_batches SET render_beat_at = render_started_at "
        "WHERE render_started_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("print_batches", "render_beat_at")
