"""Mexico City (SEDEREC): one identity document, one residency document, 30 days of residence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idsys.policy import (
    ApplicantFacts,
    Decision,
    PresentedDocument,
    Severity,
    can_renew,
    card_expiry,
    evaluate,
    load_policy,
    local_date,
    renewal_window,
    retention_until,
)
from idsys.policy.rules import DURATION_SHORT_DATED

MX = load_policy("mexico_city")
TODAY = date(2026, 11, 22)
ADULT = ApplicantFacts(date_of_birth=date(1990, 5, 17))
VOTER_CARD = PresentedDocument(code="voter_card", name_matches=True)


def days_ago(days: int, on: date = TODAY) -> date:
    return on - timedelta(days=days)


def receipt(issued: date | None, code: str = "electricity_receipt") -> PresentedDocument:
    return PresentedDocument(code=code, name_matches=True, address_matches=True, issue_date=issued)


def letter(
    since: date | None, issued: date | None = TODAY, code: str = "shelter_residence_letter"
) -> PresentedDocument:
    return PresentedDocument(
        code=code,
        name_matches=True,
        address_matches=True,
        issue_date=issued,
        resident_since=since,
    )


def run(
    *documents: PresentedDocument,
    applicant: ApplicantFacts = ADULT,
    on: date = TODAY,
    language: str = "en",
) -> Decision:
    return evaluate(MX, applicant, documents, on, language=language)


def codes(decision: Decision, severity: Severity | None = None) -> list[str]:
    return [r.code for r in decision.reasons if severity is None or r.severity is severity]


# ---------------------------------------------------------------------------------------------
# length of residence from a receipt (document_date evidence)


@pytest.mark.parametrize(
    ("age_days", "ok", "duration_code"),
    [
        pytest.param(0, False, "residency.too_short", id="dated-today-0-days"),
        pytest.param(1, False, "residency.too_short", id="1-day"),
        pytest.param(29, False, "residency.too_short", id="29-days-short"),
        pytest.param(30, True, "residency.duration_satisfied", id="30-days-enough"),
        pytest.param(31, True, "residency.duration_satisfied", id="31-days-enough"),
        pytest.param(90, True, "residency.duration_satisfied", id="90-days-last-day-of-window"),
    ],
)
def test_receipt_residence_days(age_days: int, ok: bool, duration_code: str) -> None:
    decision = run(VOTER_CARD, receipt(days_ago(age_days)))
    assert decision.ok is ok
    assert (decision.identity_points, decision.residency_points) == (1, 1)
    assert decision.residence_days == age_days
    assert codes(decision) == [
        "age.satisfied",
        "document.accepted",
        "document.accepted",
        "identity.satisfied",
        "residency.satisfied",
        duration_code,
    ]


def test_too_short_text_names_document_date_and_days() -> None:
    decision = run(VOTER_CARD, receipt(date(2026, 11, 10)))
    (blocking,) = decision.blocking
    assert blocking.code == "residency.too_short"
    assert blocking.text == (
        "Residency: Electricity receipt dated 2026-11-10 shows 12 days of residence; "
        "30 are required"
    )
    assert dict(blocking.params) == {
        "document": "Electricity receipt",
        "code": "electricity_receipt",
        "date": date(2026, 11, 10),
        "days": 12,
        "required": 30,
    }
    assert blocking.document_index == 1


def test_one_day_is_singular() -> None:
    decision = run(VOTER_CARD, receipt(days_ago(1)))
    assert decision.blocking[0].text == (
        "Residency: Electricity receipt dated 2026-11-21 shows 1 day of residence; 30 are required"
    )


def test_enough_residence_text() -> None:
    decision = run(VOTER_CARD, receipt(days_ago(30), code="water_receipt"))
    assert decision.reasons[-1].text == (
        "Residency: Water receipt dated 2026-10-23 shows 30 days of residence (required: 30)"
    )
    assert decision.reasons[-1].severity is Severity.OK


def test_texts_in_spanish_labels() -> None:
    decision = run(VOTER_CARD, receipt(date(2026, 11, 10)), language="es")
    assert [r.text for r in decision.reasons] == [
        "Age: the applicant is 36",
        "Credencial para votar: accepted (identity +1)",
        "Recibo de luz: accepted (residency +1)",
        "Identity points: 1 (required: 1)",
        "Residency points: 1 (required: 1)",
        "Residency: Recibo de luz dated 2026-11-10 shows 12 days of residence; 30 are required",
    ]


def test_undeclared_language_falls_back_to_english_labels() -> None:
    decision = run(VOTER_CARD, language="de")  # German: not a language of the policy
    assert decision.reasons[1].text == "Voter card: accepted (identity +1)"


def test_translate_is_applied_before_formatting() -> None:
    spanish = {
        DURATION_SHORT_DATED: (
            "Residencia: {document} con fecha {date} muestra {days} días de residencia; "
            "se requieren {required}"
        )
    }
    decision = evaluate(
        MX,
        ADULT,
        [VOTER_CARD, receipt(date(2026, 11, 10))],
        TODAY,
        lambda s: spanish.get(s, s),
        language="es",
    )
    assert decision.blocking[0].text == (
        "Residencia: Recibo de luz con fecha 2026-11-10 muestra 12 días de residencia; "
        "se requieren 30"
    )


def test_broken_translation_falls_back_to_english() -> None:
    decision = evaluate(
        MX,
        ADULT,
        [VOTER_CARD, receipt(date(2026, 11, 10))],
        TODAY,
        lambda s: "Residencia: {documento} {" if s == DURATION_SHORT_DATED else s,
    )
    assert decision.blocking[0].text.startswith("Residency: Electricity receipt dated 2026-11-10")


# ---------------------------------------------------------------------------------------------
# recency window (90 days) and dates


def test_receipt_outside_window_does_not_count() -> None:
    decision = run(VOTER_CARD, receipt(days_ago(91)))
    assert not decision.ok
    assert decision.residency_points == 0
    assert decision.residence_days is None
    assert codes(decision) == [
        "age.satisfied",
        "document.accepted",
        "document.too_old",
        "identity.satisfied",
        "residency.insufficient_points",
        "residency.duration_unproven",
    ]
    texts = [r.text for r in decision.reasons]
    assert texts[2] == (
        "Electricity receipt: dated 2026-08-23, 91 days ago; residency documents must be at "
        "most 90 days old, so it does not count for residency"
    )
    assert texts[4] == "Residency points: 0; 1 are required (1 more)"
    assert texts[5] == (
        "Residency: no accepted document shows since when the applicant lives here; "
        "30 days of residence are required"
    )


def test_receipt_dated_in_the_future_is_refused() -> None:
    decision = run(VOTER_CARD, receipt(days_ago(-1)))
    assert not decision.ok
    assert decision.residency_points == 0
    refusal = decision.reasons[2]
    assert (refusal.code, refusal.severity) == ("document.future_date", Severity.WARNING)
    assert refusal.text == (
        "Electricity receipt: dated 2026-11-23, which is after today (2026-11-22); "
        "the document does not count"
    )
    assert refusal.params["field"] == "issue_date"


def test_receipt_without_date_does_not_count() -> None:
    decision = run(VOTER_CARD, receipt(None))
    assert "document.issue_date_missing" in codes(decision)
    assert decision.residency_points == 0


@pytest.mark.parametrize(
    ("on", "issued", "expected_days", "ok"),
    [
        pytest.param(date(2028, 3, 1), date(2028, 1, 31), 30, True, id="leap-year-spans-29-feb"),
        pytest.param(date(2027, 3, 1), date(2027, 1, 31), 29, False, id="common-year-no-29-feb"),
        pytest.param(date(2028, 3, 30), date(2028, 2, 29), 30, True, id="dated-29-feb"),
        pytest.param(date(2028, 4, 30), date(2028, 1, 31), 90, True, id="window-edge-over-29-feb"),
        pytest.param(date(2028, 4, 30), date(2028, 1, 30), 91, False, id="window-past-over-29-feb"),
    ],
)
def test_leap_days_in_residence_and_window(
    on: date, issued: date, expected_days: int, ok: bool
) -> None:
    decision = run(VOTER_CARD, receipt(issued), on=on)
    assert decision.ok is ok
    if expected_days <= 90:
        assert decision.residence_days == expected_days
    else:
        assert "document.too_old" in codes(decision)
        assert decision.reasons[2].params["age_days"] == expected_days


# ---------------------------------------------------------------------------------------------
# letters stating since when the person lives there (resident_since evidence)


@pytest.mark.parametrize(
    ("since_days", "ok"),
    [
        pytest.param(29, False, id="since-29-days"),
        pytest.param(30, True, id="since-30-days"),
        pytest.param(31, True, id="since-31-days"),
        pytest.param(0, False, id="since-today"),
    ],
)
def test_letter_dated_today_counts_residence_from_resident_since(since_days: int, ok: bool) -> None:
    decision = run(VOTER_CARD, letter(days_ago(since_days)))
    assert decision.ok is ok
    assert decision.residence_days == since_days


def test_letter_texts() -> None:
    short = run(VOTER_CARD, letter(days_ago(29), code="hospital_residence_letter"))
    assert short.blocking[0].text == (
        "Residency: Proof of residence from a hospital states residence since 2026-10-24, "
        "29 days ago; 30 are required"
    )
    enough = run(VOTER_CARD, letter(days_ago(400), issued=days_ago(90)))
    assert enough.ok
    assert enough.reasons[-1].text == (
        "Residency: Proof of residence from a shelter states residence since 2025-10-18, "
        "400 days ago (required: 30)"
    )


@pytest.mark.parametrize(
    ("document", "code", "text"),
    [
        pytest.param(
            letter(days_ago(400), issued=days_ago(91)),
            "document.too_old",
            "Proof of residence from a shelter: dated 2026-08-23, 91 days ago; residency "
            "documents must be at most 90 days old, so it does not count for residency",
            id="letter-too-old",
        ),
        pytest.param(
            letter(days_ago(-1)),
            "document.future_date",
            "Proof of residence from a shelter: states residence since 2026-11-23, which is "
            "after today (2026-11-22); it does not count for residency",
            id="resident-since-in-future",
        ),
        pytest.param(
            letter(days_ago(5), issued=days_ago(10)),
            "document.dates_inconsistent",
            "Proof of residence from a shelter: states residence since 2026-11-17, after its "
            "own date 2026-11-12; it does not count for residency",
            id="resident-since-after-letter-date",
        ),
        pytest.param(
            letter(None),
            "document.resident_since_missing",
            "Proof of residence from a shelter: the date since which it states residence must "
            "be recorded; it does not count for residency until it is",
            id="resident-since-missing",
        ),
        pytest.param(
            letter(days_ago(100), issued=None),
            "document.issue_date_missing",
            "Proof of residence from a shelter: the date on the document must be recorded; "
            "it does not count for residency until it is",
            id="letter-date-missing",
        ),
        pytest.param(
            PresentedDocument(
                code="water_receipt",
                name_matches=True,
                address_matches=False,
                issue_date=days_ago(40),
            ),
            "document.address_mismatch",
            "Water receipt: the address does not match the applicant's; it does not count "
            "for residency",
            id="address-mismatch",
        ),
    ],
)
def test_residency_document_refused(document: PresentedDocument, code: str, text: str) -> None:
    decision = run(VOTER_CARD, document)
    assert not decision.ok
    assert decision.residency_points == 0
    refusal = decision.for_document(1)
    assert [(r.code, r.severity, r.text) for r in refusal] == [(code, Severity.WARNING, text)]


def test_longest_evidence_wins_and_each_kind_counts_once() -> None:
    decision = run(
        VOTER_CARD,
        receipt(days_ago(10)),
        receipt(days_ago(45)),
        letter(days_ago(20), code="institution_residence_letter"),
    )
    assert decision.ok
    assert decision.residency_points == 2  # electricity once, plus the letter
    assert decision.residence_days == 45
    assert codes(decision)[1:5] == [
        "document.accepted",
        "document.accepted",
        "document.same_kind_counted_once",
        "document.accepted",
    ]
    assert decision.reasons[-1].document_index == 2


# ---------------------------------------------------------------------------------------------
# identity documents


def test_accepted_application_lists_every_rule() -> None:
    decision = run(
        PresentedDocument(code="birth_certificate", name_matches=True), receipt(days_ago(45))
    )
    assert decision.ok
    assert [(r.code, r.severity.value, r.document_index) for r in decision.reasons] == [
        ("age.satisfied", "ok", None),
        ("document.accepted", "ok", 0),
        ("document.accepted", "ok", 1),
        ("identity.satisfied", "ok", None),
        ("residency.satisfied", "ok", None),
        ("residency.duration_satisfied", "ok", 1),
    ]
    assert decision.total_points == 2


def test_no_identity_document() -> None:
    decision = run(receipt(days_ago(45)))
    assert not decision.ok
    assert [r.text for r in decision.blocking] == ["Identity points: 0; 1 are required (1 more)"]


@pytest.mark.parametrize(
    ("expiry", "counted", "refusal"),
    [
        pytest.param(TODAY, True, None, id="expires-today-still-valid"),
        pytest.param(days_ago(-365), True, None, id="unexpired"),
        pytest.param(
            days_ago(1),
            False,
            "Passport: expired on 2026-11-21; expired documents do not count",
            id="expired-yesterday-no-grace",
        ),
        pytest.param(
            None,
            False,
            "Passport: the expiry date must be recorded; the document does not count until it is",
            id="expiry-not-recorded",
        ),
    ],
)
def test_passport_expiry(expiry: date | None, counted: bool, refusal: str | None) -> None:
    passport = PresentedDocument(code="passport", name_matches=True, expiry_date=expiry)
    decision = run(passport, receipt(days_ago(45)))
    assert decision.ok is counted
    assert decision.identity_points == (1 if counted else 0)
    texts = [r.text for r in decision.for_document(0) if r.severity is Severity.WARNING]
    assert texts == ([] if refusal is None else [refusal])


def test_name_mismatch() -> None:
    decision = run(PresentedDocument(code="voter_card", name_matches=False), receipt(days_ago(45)))
    assert not decision.ok
    assert decision.identity_points == 0
    assert decision.reasons[1].code == "document.name_mismatch"
    assert decision.reasons[1].text == (
        "Voter card: the name does not match the applicant's; the document does not count"
    )


def test_name_mismatch_on_residency_document() -> None:
    decision = run(
        VOTER_CARD,
        PresentedDocument(
            code="water_receipt", name_matches=False, address_matches=True, issue_date=days_ago(40)
        ),
    )
    assert decision.residency_points == 0
    assert codes(decision)[2] == "document.name_mismatch"


def test_unknown_code() -> None:
    decision = run(
        VOTER_CARD, PresentedDocument(code="library_card", name_matches=True), receipt(days_ago(45))
    )
    assert decision.ok  # an unknown document is only a warning
    unknown = decision.reasons[2]
    assert (unknown.code, unknown.severity) == ("document.unknown", Severity.WARNING)
    assert (
        unknown.text
        == 'Document "library_card" is not in this programme\'s list; it does not count'
    )


def test_all_problems_of_one_document_are_reported() -> None:
    passport = PresentedDocument(
        code="passport", name_matches=False, issue_date=days_ago(-3), expiry_date=days_ago(2)
    )
    decision = run(passport)
    assert codes(decision)[1:4] == [
        "document.name_mismatch",
        "document.future_date",
        "document.expired",
    ]


# ---------------------------------------------------------------------------------------------
# age (caretaker below 18), leap-day birthdays


@pytest.mark.parametrize(
    ("born", "on", "caretaker", "code", "age"),
    [
        pytest.param(date(2009, 11, 23), TODAY, False, "age.caretaker_required", 16, id="16-alone"),
        pytest.param(date(2009, 11, 22), TODAY, False, "age.caretaker_required", 17, id="17-alone"),
        pytest.param(date(2009, 11, 22), TODAY, True, "age.caretaker_present", 17, id="17-with"),
        pytest.param(date(2008, 11, 22), TODAY, False, "age.satisfied", 18, id="18-today"),
        pytest.param(
            date(2008, 2, 29),
            date(2026, 2, 28),
            False,
            "age.caretaker_required",
            17,
            id="born-29-feb-still-17-on-28-feb",
        ),
        pytest.param(
            date(2008, 2, 29),
            date(2026, 3, 1),
            False,
            "age.satisfied",
            18,
            id="born-29-feb-18-on-1-mar",
        ),
        pytest.param(
            date(2008, 2, 29),
            date(2028, 2, 29),
            False,
            "age.satisfied",
            20,
            id="born-29-feb-leap-year",
        ),
        pytest.param(date(2026, 11, 22), TODAY, True, "age.caretaker_present", 0, id="newborn"),
    ],
)
def test_age_rules(born: date, on: date, caretaker: bool, code: str, age: int) -> None:
    applicant = ApplicantFacts(date_of_birth=born, has_caretaker=caretaker)
    decision = run(VOTER_CARD, receipt(days_ago(45, on)), applicant=applicant, on=on)
    assert decision.age == age
    assert decision.reasons[0].code == code
    assert decision.ok is (code != "age.caretaker_required")


def test_caretaker_text() -> None:
    applicant = ApplicantFacts(date_of_birth=date(2010, 1, 1))
    decision = run(VOTER_CARD, receipt(days_ago(45)), applicant=applicant)
    assert decision.blocking[0].text == (
        "Age: the applicant is 16; applicants younger than 18 must come with a caretaker"
    )


def test_date_of_birth_in_future() -> None:
    applicant = ApplicantFacts(date_of_birth=days_ago(-1))
    decision = run(VOTER_CARD, receipt(days_ago(45)), applicant=applicant)
    assert not decision.ok
    assert decision.age is None
    assert decision.reasons[0].text == (
        "Age: the date of birth 2026-11-23 is after today (2026-11-22)"
    )


# ---------------------------------------------------------------------------------------------
# the city's date near midnight (UTC-6 all year since 2022)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(
            datetime(2026, 11, 23, 5, 59, tzinfo=UTC), date(2026, 11, 22), id="23:59-local"
        ),
        pytest.param(
            datetime(2026, 11, 23, 6, 0, tzinfo=UTC), date(2026, 11, 23), id="00:00-local"
        ),
        pytest.param(
            datetime(2026, 7, 1, 5, 30, tzinfo=UTC), date(2026, 6, 30), id="no-summer-time"
        ),
    ],
)
def test_local_date(moment: datetime, expected: date) -> None:
    assert local_date(MX, moment) == expected


@pytest.mark.parametrize(
    ("moment", "ok", "days"),
    [
        pytest.param(datetime(2026, 11, 22, 5, 59, tzinfo=UTC), False, 29, id="before-midnight"),
        pytest.param(datetime(2026, 11, 22, 6, 0, tzinfo=UTC), True, 30, id="after-midnight"),
    ],
)
def test_residence_counted_on_the_city_date(moment: datetime, ok: bool, days: int) -> None:
    decision = run(VOTER_CARD, receipt(date(2026, 10, 23)), on=local_date(MX, moment))
    assert (decision.ok, decision.residence_days) == (ok, days)


def test_local_date_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(MX, datetime(2026, 11, 22, 12, 0))  # noqa: DTZ001 -- the point of the test


# ---------------------------------------------------------------------------------------------
# card validity, renewal, retention


@pytest.mark.parametrize(
    ("born", "issued", "expiry"),
    [
        pytest.param(date(2009, 11, 23), TODAY, date(2028, 11, 22), id="17-two-years"),
        pytest.param(date(2008, 11, 22), TODAY, date(2031, 11, 22), id="18-five-years"),
        pytest.param(date(2000, 1, 1), date(2028, 2, 29), date(2033, 2, 28), id="issued-29-feb"),
        pytest.param(date(2011, 3, 1), date(2028, 2, 29), date(2030, 2, 28), id="minor-29-feb"),
    ],
)
def test_card_expiry(born: date, issued: date, expiry: date) -> None:
    assert card_expiry(MX, born, issued) == expiry


def test_card_expiry_refuses_birth_after_issue() -> None:
    with pytest.raises(ValueError, match="after the issue date"):
        card_expiry(MX, date(2027, 1, 1), TODAY)


def test_renewal_and_retention() -> None:
    expiry = date(2031, 11, 22)
    assert renewal_window(MX, expiry) == (date(2031, 9, 23), date(2032, 5, 20))
    assert can_renew(MX, expiry, date(2031, 9, 23))
    assert not can_renew(MX, expiry, date(2031, 9, 22))
    assert retention_until(MX, TODAY) == TODAY
