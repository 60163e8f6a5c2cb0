"""The document-rules engine: a pure function from policy, applicant and documents to a decision.

Nothing here reads a clock, a database or the network, so every rule can be tested with fixed
dates, and the same inputs always give the same decision (which the audit log relies on).

Conventions (the clerk screen and the tests rely on them):

* All dates are the city's local dates (see `local_date`); a day count is a plain difference of
  dates, `(on_date - earlier).days`.
* Residence: a utility receipt dated D proves that the applicant lived at the address on D; a
  letter from a shelter, hospital or association states the date S since which they have lived
  there. Combined with the applicant's current address, evidence of residence on D (or since S)
  means residence from then until today, so the days of residence are `on_date - D` (or
  `on_date - S`). A minimum of 30 days is met by 30 days or more: with today 2026-11-22, a
  receipt dated 2026-10-23 (30 days) passes and one dated 2026-10-24 (29 days) does not. A receipt
  dated today proves 0 days; to prove 30 days a receipt must therefore be at least 30 days old and
  still inside its recency window, or a recent letter must state a `resident_since` 30 or more days
  ago. When several documents qualify, the one proving the longest residence is used.
* Recency window of N days: a residency document dated N days ago still counts, N + 1 does not.
* Expiry: a document is valid through its expiry date. Once expired it counts only if the policy
  gives it a grace period: while it has been expired for at most `expired_grace_days` days it gives
  `expired_points` identity points and never residency; after that it does not count.
* A date in the future (issue date or `resident_since`) is refused: the clerk mis-typed it or the
  document is not genuine, and either way it proves nothing yet. A date of today is fine.
* Each catalogue code earns points once: a second document of the same kind can still be the
  better residence evidence, but it adds no points.
* Ages are whole years reached on `on_date`; someone born on 29 February becomes a year older on
  1 March in common years (still the younger age on 28 February).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from idsys.policy.loader import DocumentType, Policy, ResidenceEvidence

ParamValue = str | int | date
"""Values in `Reason.params`: labels and codes, counts, and dates (rendered as YYYY-MM-DD)."""


def N_(s: str) -> str:  # noqa: N802 -- the conventional gettext name for "extract, don't translate"
    """Mark a message template for extraction (pybabel -k N_); translation happens later."""
    return s


def _no_translation(s: str) -> str:
    return s


# --------------------------------------------------------------------------------------------
# message templates: English str.format templates, passed through `translate` before formatting

AGE_DOB_FUTURE = N_("Age: the date of birth {date_of_birth} is after today ({on_date})")
AGE_TOO_YOUNG = N_("Age: the applicant is {age}; the minimum age is {minimum_age}")
AGE_CARETAKER_REQUIRED = N_(
    "Age: the applicant is {age}; applicants younger than {caretaker_below} "
    "must come with a caretaker"
)
AGE_WITH_CARETAKER = N_(
    "Age: the applicant is {age} and came with a caretaker (required below {caretaker_below})"
)
AGE_OK = N_("Age: the applicant is {age} (minimum age: {minimum_age})")
AGE_OK_NO_MINIMUM = N_("Age: the applicant is {age}")

DOC_UNKNOWN = N_('Document "{code}" is not in this programme\'s list; it does not count')
DOC_NAME_MISMATCH = N_(
    "{document}: the name does not match the applicant's; the document does not count"
)
DOC_FUTURE_ISSUE = N_(
    "{document}: dated {date}, which is after today ({on_date}); the document does not count"
)
DOC_FUTURE_SINCE = N_(
    "{document}: states residence since {date}, which is after today ({on_date}); "
    "it does not count for residency"
)
DOC_EXPIRED = N_("{document}: expired on {expiry_date}; expired documents do not count")
DOC_EXPIRED_BEYOND_GRACE = N_(
    "{document}: expired on {expiry_date}, {days_expired} days ago; it counts only up to "
    "{grace_days} days after expiry, so the document does not count"
)
DOC_EXPIRED_WITHIN_GRACE = N_(
    "{document}: expired on {expiry_date}, {days_expired} days ago (limit: {grace_days}); "
    "accepted for identity only (identity +{identity_points})"
)
DOC_EXPIRY_MISSING = N_(
    "{document}: the expiry date must be recorded; the document does not count until it is"
)
DOC_ISSUE_MISSING = N_(
    "{document}: the date on the document must be recorded; "
    "it does not count for residency until it is"
)
DOC_SINCE_MISSING = N_(
    "{document}: the date since which it states residence must be recorded; "
    "it does not count for residency until it is"
)
DOC_SINCE_AFTER_ISSUE = N_(
    "{document}: states residence since {resident_since}, after its own date {issue_date}; "
    "it does not count for residency"
)
DOC_TOO_OLD = N_(
    "{document}: dated {issue_date}, {age_days} days ago; residency documents must be at most "
    "{window_days} days old, so it does not count for residency"
)
DOC_ADDRESS_MISMATCH = N_(
    "{document}: the address does not match the applicant's; it does not count for residency"
)
DOC_ACCEPTED_IDENTITY = N_("{document}: accepted (identity +{identity_points})")
DOC_ACCEPTED_RESIDENCY = N_("{document}: accepted (residency +{residency_points})")
DOC_ACCEPTED_BOTH = N_(
    "{document}: accepted (identity +{identity_points}, residency +{residency_points})"
)
DOC_SAME_KIND = N_(
    "{document}: another document of the same kind already counts; this one adds no points"
)

IDENTITY_OK = N_("Identity points: {points} (required: {required})")
IDENTITY_SHORT = N_("Identity points: {points}; {required} are required ({missing} more)")
IDENTITY_COVERED = N_("Identity: covered by {document} with an address in the city")
RESIDENCY_OK = N_("Residency points: {points} (required: {required})")
RESIDENCY_SHORT = N_("Residency points: {points}; {required} are required ({missing} more)")
RESIDENCY_COVERED = N_("Residency: covered by {document} with an address in the city")
TOTAL_OK = N_("Total points: {points} (required: {required})")
TOTAL_SHORT = N_("Total points: {points}; {required} are required ({missing} more)")
TOTAL_COVERED = N_("Total points: covered by {document} with an address in the city")

DURATION_OK_DATED = N_(
    "Residency: {document} dated {date} shows {days} days of residence (required: {required})"
)
DURATION_OK_DATED_ONE = N_(
    "Residency: {document} dated {date} shows {days} day of residence (required: {required})"
)
DURATION_OK_SINCE = N_(
    "Residency: {document} states residence since {date}, {days} days ago (required: {required})"
)
DURATION_OK_SINCE_ONE = N_(
    "Residency: {document} states residence since {date}, {days} day ago (required: {required})"
)
DURATION_SHORT_DATED = N_(
    "Residency: {document} dated {date} shows {days} days of residence; {required} are required"
)
DURATION_SHORT_DATED_ONE = N_(
    "Residency: {document} dated {date} shows {days} day of residence; {required} are required"
)
DURATION_SHORT_SINCE = N_(
    "Residency: {document} states residence since {date}, {days} days ago; {required} are required"
)
DURATION_SHORT_SINCE_ONE = N_(
    "Residency: {document} states residence since {date}, {days} day ago; {required} are required"
)
DURATION_UNPROVEN = N_(
    "Residency: no accepted document shows since when the applicant lives here; "
    "{required} days of residence are required"
)

PHOTO_OK = N_("Photo: shown on {document}")
PHOTO_WAIVED = N_(
    "Photo: not required, because the applicant is {age} (at most {max_age}) "
    "and came with a caretaker"
)
PHOTO_WAIVED_BY_AGE = N_("Photo: not required, because the applicant is {age} (at most {max_age})")
PHOTO_MISSING = N_("Photo: no accepted document shows the applicant's photo; one is required")
DOB_OK = N_("Date of birth: shown on {document}")
DOB_MISSING = N_("Date of birth: no accepted document shows it; one is required")


# --------------------------------------------------------------------------------------------
# public data types


class Severity(StrEnum):
    """How the clerk screen shows a reason.

    OK: a rule is met or a document counts. WARNING: a document does not count (or counts for
    less); not a refusal by itself, since other documents may make up for it. BLOCKING: a
    requirement is not met, so the application cannot be approved as it stands.
    """

    OK = "ok"
    WARNING = "warning"
    BLOCKING = "blocking"


@dataclass(frozen=True, kw_only=True)
class ApplicantFacts:
    """What the rules need to know about the person (nothing else is asked)."""

    date_of_birth: date
    has_caretaker: bool = False


@dataclass(frozen=True, kw_only=True)
class PresentedDocument:
    """One original shown at the counter, reduced to what the rules need.

    `name_matches` has no default so a form cannot forget it; `address_matches` defaults to False
    (fail safe): only residency evidence looks at it. `resident_since` is read only for documents
    whose catalogue entry has `residence_evidence = "resident_since"`: a receipt does not say since
    when anyone lived anywhere.
    """

    code: str
    name_matches: bool
    address_matches: bool = False
    issue_date: date | None = None
    expiry_date: date | None = None
    resident_since: date | None = None


@dataclass(frozen=True)
class Reason:
    """One line of the clerk's checklist: a stable `code`, its values and the rendered text.

    `document_index` is the position of the presented document the reason is about (None for
    application-wide rules), so the screen can show it next to that row.
    """

    code: str
    severity: Severity
    text: str
    params: Mapping[str, ParamValue] = field(default_factory=dict, hash=False)
    document_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.severity is Severity.OK

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCKING


@dataclass(frozen=True)
class Decision:
    """The outcome: `ok` is true exactly when no reason is blocking.

    Points are what the accepted documents earn (each kind once), reported even when a document
    that covers everything makes the thresholds moot. `residence_days` is the longest residence
    any accepted document proves (None when none gives a date); `age` is None when the date of
    birth is in the future.
    """

    ok: bool
    identity_points: int
    residency_points: int
    residence_days: int | None
    age: int | None
    reasons: tuple[Reason, ...]

    @property
    def total_points(self) -> int:
        return self.identity_points + self.residency_points

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def blocking(self) -> tuple[Reason, ...]:
        """What is missing: the reasons that stop approval."""
        return tuple(r for r in self.reasons if r.blocking)

    def for_document(self, index: int) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.document_index == index)


# --------------------------------------------------------------------------------------------
# date helpers


def age_on(date_of_birth: date, on_date: date) -> int:
    """Whole years reached on `on_date`.

    Comparing (month, day) pairs makes someone born on 29 February a year older on 1 March in a
    common year, which is the convention most civil registries use.
    """
    years = on_date.year - date_of_birth.year
    if (on_date.month, on_date.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def _add_years(start: date, years: int) -> date:
    """Same day `years` later; 29 February becomes 28 February in a common year, so a card
    never outlives its nominal term."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def local_date(policy: Policy, moment: datetime) -> date:
    """The city's calendar date at `moment`.

    Day counts (residence, recency, expiry, age) are decided on the city's date, not the
    server's: at 23:30 in New York it is already tomorrow in UTC. A naive datetime is refused
    because its meaning depends on the server's settings.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return moment.astimezone(policy.tzinfo).date()


def card_expiry(policy: Policy, date_of_birth: date, issue_date: date) -> date | None:
    """Expiry of a card issued on `issue_date`, from the applicant's age band at issue.

    None means the card never expires (some cities do this for 65 and over). Raises ValueError
    for an age below every band: such an applicant cannot be issued a card at all.
    """
    if date_of_birth > issue_date:
        raise ValueError("date of birth is after the issue date")
    age = age_on(date_of_birth, issue_date)
    band = None
    for candidate in policy.card.validity:
        if candidate.from_age <= age:
            band = candidate
    if band is None:
        raise ValueError(f"no card validity band for age {age} in policy {policy.id}")
    if band.years is None:
        return None
    return _add_years(issue_date, band.years)


def renewal_window(policy: Policy, expiry: date) -> tuple[date, date]:
    """First and last day (both inclusive) on which a card expiring on `expiry` may be renewed;
    outside it the holder must make a new application."""
    return (
        expiry - timedelta(days=policy.card.renewal_opens_days_before_expiry),
        expiry + timedelta(days=policy.card.renewal_closes_days_after_expiry),
    )


def can_renew(policy: Policy, expiry: date | None, on_date: date) -> bool:
    """Whether renewal (rather than a new application) is possible on `on_date`; a card that
    never expires is never renewed."""
    if expiry is None:
        return False
    opens, closes = renewal_window(policy, expiry)
    return opens <= on_date <= closes


def retention_until(policy: Policy, decided_on: date) -> date:
    """Last day the recorded document details may be kept after a decision.

    With the default retention of 0 days this is the decision day itself: details are purged as
    part of deciding, leaving only the outcome.
    """
    return decided_on + timedelta(days=policy.document_retention_days)


# --------------------------------------------------------------------------------------------
# the engine


class _Checklist:
    """Collects reasons, rendering each template in the caller's language."""

    def __init__(self, translate: Callable[[str], str]) -> None:
        self.translate = translate
        self.reasons: list[Reason] = []

    def make(
        self,
        reason_code: str,
        severity: Severity,
        template: str,
        index: int | None = None,
        /,
        **params: ParamValue,
    ) -> Reason:
        try:
            text = self.translate(template).format(**params)
        except (KeyError, IndexError, ValueError):
            # A broken translation must not stop the counter: fall back to the English template.
            text = template.format(**params)
        return Reason(reason_code, severity, text, MappingProxyType(dict(params)), index)

    def add(
        self,
        reason_code: str,
        severity: Severity,
        template: str,
        index: int | None = None,
        /,
        **params: ParamValue,
    ) -> None:
        self.reasons.append(self.make(reason_code, severity, template, index, **params))


@dataclass
class _Assessed:
    """One presented document that counts for something."""

    index: int
    doc: DocumentType
    label: str
    identity_points: int
    residency_points: int
    evidence: tuple[date, ResidenceEvidence] | None
    covers_all: bool
    grace_params: dict[str, ParamValue] | None
    notes: list[Reason]


class _DocumentCheck:
    """The checks on one presented document, collecting why a part of it does not count."""

    def __init__(
        self,
        policy: Policy,
        doc: DocumentType,
        presented: PresentedDocument,
        index: int,
        context: tuple[date, str, _Checklist],
    ) -> None:
        self.policy = policy
        self.doc = doc
        self.presented = presented
        self.index = index
        self.on_date, language, self.out = context
        self.label = doc.label(language)
        self.notes: list[Reason] = []

    def warn(self, reason_code: str, template: str, **params: ParamValue) -> None:
        self.notes.append(
            self.out.make(
                reason_code,
                Severity.WARNING,
                template,
                self.index,
                document=self.label,
                code=self.doc.code,
                **params,
            )
        )

    def whole_document_ok(self) -> tuple[bool, dict[str, ParamValue] | None]:
        """Name, dates and expiry: any failure here means the document counts for nothing.

        Returns whether it counts, and the grace parameters if it counts only as an expired
        document within its grace period.
        """
        presented, on_date = self.presented, self.on_date
        ok = True
        if not presented.name_matches:
            ok = False
            self.warn("document.name_mismatch", DOC_NAME_MISMATCH)
        if presented.issue_date is not None and presented.issue_date > on_date:
            ok = False
            self.warn(
                "document.future_date",
                DOC_FUTURE_ISSUE,
                field="issue_date",
                date=presented.issue_date,
                on_date=on_date,
            )
        expiry = presented.expiry_date
        if expiry is None:
            if self.doc.expiry_date_required:
                ok = False
                self.warn("document.expiry_date_missing", DOC_EXPIRY_MISSING)
            return ok, None
        if expiry >= on_date:
            return ok, None
        days_expired = (on_date - expiry).days
        grace = self.doc.expired_grace_days
        if grace is None:
            self.warn(
                "document.expired", DOC_EXPIRED, expiry_date=expiry, days_expired=days_expired
            )
            return False, None
        if days_expired > grace:
            self.warn(
                "document.expired",
                DOC_EXPIRED_BEYOND_GRACE,
                expiry_date=expiry,
                days_expired=days_expired,
                grace_days=grace,
            )
            return False, None
        grace_params: dict[str, ParamValue] = {
            "document": self.label,
            "code": self.doc.code,
            "expiry_date": expiry,
            "days_expired": days_expired,
            "grace_days": grace,
            "identity_points": self.doc.expired_points,
        }
        return ok, grace_params

    def residency_ok(self) -> tuple[bool, tuple[date, ResidenceEvidence] | None]:
        """Whether the document counts as residency evidence, and when residence began.

        The issue date is needed when there is a recency window, or when a receipt must prove a
        minimum stay; a letter's `resident_since` is needed when there is a minimum stay.
        """
        presented, on_date, doc = self.presented, self.on_date, self.doc
        minimum_days = self.policy.requirements.minimum_residence_days
        kind = doc.residence_evidence or ResidenceEvidence.DOCUMENT_DATE
        issue = presented.issue_date
        window = doc.recency_window_days
        ok = True

        if not presented.address_matches:
            ok = False
            self.warn("document.address_mismatch", DOC_ADDRESS_MISMATCH)
        needs_issue = window is not None or (
            kind is ResidenceEvidence.DOCUMENT_DATE and minimum_days > 0
        )
        if issue is None and needs_issue:
            ok = False
            self.warn("document.issue_date_missing", DOC_ISSUE_MISSING)
        if issue is not None and window is not None and (on_date - issue).days > window:
            ok = False
            self.warn(
                "document.too_old",
                DOC_TOO_OLD,
                issue_date=issue,
                age_days=(on_date - issue).days,
                window_days=window,
            )

        if kind is ResidenceEvidence.DOCUMENT_DATE:
            began = issue
        else:
            since_ok, began = self._resident_since()
            ok = ok and since_ok
        if not ok:
            return False, None
        return True, (None if began is None else (began, kind))

    def _resident_since(self) -> tuple[bool, date | None]:
        """Whether the letter's `resident_since` is acceptable, and the date if one was given.

        It may be left out only when the policy has no minimum stay to prove.
        """
        since, issue = self.presented.resident_since, self.presented.issue_date
        if since is None:
            if self.policy.requirements.minimum_residence_days > 0:
                self.warn("document.resident_since_missing", DOC_SINCE_MISSING)
                return False, None
            return True, None
        if since > self.on_date:
            self.warn(
                "document.future_date",
                DOC_FUTURE_SINCE,
                field="resident_since",
                date=since,
                on_date=self.on_date,
            )
            return False, None
        if issue is not None and since > issue:
            self.warn(
                "document.dates_inconsistent",
                DOC_SINCE_AFTER_ISSUE,
                resident_since=since,
                issue_date=issue,
            )
            return False, None
        return True, since

    def assess(self) -> _Assessed | None:
        """The document's contribution, or None when it counts for nothing (see `notes`)."""
        counts, grace_params = self.whole_document_ok()
        if not counts:
            return None
        doc = self.doc
        identity = doc.identity_points if grace_params is None else doc.expired_points
        residency = 0
        evidence: tuple[date, ResidenceEvidence] | None = None
        covers_all = False
        # An expired document (within grace) is never residency evidence: it counts for identity.
        if doc.category.proves_residency and grace_params is None:
            residency_counts, evidence = self.residency_ok()
            if residency_counts:
                residency = doc.residency_points
                covers_all = doc.covers_all_when_address_matches
        if identity == 0 and residency == 0:
            return None
        return _Assessed(
            index=self.index,
            doc=doc,
            label=self.label,
            identity_points=identity,
            residency_points=residency,
            evidence=evidence,
            covers_all=covers_all,
            grace_params=grace_params,
            notes=self.notes,
        )


def _check_age(
    policy: Policy, applicant: ApplicantFacts, on_date: date, out: _Checklist
) -> int | None:
    dob = applicant.date_of_birth
    if dob > on_date:
        out.add(
            "age.date_of_birth_in_future",
            Severity.BLOCKING,
            AGE_DOB_FUTURE,
            date_of_birth=dob,
            on_date=on_date,
        )
        return None
    age = age_on(dob, on_date)
    rules = policy.age
    if age < rules.minimum_age:
        out.add(
            "age.too_young",
            Severity.BLOCKING,
            AGE_TOO_YOUNG,
            age=age,
            minimum_age=rules.minimum_age,
        )
    elif age < rules.caretaker_required_below:
        if applicant.has_caretaker:
            out.add(
                "age.caretaker_present",
                Severity.OK,
                AGE_WITH_CARETAKER,
                age=age,
                caretaker_below=rules.caretaker_required_below,
            )
        else:
            out.add(
                "age.caretaker_required",
                Severity.BLOCKING,
                AGE_CARETAKER_REQUIRED,
                age=age,
                caretaker_below=rules.caretaker_required_below,
            )
    else:
        template = AGE_OK if rules.minimum_age > 0 else AGE_OK_NO_MINIMUM
        out.add("age.satisfied", Severity.OK, template, age=age, minimum_age=rules.minimum_age)
    return age


def _assess_documents(
    policy: Policy,
    documents: Sequence[PresentedDocument],
    context: tuple[date, str, _Checklist],
) -> tuple[list[_Assessed], dict[str, _Assessed]]:
    """Assess every document, emit its reasons in presentation order, and pick per kind the
    document that earns the points (the highest-scoring, the first on a tie)."""
    out = context[2]
    checked: list[tuple[int, _Assessed | None, list[Reason]]] = []
    for index, presented in enumerate(documents):
        doc = policy.document(presented.code)
        if doc is None:
            unknown = out.make(
                "document.unknown", Severity.WARNING, DOC_UNKNOWN, index, code=presented.code
            )
            checked.append((index, None, [unknown]))
            continue
        check = _DocumentCheck(policy, doc, presented, index, context)
        checked.append((index, check.assess(), check.notes))

    assessed = [item for _, item, _ in checked if item is not None]
    best_of_kind: dict[str, _Assessed] = {}
    for item in assessed:
        current = best_of_kind.get(item.doc.code)
        score = item.identity_points + item.residency_points
        if current is None or score > current.identity_points + current.residency_points:
            best_of_kind[item.doc.code] = item

    for _, maybe, notes in checked:
        out.reasons.extend(notes)
        if maybe is not None:
            _emit_document(maybe, best_of_kind[maybe.doc.code] is maybe, out)
    return assessed, best_of_kind


def _emit_document(item: _Assessed, counted: bool, out: _Checklist) -> None:
    if not counted:
        out.add(
            "document.same_kind_counted_once",
            Severity.WARNING,
            DOC_SAME_KIND,
            item.index,
            document=item.label,
            code=item.doc.code,
        )
        return
    if item.grace_params is not None:
        out.add(
            "document.accepted_expired",
            Severity.OK,
            DOC_EXPIRED_WITHIN_GRACE,
            item.index,
            **item.grace_params,
        )
        return
    if item.identity_points and item.residency_points:
        template = DOC_ACCEPTED_BOTH
    elif item.identity_points:
        template = DOC_ACCEPTED_IDENTITY
    else:
        template = DOC_ACCEPTED_RESIDENCY
    out.add(
        "document.accepted",
        Severity.OK,
        template,
        item.index,
        document=item.label,
        code=item.doc.code,
        identity_points=item.identity_points,
        residency_points=item.residency_points,
    )


def _check_points(
    prefix: str, points: int, required: int, templates: tuple[str, str], out: _Checklist
) -> None:
    ok_template, short_template = templates
    if points >= required:
        out.add(f"{prefix}.satisfied", Severity.OK, ok_template, points=points, required=required)
    else:
        out.add(
            f"{prefix}.insufficient_points",
            Severity.BLOCKING,
            short_template,
            points=points,
            required=required,
            missing=required - points,
        )


def _check_thresholds(
    policy: Policy, points: tuple[int, int], cover: _Assessed | None, out: _Checklist
) -> None:
    """Point thresholds; a document that covers everything meets them outright."""
    req = policy.requirements
    # The total is its own rule only when it asks for more than the two parts together.
    total_is_a_rule = req.total_points > req.identity_points + req.residency_points
    if cover is not None:
        covered: dict[str, ParamValue] = {"document": cover.label, "code": cover.doc.code}
        out.add("identity.covered", Severity.OK, IDENTITY_COVERED, cover.index, **covered)
        out.add("residency.covered", Severity.OK, RESIDENCY_COVERED, cover.index, **covered)
        if total_is_a_rule:
            out.add("total.covered", Severity.OK, TOTAL_COVERED, cover.index, **covered)
        return
    identity, residency = points
    if req.identity_points > 0:
        _check_points("identity", identity, req.identity_points, (IDENTITY_OK, IDENTITY_SHORT), out)
    if req.residency_points > 0:
        _check_points(
            "residency", residency, req.residency_points, (RESIDENCY_OK, RESIDENCY_SHORT), out
        )
    if total_is_a_rule:
        _check_points("total", identity + residency, req.total_points, (TOTAL_OK, TOTAL_SHORT), out)


def _check_duration(
    policy: Policy, assessed: list[_Assessed], on_date: date, out: _Checklist
) -> int | None:
    """Longest proven residence; adds the duration reason when the policy has a minimum.

    A document of a kind already counted still serves here: an older receipt of the same kind
    may be exactly what proves the minimum stay.
    """
    candidates = [(item.evidence, item) for item in assessed if item.evidence is not None]
    required = policy.requirements.minimum_residence_days
    if not candidates:
        if required > 0:
            out.add(
                "residency.duration_unproven",
                Severity.BLOCKING,
                DURATION_UNPROVEN,
                required=required,
            )
        return None
    # The earliest date proves the longest residence; min() keeps the first one on a tie.
    (began, kind), best = min(candidates, key=lambda pair: pair[0][0])
    days = (on_date - began).days
    if required == 0:
        return days
    dated = kind is ResidenceEvidence.DOCUMENT_DATE
    templates = {
        (True, True): (DURATION_OK_DATED, DURATION_OK_DATED_ONE),
        (True, False): (DURATION_OK_SINCE, DURATION_OK_SINCE_ONE),
        (False, True): (DURATION_SHORT_DATED, DURATION_SHORT_DATED_ONE),
        (False, False): (DURATION_SHORT_SINCE, DURATION_SHORT_SINCE_ONE),
    }
    satisfied = days >= required
    many, one = templates[satisfied, dated]
    out.add(
        "residency.duration_satisfied" if satisfied else "residency.too_short",
        Severity.OK if satisfied else Severity.BLOCKING,
        one if days == 1 else many,
        best.index,
        document=best.label,
        code=best.doc.code,
        date=began,
        days=days,
        required=required,
    )
    return days


def _check_shown(
    policy: Policy,
    applicant: ApplicantFacts,
    age: int | None,
    shown_on: tuple[_Assessed | None, _Assessed | None],
    out: _Checklist,
) -> None:
    """Photo and date-of-birth documents, with the photo waiver for young applicants."""
    req, rules = policy.requirements, policy.age
    photo, dob = shown_on
    if req.photo_document:
        waived = (
            rules.photo_waiver_max_age is not None
            and age is not None
            and age <= rules.photo_waiver_max_age
            and (applicant.has_caretaker or not rules.photo_waiver_requires_caretaker)
        )
        if photo is not None:
            out.add(
                "photo.satisfied",
                Severity.OK,
                PHOTO_OK,
                photo.index,
                document=photo.label,
                code=photo.doc.code,
            )
        elif waived and age is not None and rules.photo_waiver_max_age is not None:
            out.add(
                "photo.waived",
                Severity.OK,
                PHOTO_WAIVED if rules.photo_waiver_requires_caretaker else PHOTO_WAIVED_BY_AGE,
                age=age,
                max_age=rules.photo_waiver_max_age,
            )
        else:
            out.add("photo.missing", Severity.BLOCKING, PHOTO_MISSING)
    if req.date_of_birth_document:
        if dob is not None:
            out.add(
                "date_of_birth.satisfied",
                Severity.OK,
                DOB_OK,
                dob.index,
                document=dob.label,
                code=dob.doc.code,
            )
        else:
            out.add("date_of_birth.missing", Severity.BLOCKING, DOB_MISSING)


def evaluate(
    policy: Policy,
    applicant: ApplicantFacts,
    documents: Sequence[PresentedDocument],
    on_date: date,
    translate: Callable[[str], str] = _no_translation,
    *,
    language: str = "en",
) -> Decision:
    """Decide whether the documents shown satisfy the policy on `on_date` (the city's date).

    Every rule reports, met or not, so the clerk sees what is satisfied next to what is missing.
    Reasons come in a fixed order: age, then each document in the order given, then identity,
    residency, total, length of residence, photo, date of birth. Templates are passed through
    `translate` (e.g. Flask-Babel's gettext) before `str.format`; document labels come from the
    policy in `language`, falling back to English. See the module docstring for the conventions
    on counting days.
    """
    out = _Checklist(translate)
    age = _check_age(policy, applicant, on_date, out)
    assessed, best_of_kind = _assess_documents(policy, documents, (on_date, language, out))

    identity_points = sum(item.identity_points for item in best_of_kind.values())
    residency_points = sum(item.residency_points for item in best_of_kind.values())
    cover = next((item for item in assessed if item.covers_all), None)
    _check_thresholds(policy, (identity_points, residency_points), cover, out)
    residence_days = _check_duration(policy, assessed, on_date, out)
    photo = cover or next((item for item in assessed if item.doc.shows_photo), None)
    dob = cover or next((item for item in assessed if item.doc.shows_date_of_birth), None)
    _check_shown(policy, applicant, age, (photo, dob), out)

    reasons = tuple(out.reasons)
    return Decision(
        ok=not any(reason.blocking for reason in reasons),
        identity_points=identity_points,
        residency_points=residency_points,
        residence_days=residence_days,
        age=age,
        reasons=reasons,
    )
