"""Pre-applications: a resident's encrypted details, kept until a clerk claims them or they expire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pre_applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("payload_ct", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_applications")),
        sa.UniqueConstraint("code", name=op.f("uq_pre_applications_code")),
    )
    op.create_index(op.f("ix_pre_applications_created_at"), "pre_applications", ["created_at"])
    op.create_index(op.f("ix_pre_applications_kek_id"), "pre_applications", ["kek_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pre_applications_kek_id"), table_name="pre_applications")
    op.drop_index(op.f("ix_pre_applications_created_at"), table_name="pre_applications")
    op.drop_table("pre_applications")
