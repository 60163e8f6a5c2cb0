"""Partners (libraries, banks, clinics) and their API keys and usage counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idsys.db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class PartnerKind(StrEnum):
    LIBRARY = "library"
    BANK = "bank"
    CLINIC = "clinic"
    OTHER = "other"


class Scope(StrEnum):
    """What a partner's agreement lets it learn; each level includes the ones before it."""

    STATUS = "status"  # valid, expired, revoked
    IDENTITY = "identity"  # + name and date of birth
    PHOTO = "photo"  # + the enrolled photo, to compare with the person at the desk

    def includes(self, other: Scope) -> bool:
        order = [Scope.STATUS, Scope.IDENTITY, Scope.PHOTO]
        return order.index(self) >= order.index(other)


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    contact: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(16))
    daily_quota: Mapped[int] = mapped_column(Integer)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    keys: Mapped[list[PartnerKey]] = relationship(
        back_populates="partner", order_by="PartnerKey.id"
    )

    @property
    def scope_enum(self) -> Scope:
        return Scope(self.scope)

    @property
    def live_keys(self) -> list[PartnerKey]:
        return [k for k in self.keys if k.revoked_at is None]


class PartnerKey(Base):
    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, ForeignKey("partners.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(8), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    partner: Mapped[Partner] = relationship(back_populates="keys")


class PartnerUsage(Base):
    """Verifications per partner per day, for the daily quota and the statistics."""

    __tablename__ = "partner_usage"
    __table_args__ = (UniqueConstraint("partner_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, ForeignKey("partners.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
