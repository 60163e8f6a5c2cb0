"""Stored counts for the statistics, and the indexes the statistics need elsewhere.

Figures for a period that has ended do not change: every count is keyed on a moment that is
written once (submission, decision, release for printing, revocation, a partner's day). So each
closed month is counted once from the non-personal columns and kept here as exact counts per
site and category; so is each closed day of the month under way, until that month closes and its
days give way to it. The dashboard counts only today and yesterday live, and suppresses small
cells only when it displays. The stored rows are counts of events, never a row per person.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from idsys.applications.models import Application
from idsys.cards.models import Card, PrintBatch
from idsys.db import Base
from idsys.verification.models import PartnerUsage


def _now() -> datetime:
    return datetime.now(UTC)


class ReportPeriod(Base):
    """A closed month or day whose counts are stored, in the time zone and format version they
    were made with. Another time zone (a new policy) or version makes it stale: counted again."""

    __tablename__ = "report_periods"

    start: Mapped[date] = mapped_column(Date, primary_key=True)  # a month's first day, or the day
    span: Mapped[str] = mapped_column(String(8), primary_key=True)  # "month" or "day"
    timezone: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    counted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ReportCount(Base):
    """One exact count: events of ``measure`` in a stored period at ``site``, by ``dimension``."""

    __tablename__ = "report_counts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["start", "span"],
            ["report_periods.start", "report_periods.span"],
            ondelete="CASCADE",
            name="fk_report_counts_period",
        ),
        UniqueConstraint("start", "span", "measure", "site", "dimension", "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[date] = mapped_column(Date, index=True)
    span: Mapped[str] = mapped_column(String(8))
    measure: Mapped[str] = mapped_column(String(16))
    site: Mapped[str] = mapped_column(String(32))
    dimension: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)


# Range scans that count one month's events live (and each closed month once). Declared here,
# beside the queries that use them, rather than in the domains that own the tables.
Index("ix_applications_submitted_at", Application.__table__.c.submitted_at)
Index("ix_applications_decided_at", Application.__table__.c.decided_at)
Index("ix_print_batches_released_at", PrintBatch.__table__.c.released_at)
Index("ix_cards_revoked_at", Card.__table__.c.revoked_at)
Index("ix_partner_usage_day", PartnerUsage.__table__.c.day)
