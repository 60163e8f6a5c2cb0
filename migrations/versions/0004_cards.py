"""Cards and print batches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("applicant_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("signing_kid", sa.String(length=64), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=16), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["applicants.id"],
                                name=op.f("fk_cards_applicant_id_applicants")),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_cards_application_id_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("number", name=op.f("uq_cards_number")),
    )
    op.create_index(op.f("ix_cards_applicant_id"), "cards", ["applicant_id"])
    op.create_index(op.f("ix_cards_status"), "cards", ["status"])
    op.create_table(
        "print_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("released_by", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_by", sa.Integer(), nullable=True),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("render_layout", sa.String(length=16), nullable=True),
        sa.Column("render_done", sa.Integer(), nullable=False),
        sa.Column("render_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("render_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("render_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_batches")),
    )
    op.create_index(op.f("ix_print_batches_status"), "print_batches", ["status"])
    op.create_table(
        "print_batch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["print_batches.id"], ondelete="CASCADE",
                                name=op.f("fk_print_batch_items_batch_id_print_batches")),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"],
                                name=op.f("fk_print_batch_items_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_batch_items")),
    )
    op.create_index(op.f("ix_print_batch_items_batch_id"), "print_batch_items", ["batch_id"])
    op.create_index(op.f("ix_print_batch_items_card_id"), "print_batch_items", ["card_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_print_batch_items_card_id"), table_name="print_batch_items")
    op.drop_index(op.f("ix_print_batch_items_batch_id"), table_name="print_batch_items")
    op.drop_table("print_batch_items")
    op.drop_index(op.f("ix_print_batches_status"), table_name="print_batches")
    op.drop_table("print_batches")
    op.drop_index(op.f("ix_cards_status"), table_name="cards")
    op.drop_index(op.f("ix_cards_applicant_id"), table_name="cards")
    op.drop_table("cards")
