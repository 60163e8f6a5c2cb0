"""Applicants: one row per person, everything personal inside ciphertexts.

The only clear-text columns are ids, key ids, timestamps and blind-index digests. There is no
column for any document image, nor for immigration status or anything that stands for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
