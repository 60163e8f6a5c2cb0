"""Programme statistics: counted from non-personal columns, suppressed before anyone sees them.

What is counted, each in the month (the city's time zone) of the moment named:
  - applications: submitted (``submitted_at``), by enrolment site;
  - decisions (``decided_at``): approvals by site, age band, gender designation and preferred
    language (the coarse copies stored at the decision), rejections by site and main reason;
  - cards released for printing (the batch's ``released_at``) by the batch item's kind (new,
    renewal, replacement; reprints are the same card again and are not counted), by site;
  - revocations (``revoked_at``) by reason, by site;
  - partner verifications (the partner's daily count, a UTC day) by partner kind.
A card's site is its application's; a renewal or replacement made from an earlier card has no
application of its own and counts at the site where the person's application was taken.

No profile is decrypted: nothing here reads a ciphertext. Months that have ended, and the days
that have ended in the month under way, are counted once and stored (``ReportPeriod``,
``ReportCount``); only today and yesterday are counted live. Every figure on the page and in the
CSV passes through ``suppression.protect`` first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Subquery, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from idsys.applications.forms import LANGUAGE_CHOICES
from idsys.applications.models import Application, ApplicationStatus
from idsys.applications.services import AGE_BANDS, REJECT_CODES
from idsys.auth.models import DEFAULT_SITE, StaffUser
from idsys.cards.models import BatchItem, Card, PrintBatch, RevocationReason
from idsys.i18n import N_
from idsys.policy import Policy, local_date
from idsys.reports.models import ReportCount, ReportPeriod
from idsys.reports.suppression import Pos, Protected, protect
from idsys.verification.models import Partner, PartnerKind, PartnerUsage

ROLLUP_VERSION = 1
"""Bump when what a stored month holds changes: stored months of another version are recounted."""

GRACE = timedelta(days=1)
"""A month or day is stored only this long after it ends, so that late commits and partner days
(UTC dates, up to 14 hours off the city's) are in before it is counted for good."""

MAX_MONTHS = 60
EARLIEST = date(2000, 1, 1)
NOT_RECORDED = "not_recorded"  # never a site, band, language or reason code
APPROVED_STATES = (
    ApplicationStatus.APPROVED.value,
    ApplicationStatus.PRINTED.value,
    ApplicationStatus.ISSUED.value,
)
CARD_KINDS = ("new", "renewal", "replacement")


class Measure(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CARD = "card"
    REVOKED = "revoked"
    VERIFIED = "verified"


class Dimension(StrEnum):
    ALL = "all"
    AGE_BAND = "age_band"
    GENDER = "gender"
    LANGUAGE = "language"
    REASON = "reason"
    KIND = "kind"


class Key(NamedTuple):
    month: date
    measure: str
    site: str
    dimension: str
    category: str


# -- periods ------------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_end(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


class InvalidPeriod(ValueError):
    """A date range that cannot be shown; ``field`` is "start" or "end", the message a msgid
    (translated where shown) with ``params``."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.field, self.message, self.params = field, message, params


@dataclass(frozen=True)
class Period:
    """Whole months, from ``first`` to ``last`` (each the first day of its month).

    Whole months, not days: two ranges a day apart could otherwise be subtracted to show the
    decisions of that single day.
    """

    first: date
    last: date

    def months(self) -> list[date]:
        count = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month
        return [add_months(self.first, n) for n in range(count + 1)]

    @property
    def end(self) -> date:
        return month_end(self.last)


def default_period(today: date) -> Period:
    """The last twelve months, this one included."""
    return Period(add_months(month_start(today), -11), month_start(today))


def make_period(start: date | None, end: date | None, today: date) -> Period:
    """The whole months covering ``start``..``end`` (either may be left out); InvalidPeriod if
    the range is reversed, too long, before 2000 or reaches past this month."""
    if start is not None and start < EARLIEST:
        raise InvalidPeriod("start", N_("Choose a date in the year 2000 or later."))
    if end is not None and end < EARLIEST:
        raise InvalidPeriod("end", N_("Choose a date in the year 2000 or later."))
    last = month_start(end) if end else month_start(today)
    first = month_start(start) if start else max(add_months(last, -11), EARLIEST)
    if first > month_start(today):
        raise InvalidPeriod("start", N_("The start cannot be in a month that has not begun."))
    if last > month_start(today):
        raise InvalidPeriod("end", N_("The end cannot be in a month that has not begun."))
    if first > last:
        raise InvalidPeriod("start", N_("The start must be before the end."))
    period = Period(first, last)
    if len(period.months()) > MAX_MONTHS:
        raise InvalidPeriod(
            "start", N_("Choose at most %(count)s months at a time."), count=MAX_MONTHS
        )
    return period


# -- counting -----------------------------------------------------------------------------------


class Span(StrEnum):
    MONTH = "month"
    DAY = "day"


def _end(start: date, span: Span) -> date:
    return add_months(start, 1) if span is Span.MONTH else start + timedelta(days=1)


def _utc_bounds(policy: Policy, start: date, end: date) -> tuple[datetime, datetime]:
    """Midnight in the city at ``start`` and at ``end``, as UTC instants."""
    first = datetime.combine(start, time(0), tzinfo=policy.tzinfo).astimezone(UTC)
    last = datetime.combine(end, time(0), tzinfo=policy.tzinfo).astimezone(UTC)
    return first, last


def main_reason(codes: str | None) -> str:
    """The first of a rejection's reasons in the catalogue's order: one per rejection, so that
    the reasons add up to the rejections (suppression needs the table to add up)."""
    given = set((codes or "").split(","))
    return next((code for code in REJECT_CODES if code in given), "other")


def _site_of_card() -> tuple[ColumnElement[str], Any]:
    """The card's application's site; for a card made from an earlier one (no application of
    its own), the site where that person's application was taken. Built once: aliasing a
    mapped class costs more than the query it serves."""
    own = aliased(Application)
    enrolled = aliased(Application)
    taken_at = (
        select(func.min(enrolled.site))
        .where(enrolled.applicant_id == Card.applicant_id)
        .correlate(Card)
        .scalar_subquery()
    )
    return func.coalesce(own.site, taken_at, NOT_RECORDED), own


_CARD_SITE, _CARD_APPLICATION = _site_of_card()


def count_span(session: Session, policy: Policy, first: date, span: Span) -> Counter[Key]:
    """Exact counts for one month or one day, straight from the non-personal columns, through
    the date indexes. Keys name the month the period falls in."""
    after = _end(first, span)
    start, end = _utc_bounds(policy, first, after)
    month = month_start(first)
    counts: Counter[Key] = Counter()

    def add(
        measure: Measure, site: str | None, dimension: Dimension, category: str | None, n: int
    ) -> None:
        key = Key(month, measure, site or NOT_RECORDED, dimension, category or NOT_RECORDED)
        counts[key] += n

    def add_by_site(rows: Subquery, measure: Measure, dimension: Dimension) -> None:
        """Count ``rows`` (columns ``site`` and ``category``) by both."""
        query = select(rows.c.site, rows.c.category, func.count()).group_by(
            rows.c.site, rows.c.category
        )
        for site, category, n in session.execute(query):
            add(measure, site, dimension, category, n)

    submitted = select(Application.site, func.count()).where(
        Application.submitted_at >= start, Application.submitted_at < end
    )
    for site, n in session.execute(submitted.group_by(Application.site)):
        add(Measure.SUBMITTED, site, Dimension.ALL, Measure.SUBMITTED, n)

    decided = (Application.decided_at >= start, Application.decided_at < end)
    approved = (
        select(
            Application.site,
            Application.age_band,
            Application.gender_designation,
            Application.preferred_language,
            func.count(),
        )
        .where(*decided, Application.status.in_(APPROVED_STATES))
        .group_by(
            Application.site,
            Application.age_band,
            Application.gender_designation,
            Application.preferred_language,
        )
    )
    for site, band, gender, language, n in session.execute(approved):
        add(Measure.APPROVED, site, Dimension.AGE_BAND, band, n)
        add(Measure.APPROVED, site, Dimension.GENDER, gender, n)
        add(Measure.APPROVED, site, Dimension.LANGUAGE, language, n)
    rejected = (
        select(Application.site, Application.decision_codes, func.count())
        .where(*decided, Application.status == ApplicationStatus.REJECTED.value)
        .group_by(Application.site, Application.decision_codes)
    )
    for site, codes, n in session.execute(rejected):
        add(Measure.REJECTED, site, Dimension.REASON, main_reason(codes), n)

    # The month's batches first (a few dozen): naming them lets the database reach their items
    # through the batch index instead of weighing a scan of every batch item ever printed.
    batches = list(
        session.scalars(
            select(PrintBatch.id).where(
                PrintBatch.released_at >= start, PrintBatch.released_at < end
            )
        )
    )
    released = (
        select(_CARD_SITE.label("site"), BatchItem.kind.label("category"))
        .select_from(BatchItem)
        .join(Card, Card.id == BatchItem.card_id)
        .outerjoin(_CARD_APPLICATION, _CARD_APPLICATION.id == Card.application_id)
        .where(
            BatchItem.batch_id.in_(batches),
            BatchItem.kind.in_(CARD_KINDS),  # not reprints: the same card again
        )
        .subquery()
    )
    add_by_site(released, Measure.CARD, Dimension.KIND)

    revoked = (
        select(_CARD_SITE.label("site"), Card.revocation_reason.label("category"))
        .select_from(Card)
        .outerjoin(_CARD_APPLICATION, _CARD_APPLICATION.id == Card.application_id)
        .where(
            Card.revoked_at >= start,
            Card.revoked_at < end,
            Card.revocation_reason.in_([r.value for r in RevocationReason]),
        )
        .subquery()
    )
    add_by_site(revoked, Measure.REVOKED, Dimension.REASON)

    verified = (
        select(Partner.kind, func.sum(PartnerUsage.count))
        .join(Partner, Partner.id == PartnerUsage.partner_id)
        .where(
            PartnerUsage.day >= first,
            PartnerUsage.day < after,
            Partner.kind.in_([k.value for k in PartnerKind]),
        )
        .group_by(Partner.kind)
    )
    for kind, n in session.execute(verified):
        counts[Key(month, Measure.VERIFIED, "", Dimension.KIND, kind)] += int(n or 0)
    return counts


def is_closed(policy: Policy, first: date, span: Span, now: datetime) -> bool:
    """Has the period ended (in the city) long enough ago for its counts to be final?"""
    return now >= _utc_bounds(policy, first, _end(first, span))[1] + GRACE


def _store(session: Session, policy: Policy, first: date, span: Span, counts: Counter[Key]) -> None:
    """Keep a closed period's counts. Two workers storing the same period at once: the second
    one's insert fails on the key, its savepoint is rolled back, and it keeps its own (equal)
    counts for this request."""
    try:
        with session.begin_nested():
            session.add(
                ReportPeriod(
                    start=first, span=span.value, timezone=policy.timezone, version=ROLLUP_VERSION
                )
            )
            session.flush()
            rows = [
                {
                    "start": first,
                    "span": span.value,
                    "measure": key.measure,
                    "site": key.site,
                    "dimension": key.dimension,
                    "category": key.category,
                    "count": n,
                }
                for key, n in counts.items()
                if n
            ]
            if rows:
                session.execute(insert(ReportCount), rows)
    except IntegrityError:
        pass


def _forget(session: Session, periods: Iterable[tuple[date, str]]) -> None:
    for first, span in periods:
        where = (ReportCount.start == first, ReportCount.span == span)
        session.execute(delete(ReportCount).where(*where))
        session.execute(
            delete(ReportPeriod).where(ReportPeriod.start == first, ReportPeriod.span == span)
        )


def _sum_of_days(session: Session, month: date) -> Counter[Key]:
    """The stored days of ``month``, added up by the database (one row per category)."""
    columns = (ReportCount.measure, ReportCount.site, ReportCount.dimension, ReportCount.category)
    query = (
        select(*columns, func.sum(ReportCount.count))
        .where(
            ReportCount.span == Span.DAY,
            ReportCount.start >= month,
            ReportCount.start < add_months(month, 1),
        )
        .group_by(*columns)
    )
    return Counter({Key(month, *key): int(n) for *key, n in session.execute(query)})


def _days(month: date, until: date) -> Iterator[date]:
    day = month
    while day <= until and day < add_months(month, 1):
        yield day
        day += timedelta(days=1)


def load_counts(
    session: Session, policy: Policy, months: Sequence[date], now: datetime
) -> Counter[Key]:
    """Counts for ``months``. A closed month is read back, or made and stored; in a month
    under way each closed day likewise, so that only the days not yet closed (today,
    yesterday) are counted live. A month that closes is made from its stored days (and any day
    missing), which then give way to it; a month mostly without stored days (history, on the
    first view) is counted whole. Flushes (the view commits what was stored)."""
    first, after = months[0], add_months(months[-1], 1)
    stored = {
        (row.start, row.span): row
        for row in session.scalars(
            select(ReportPeriod).where(ReportPeriod.start >= first, ReportPeriod.start < after)
        )
    }
    stale = [
        key
        for key, row in stored.items()
        if row.timezone != policy.timezone or row.version != ROLLUP_VERSION
    ]
    _forget(session, stale)
    ready = set(stored) - set(stale)
    whole = {start for start, span in ready if span == Span.MONTH}
    counts: Counter[Key] = Counter()
    if whole:
        stored_months = select(
            ReportCount.start,
            ReportCount.measure,
            ReportCount.site,
            ReportCount.dimension,
            ReportCount.category,
            ReportCount.count,
        ).where(ReportCount.span == Span.MONTH, ReportCount.start.in_(whole))
        for start, measure, site, dimension, category, n in session.execute(stored_months):
            counts[Key(start, measure, site, dimension, category)] += n
    today = local_date(policy, now)
    for month in months:
        if month in whole:
            continue
        days = [(d, s) for d, s in ready if s == Span.DAY and month_start(d) == month]
        closed = is_closed(policy, month, Span.MONTH, now)
        if closed and len(days) < 15:  # mostly not stored by day: one count of the whole month
            fresh = count_span(session, policy, month, Span.MONTH)
        else:
            fresh = _sum_of_days(session, month) if days else Counter()
            for day in _days(month, today if not closed else month_end(month)):
                if (day, Span.DAY) not in ready:
                    counted = count_span(session, policy, day, Span.DAY)
                    fresh.update(counted)
                    if not closed and is_closed(policy, day, Span.DAY, now):
                        _store(session, policy, day, Span.DAY, counted)
        if closed:
            _forget(session, days)  # the month's days give way to the month
            _store(session, policy, month, Span.MONTH, fresh)
        counts.update(fresh)
    session.flush()
    return counts


def recount(session: Session, policy: Policy, now: datetime) -> int:
    """Forget every stored period and store again all closed months that have data (after a
    correction made directly in the database). Returns the number of months stored; the days
    of the month under way are counted again when the dashboard next needs them."""
    session.execute(delete(ReportCount))
    session.execute(delete(ReportPeriod))
    firsts = [
        session.scalar(select(func.min(Application.submitted_at))),
        session.scalar(select(func.min(PrintBatch.released_at))),
    ]
    days = [moment.date() for moment in firsts if moment is not None]
    first_day = session.scalar(select(func.min(PartnerUsage.day)))
    if first_day is not None:
        days.append(first_day)
    if not days:
        return 0
    # One month early: a UTC date can fall in the month before in the city.
    month = add_months(month_start(max(min(days), EARLIEST)), -1)
    stored = 0
    while is_closed(policy, month, Span.MONTH, now):
        _store(session, policy, month, Span.MONTH, count_span(session, policy, month, Span.MONTH))
        month = add_months(month, 1)
        stored += 1
    session.flush()
    return stored


# -- the dashboard ------------------------------------------------------------------------------

ChartKind = str  # "columns" (grouped, one group per row) or "bars" (one bar per row)


@dataclass(frozen=True)
class Figure:
    """One table (and its chart): labels in the page's language, codes for the CSV."""

    key: str
    title: str
    row_heading: str
    row_codes: tuple[str, ...]
    row_labels: tuple[str, ...]
    col_codes: tuple[str, ...]
    col_labels: tuple[str, ...]
    table: Protected
    chart: ChartKind


@dataclass(frozen=True)
class Dashboard:
    period: Period
    threshold: int
    figures: tuple[Figure, ...]

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


GENDERS = (
    ("F", "F"),
    ("M", "M"),
    ("X", "X"),
    ("none", N_("Not shown")),
    (NOT_RECORDED, N_("Not recorded")),
)
REVOCATION_REASONS = (
    (RevocationReason.LOST.value, N_("Lost")),
    (RevocationReason.STOLEN.value, N_("Stolen")),
    (RevocationReason.DAMAGED.value, N_("Damaged")),
    (RevocationReason.FRAUD.value, N_("Fraud")),
    (RevocationReason.SUPERSEDED.value, N_("Superseded by a new card")),
)
PARTNER_KINDS = (
    (PartnerKind.LIBRARY.value, N_("Libraries")),
    (PartnerKind.BANK.value, N_("Banks")),
    (PartnerKind.CLINIC.value, N_("Clinics")),
    (PartnerKind.OTHER.value, N_("Other partners")),
)
KIND_LABELS = (
    ("new", N_("New cards")),
    ("renewal", N_("Renewals")),
    ("replacement", N_("Replacements")),
)
LANGUAGES = tuple((code, name) for code, name in LANGUAGE_CHOICES if code)
LISTED: dict[str, frozenset[str]] = {
    Dimension.AGE_BAND: frozenset({label for _low, _high, label in AGE_BANDS} | {NOT_RECORDED}),
    Dimension.GENDER: frozenset(code for code, _label in GENDERS),
    Dimension.LANGUAGE: frozenset({code for code, _name in LANGUAGES} | {"none", NOT_RECORDED}),
}


def _categorise(dimension: str, category: str) -> str:
    """The listed category a stored value falls in: every value falls in exactly one, so that
    each table adds up to the same programme-wide total as the others."""
    listed = LISTED.get(dimension)
    if listed is None or category in listed:
        return category
    return "other" if dimension == Dimension.LANGUAGE else NOT_RECORDED


class _Totals:
    """The counts summed once by month, by site and by category, for every measure."""

    def __init__(self, counts: Counter[Key]) -> None:
        self.by_month: Counter[tuple[str, str, date, str]] = Counter()
        self.by_site: Counter[tuple[str, str, str]] = Counter()
        self.by_category: Counter[tuple[str, str, str]] = Counter()
        for key, n in counts.items():
            category = _categorise(key.dimension, key.category)
            self.by_month[(key.measure, key.dimension, key.month, category)] += n
            self.by_month[(key.measure, key.dimension, key.month, "*")] += n
            self.by_site[(key.measure, key.dimension, key.site)] += n
            self.by_category[(key.measure, key.dimension, category)] += n

    def month(
        self, measure: Measure, dimension: Dimension, month: date, category: str = "*"
    ) -> int:
        return self.by_month[(measure, dimension, month, category)]

    def site(self, measure: Measure, dimension: Dimension, site: str) -> int:
        return self.by_site[(measure, dimension, site)]

    def category(self, measure: Measure, dimension: Dimension, category: str) -> int:
        return self.by_category[(measure, dimension, category)]


def _sites(session: Session, counts: Counter[Key]) -> list[str]:
    """Every site staff work at or that has figures in the period; "not recorded" last."""
    found = set(session.scalars(select(StaffUser.site).distinct())) or {DEFAULT_SITE}
    found |= {key.site for key in counts if key.site and key.measure != Measure.VERIFIED}
    ordered = sorted(found - {NOT_RECORDED})
    return [*ordered, NOT_RECORDED] if NOT_RECORDED in found else ordered


def dashboard(
    session: Session,
    policy: Policy,
    period: Period,
    *,
    now: datetime,
    translate: Callable[[str], str] = str,
) -> Dashboard:
    """Every table of the statistics page for ``period``, suppressed for display.

    Tables share only programme-wide totals (approvals, rejections, applications, cards,
    revocations, verifications in the period); those are locked, so complementary suppression
    never hides in one table a figure that another one shows.
    """
    months = period.months()
    counts = load_counts(session, policy, months, now)
    sums = _Totals(counts)
    threshold = policy.small_cell_threshold
    month_codes = tuple(m.strftime("%Y-%m") for m in months)
    sites = _sites(session, counts)
    site_labels = tuple(translate(N_("Not recorded")) if s == NOT_RECORDED else s for s in sites)
    t = translate

    def one_d(cells: list[list[int]]) -> Protected:
        cols = len(cells[0])
        locked: list[Pos] = [(len(cells), j) for j in range(cols)]
        return protect(cells, threshold, row_totals=False, col_totals=True, locked=locked)

    def two_d(cells: list[list[int]]) -> Protected:
        grand: Pos = (len(cells), len(cells[0]))
        return protect(cells, threshold, row_totals=True, col_totals=True, locked=[grand])

    figures: list[Figure] = []

    def add(
        key: str,
        title: str,
        heading: str,
        rows: Iterable[tuple[str, str]],
        cols: Iterable[tuple[str, str]],
        table: Protected,
        chart: ChartKind,
    ) -> None:
        row_pairs, col_pairs = list(rows), list(cols)
        figures.append(
            Figure(
                key,
                t(title),
                t(heading),
                tuple(code for code, _ in row_pairs),
                tuple(label for _, label in row_pairs),
                tuple(code for code, _ in col_pairs),
                tuple(label for _, label in col_pairs),
                table,
                chart,
            )
        )

    month_rows = [(code, code) for code in month_codes]
    decisions = (
        (Measure.SUBMITTED, Dimension.ALL, N_("Applications")),
        (Measure.APPROVED, Dimension.AGE_BAND, N_("Approved")),
        (Measure.REJECTED, Dimension.REASON, N_("Rejected")),
    )
    add(
        "by_month",
        N_("Applications and decisions by month"),
        N_("Month"),
        month_rows,
        [(m.value, t(label)) for m, _, label in decisions],
        one_d([[sums.month(m, d, month) for m, d, _ in decisions] for month in months]),
        "columns",
    )

    def add_by_month(
        key: str,
        title: str,
        measure: Measure,
        dimension: Dimension,
        categories: Iterable[tuple[str, str]],
    ) -> None:
        """A month-by-category table (cards by kind, revocations by reason, ...)."""
        pairs = list(categories)
        add(
            key,
            title,
            N_("Month"),
            month_rows,
            [(code, t(label)) for code, label in pairs],
            two_d(
                [
                    [sums.month(measure, dimension, month, code) for code, _ in pairs]
                    for month in months
                ]
            ),
            "columns",
        )

    add_by_month(
        "cards_by_month", N_("Cards issued by month"), Measure.CARD, Dimension.KIND, KIND_LABELS
    )
    add_by_month(
        "revocations_by_month",
        N_("Revocations by month and reason"),
        Measure.REVOKED,
        Dimension.REASON,
        REVOCATION_REASONS,
    )
    by_site = (
        *decisions,
        (Measure.CARD, Dimension.KIND, N_("Cards issued")),
        (Measure.REVOKED, Dimension.REASON, N_("Revocations")),
    )
    add(
        "by_site",
        N_("By enrolment site"),
        N_("Site"),
        zip(sites, site_labels, strict=True),
        [(m.value, t(label)) for m, _, label in by_site],
        one_d([[sums.site(m, d, site) for m, d, _ in by_site] for site in sites]),
        "columns",
    )
    reasons = [(code, t(label)) for code, label in REJECT_CODES.items()]
    add(
        "rejection_reasons",
        N_("Rejections by main reason"),
        N_("Reason"),
        reasons,
        [(Measure.REJECTED.value, t(N_("Rejected")))],
        one_d([[sums.category(Measure.REJECTED, Dimension.REASON, code)] for code, _ in reasons]),
        "bars",
    )
    approved = [(Measure.APPROVED.value, t(N_("Approved")))]
    bands = [(label, label) for _low, _high, label in AGE_BANDS]
    bands.append((NOT_RECORDED, t(N_("Not recorded"))))
    add(
        "age_bands",
        N_("Approvals by age band"),
        N_("Age band"),
        bands,
        approved,
        one_d([[sums.category(Measure.APPROVED, Dimension.AGE_BAND, c)] for c, _ in bands]),
        "bars",
    )
    genders = [
        (code, t(label) if code not in {"F", "M", "X"} else label) for code, label in GENDERS
    ]
    add(
        "gender",
        N_("Approvals by gender designation"),
        N_("Gender designation"),
        genders,
        approved,
        one_d([[sums.category(Measure.APPROVED, Dimension.GENDER, c)] for c, _ in genders]),
        "bars",
    )
    languages = [
        *LANGUAGES,
        ("other", t(N_("Other languages"))),
        ("none", t(N_("None given"))),
        (NOT_RECORDED, t(N_("Not recorded"))),
    ]
    add(
        "language",
        N_("Approvals by preferred language"),
        N_("Preferred language"),
        languages,
        approved,
        one_d(
            [[sums.category(Measure.APPROVED, Dimension.LANGUAGE, code)] for code, _ in languages]
        ),
        "bars",
    )
    add_by_month(
        "verifications_by_month",
        N_("Partner verifications by month and partner kind"),
        Measure.VERIFIED,
        Dimension.KIND,
        PARTNER_KINDS,
    )
    return Dashboard(period, threshold, tuple(figures))


# -- export -------------------------------------------------------------------------------------


def csv_rows(board: Dashboard) -> Iterator[list[str]]:
    """The same suppressed figures as the page, one per line, with stable codes (not the page's
    language) so that a spreadsheet made from one download matches the next."""
    yield ["table", "row", "column", "value"]
    for figure in board.figures:
        table = figure.table
        row_codes = [*figure.row_codes, *(["total"] if table.has_col_totals else [])]
        col_codes = [*figure.col_codes, *(["total"] if table.has_row_totals else [])]
        for i, row in enumerate(row_codes):
            for j, col in enumerate(col_codes):
                pos = (i, j)
                if pos not in table.values:
                    continue
                shown = table.value(pos)
                value = str(shown) if shown is not None else table.marker(pos) or ""
                yield [figure.key, row, col, value]
