"""Applicants: one row per person, everything personal inside ciphertexts.

The only clear-text columns are ids, key ids, timestamps and blind-index digests. There is no
column for any document image, nor for immigration status or anything that stands for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idsys.auth.models import DEFAULT_SITE
from idsys.db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class Applicant(Base):
    __tablename__ = "applicants"

    # Random, so an id says nothing about when or where someone applied.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # The data key, wrapped by the key-encryption key `kek_id`. NULL once erased.
    kek_id: Mapped[str | None] = mapped_column(String(64), index=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    profile_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    match_keys: Mapped[list[ApplicantMatchKey]] = relationship(
        back_populates="applicant", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


class ApplicantMatchKey(Base):
    """Blind-index digests that find possible duplicates without decrypting every profile."""

    __tablename__ = "applicant_match_keys"
    __table_args__ = (Index("ix_applicant_match_keys_digest", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applicant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("applicants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(32))

    applicant: Mapped[Applicant] = relationship(back_populates="match_keys")


class KeyRotationState(Base):
    """Progress of a data-key rotation, so an interrupted run resumes where it stopped."""

    __tablename__ = "key_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_kek_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rewrapped: Mapped[int] = mapped_column(Integer, default=0)


class ApplicationKind(StrEnum):
    NEW = "new"
    RENEWAL = "renewal"
    REPLACEMENT = "replacement"


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PRINTED = "printed"
    ISSUED = "issued"
    WITHDRAWN = "withdrawn"


class Application(Base):
    """One request for a card. Clear columns are workflow facts only; personal data is in the
    applicant's ciphertexts, including any supervisor's written justification."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(10), unique=True)
    # A random token from the form that started it: a double-clicked "start" makes one draft.
    intake_token: Mapped[str] = mapped_column(String(64), unique=True)
    applicant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("applicants.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    has_caretaker: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(Integer)
    # Comma-separated reason codes: why it went to review, and why it was decided as it was.
    review_reasons: Mapped[str | None] = mapped_column(String(128))
    decision_codes: Mapped[str | None] = mapped_column(String(256))
    possible_duplicate_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    override_note_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The outcome summary that stays after document details are purged.
    identity_points: Mapped[int | None] = mapped_column(Integer)
    residency_points: Mapped[int | None] = mapped_column(Integer)
    rules_satisfied: Mapped[bool | None] = mapped_column(Boolean)
    documents_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    age_band: Mapped[str | None] = mapped_column(String(8))
    # Coarse copies for the statistics, so that reports never decrypt a profile: the enrolment
    # site (the starting clerk's, set at start), and at the decision the gender designation
    # (F, M, X or "none") and the first preferred language's code. Erasure clears the last two
    # with the age band. See README, "Statistics".
    site: Mapped[str] = mapped_column(String(32), default=DEFAULT_SITE, server_default=DEFAULT_SITE)
    gender_designation: Mapped[str | None] = mapped_column(String(4))
    preferred_language: Mapped[str | None] = mapped_column(String(8))

    documents: Mapped[list[ApplicationDocument]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ApplicationDocument.position",
    )


class ApplicationDocument(Base):
    """A document the clerk looked at (the original was handed back; no copy is ever kept).

    Only what the rules need: the type, its dates, and the clerk's checks. Purged on the
    policy's schedule, leaving the outcome summary on the application.
    """

    __tablename__ = "application_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    issue_date: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    resident_since: Mapped[date | None] = mapped_column(Date)
    name_matches: Mapped[bool] = mapped_column(Boolean)
    address_matches: Mapped[bool] = mapped_column(Boolean)

    application: Mapped[Application] = relationship(back_populates="documents")
