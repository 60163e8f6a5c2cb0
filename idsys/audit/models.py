"""The append-only audit trail: who did what to which record, and with what outcome.

Rows carry ids and codes only, never personal data: the trail must be safe to hand to an auditor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idsys.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    # Assigned from AuditHead under a row lock rather than by a sequence: sequences skip numbers
    # when a transaction rolls back, and a gap must mean one thing only, a deleted row.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash, itself MACed, so truncation is detectable."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    head_mac: Mapped[str] = mapped_column(String(64))


class AuditIntake(Base):
    """High-volume events (partner verifications) waiting to be sealed into the chain.

    Written without taking the chain's head lock, each row MACed on its own so that a change is
    detectable even before sealing; a sealer moves them into `audit_events` in batches, in order.
    """

    __tablename__ = "audit_intake"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
