"""Applicants: envelope-encrypted profiles and photos, blind-index match keys, key rotation state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applicants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=True),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("profile_ct", sa.LargeBinary(), nullable=True),
        sa.Column("photo_ct", sa.LargeBinary(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applicants")),
    )
    op.create_index(op.f("ix_applicants_kek_id"), "applicants", ["kek_id"])
    op.create_table(
        "applicant_match_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"], ondelete="CASCADE",
                                name=op.f("fk_applicant_match_keys_applicant_id_applicants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applicant_match_keys")),
    )
    op.create_index("ix_applicant_match_keys_digest", "applicant_match_keys", ["digest"])
    op.create_index(op.f("ix_applicant_match_keys_applicant_id"), "applicant_match_keys",
                    ["applicant_id"])
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_kek_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")
    op.drop_index(op.f("ix_applicant_match_keys_applicant_id"), table_name="applicant_match_keys")
    op.drop_index("ix_applicant_match_keys_digest", table_name="applicant_match_keys")
    op.drop_table("applicant_match_keys")
    op.drop_index(op.f("ix_applicants_kek_id"), table_name="applicants")
    op.drop_table("applicants")
