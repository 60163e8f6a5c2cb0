"""Cards and print batches.

Clear columns hold numbers, dates, statuses and ids. The QR is not stored: it is signed again
from the encrypted profile whenever the card is printed (Ed25519 signatures are deterministic,
so a reprint carries exactly the same QR).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idsys.db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class CardStatus(StrEnum):
    PENDING_PRINT = "pending_print"
    ACTIVE = "active"
    REVOKED = "revoked"


class RevocationReason(StrEnum):
    LOST = "lost"
    STOLEN = "stolen"
    DAMAGED = "damaged"
    FRAUD = "fraud"
    SUPERSEDED = "superseded"


class BatchStatus(StrEnum):
    RELEASED = "released"
    PRINTED = "printed"


class Card(Base):
    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    applicant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("applicants.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("applications.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)  # None: never expires (policy band)
    signing_kid: Mapped[str | None] = mapped_column(String(64))
    printed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery: Mapped[str | None] = mapped_column(String(16))  # pickup or mail
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revocation_reason: Mapped[str | None] = mapped_column(String(16))
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    def public_status(self, today: date) -> str:
        return public_status(self.status, self.expires_on, today)


def public_status(status: str, expires_on: date | None, today: date) -> str:
    """valid, expired, revoked or not yet issued: what a verifier may learn of a card."""
    if status == CardStatus.REVOKED.value:
        return "revoked"
    if status == CardStatus.PENDING_PRINT.value:
        return "not_issued"
    return "expired" if expires_on is not None and expires_on < today else "valid"


class PrintBatch(Base):
    __tablename__ = "print_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    released_by: Mapped[int] = mapped_column(Integer)
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    printed_by: Mapped[int | None] = mapped_column(Integer)
    printed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Progress of the latest PDF rendering, shown to the clerk while a large batch renders.
    render_layout: Mapped[str | None] = mapped_column(String(16))
    render_done: Mapped[int] = mapped_column(Integer, default=0)
    render_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written with every card rendered: a rendering whose worker died stops beating.
    render_beat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    render_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    render_error: Mapped[str | None] = mapped_column(String(200))

    items: Mapped[list[BatchItem]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="BatchItem.position"
    )


class BatchItem(Base):
    """A card in a batch; a reprint puts the same card into a later batch."""

    __tablename__ = "print_batch_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("print_batches.id", ondelete="CASCADE"), index=True
    )
    card_id: Mapped[int] = mapped_column(Integer, ForeignKey("cards.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # new, reprint, replacement, renewal

    batch: Mapped[PrintBatch] = relationship(back_populates="items")
    card: Mapped[Card] = relationship()
