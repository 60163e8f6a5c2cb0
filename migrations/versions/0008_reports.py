"""Statistics: enrolment sites, coarse copies at decision, stored counts, range indexes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Date columns the statistics count by month, each scanned by range.
RANGE_INDEXES = (
    ("ix_applications_submitted_at", "applications", "submitted_at"),
    ("ix_applications_decided_at", "applications", "decided_at"),
    ("ix_print_batches_released_at", "print_batches", "released_at"),
    ("ix_cards_revoked_at", "cards", "revoked_at"),
    ("ix_partner_usage_day", "partner_usage", "day"),
)


def upgrade() -> None:
    # Existing accounts and applications belong to the one site a city had until now.
    op.add_column(
        "staff_users",
        sa.Column("site", sa.String(length=32), server_default="main", nullable=False),
    )
    op.add_column(
        "applications",
        sa.Column("site", sa.String(length=32), server_default="main", nullable=False),
    )
    op.add_column(
        "applications", sa.Column("gender_designation", sa.String(length=4), nullable=True)
    )
    op.add_column(
        "applications", sa.Column("preferred_language", sa.String(length=8), nullable=True)
    )
    for name, table, column in RANGE_INDEXES:
        op.create_index(name, table, [column])
    op.create_table(
        "report_periods",
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("start", "span", name=op.f("pk_report_periods")),
    )
    op.create_table(
        "report_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=32), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["start", "span"], ["report_periods.start", "report_periods.span"],
            ondelete="CASCADE", name="fk_report_counts_period",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_counts")),
        sa.UniqueConstraint(
            "start", "span", "measure", "site", "dimension", "category",
            name=op.f("uq_report_counts_start"),
        ),
    )
    op.create_index(op.f("ix_report_counts_start"), "report_counts", ["start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_report_counts_start"), table_name="report_counts")
    op.drop_table("report_counts")
    op.drop_table("report_periods")
    for name, table, _column in reversed(RANGE_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_column("applications", "preferred_language")
    op.drop_column("applications", "gender_designation")
    op.drop_column("applications", "site")
    op.drop_column("staff_users", "site")
