"""Applications and the document details the rules need (no copies, purged on schedule).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=10), nullable=False),
        sa.Column("intake_token", sa.String(length=64), nullable=False),
        sa.Column("applicant_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("has_caretaker", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("review_reasons", sa.String(length=128), nullable=True),
        sa.Column("decision_codes", sa.String(length=256), nullable=True),
        sa.Column("possible_duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("override_note_ct", sa.LargeBinary(), nullable=True),
        sa.Column("identity_points", sa.Integer(), nullable=True),
        sa.Column("residency_points", sa.Integer(), nullable=True),
        sa.Column("rules_satisfied", sa.Boolean(), nullable=True),
        sa.Column("documents_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("age_band", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_applications_applicant_id_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("intake_token", name=op.f("uq_applications_intake_token")),
        sa.UniqueConstraint("reference", name=op.f("uq_applications_reference")),
    )
    op.create_index(op.f("ix_applications_applicant_id"), "applications", ["applicant_id"])
    op.create_index(op.f("ix_applications_status"), "applications", ["status"])
    op.create_table(
        "application_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("resident_since", sa.Date(), nullable=True),
        sa.Column("name_matches", sa.Boolean(), nullable=False),
        sa.Column("address_matches", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], ondelete="CASCADE",
            name=op.f("fk_application_documents_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_documents")),
    )
    op.create_index(op.f("ix_application_documents_application_id"), "application_documents",
                    ["application_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_application_documents_application_id"),
                  table_name="application_documents")
    op.drop_table("application_documents")
    op.drop_index(op.f("ix_applications_status"), table_name="applications")
    op.drop_index(op.f("ix_applications_applicant_id"), table_name="applications")
    op.drop_table("applications")
