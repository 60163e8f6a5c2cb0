"""Audit intake: high-volume events written without the chain lock, sealed into the chain in batches.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_intake_no_update BEFORE UPDATE ON audit_intake
       BEGIN SELECT RAISE(ABORT, 'audit_intake is append-only'); END""",
]
PG_TRIGGERS = [
    """CREATE TRIGGER audit_intake_no_update BEFORE UPDATE ON audit_intake
       FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "audit_intake",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_intake")),
    )
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": PG_TRIGGERS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_intake_no_update ON audit_intake")
    op.drop_table("audit_intake")
