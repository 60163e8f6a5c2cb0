"""New York City (IDNYC): 3 identity + 1 residency points, photo and date of birth, age 10+."""

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

NY = load_policy("new_york")
TODAY = date(2026, 11, 22)
ADULT = ApplicantFacts(date_of_birth=date(1985, 6, 30))


def days_ago(days: int, on: date = TODAY) -> date:
    return on - timedelta(days=days)


def doc(
    code: str,
    *,
    name_matches: bool = True,
    address_matches: bool = True,
    issue_date: date | None = None,
    expiry_date: date | None = None,
    resident_since: date | None = None,
) -> PresentedDocument:
    """A presented document whose name and address match unless told otherwise."""
    return PresentedDocument(
        code=code,
        name_matches=name_matches,
        address_matches=address_matches,
        issue_date=issue_date,
        expiry_date=expiry_date,
        resident_since=resident_since,
    )


PASSPORT = doc("passport_machine_readable", expiry_date=date(2030, 1, 1))
BILL = doc("utility_bill", issue_date=days_ago(20))


def run(
    *documents: PresentedDocument,
    applicant: ApplicantFacts = ADULT,
    on: date = TODAY,
    language: str = "en",
) -> Decision:
    return evaluate(NY, applicant, documents, on, language=language)


def rule_codes(decision: Decision) -> list[str]:
    """Codes of the application-wide rules (everything after age and the documents)."""
    return [r.code for r in decision.reasons[1:] if not r.code.startswith("document.")]


# ---------------------------------------------------------------------------------------------
# points


@pytest.mark.parametrize(
    ("documents", "ok", "points", "rules"),
    [
        pytest.param(
            (PASSPORT, BILL),
            True,
            (3, 1),
            [
                "identity.satisfied",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="passport-and-bill",
        ),
        pytest.param(
            (doc("passport_non_machine_readable", expiry_date=date(2030, 1, 1)), BILL),
            False,
            (2, 1),
            [
                "identity.insufficient_points",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="non-machine-readable-passport-alone-is-2",
        ),
        pytest.param(
            (
                doc("passport_non_machine_readable", expiry_date=date(2030, 1, 1)),
                doc("birth_certificate"),
                BILL,
            ),
            True,
            (4, 1),
            [
                "identity.satisfied",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="non-machine-readable-passport-plus-birth-certificate",
        ),
        pytest.param(
            (PASSPORT,),
            False,
            (3, 0),
            [
                "identity.satisfied",
                "residency.insufficient_points",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="no-residency-document",
        ),
        pytest.param(
            (doc("nys_driver_license", expiry_date=date(2030, 1, 1)),),
            True,
            (3, 1),
            [
                "identity.covered",
                "residency.covered",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="state-licence-with-city-address-covers-everything",
        ),
        pytest.param(
            (doc("nys_non_driver_id", expiry_date=date(2030, 1, 1)),),
            True,
            (3, 1),
            [
                "identity.covered",
                "residency.covered",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="non-driver-id-with-city-address-covers-everything",
        ),
        pytest.param(
            (doc("nys_driver_license", expiry_date=date(2030, 1, 1), address_matches=False),),
            False,
            (3, 0),
            [
                "identity.satisfied",
                "residency.insufficient_points",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="state-licence-without-city-address-is-identity-only",
        ),
        pytest.param(
            (
                doc("nys_driver_license", expiry_date=date(2030, 1, 1), address_matches=False),
                doc("shelter_letter", issue_date=days_ago(5)),
            ),
            True,
            (3, 1),
            [
                "identity.satisfied",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="state-licence-plus-shelter-letter",
        ),
        pytest.param(
            (doc("birth_certificate"), doc("foreign_national_id"), BILL),
            True,
            (4, 1),
            [
                "identity.satisfied",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="photo-on-one-document-birth-date-on-another",
        ),
        pytest.param(
            (PASSPORT, doc("passport_machine_readable", expiry_date=date(2031, 1, 1)), BILL),
            True,
            (3, 1),
            [
                "identity.satisfied",
                "residency.satisfied",
                "photo.satisfied",
                "date_of_birth.satisfied",
            ],
            id="two-passports-count-once",
        ),
    ],
)
def test_points(
    documents: tuple[PresentedDocument, ...], ok: bool, points: tuple[int, int], rules: list[str]
) -> None:
    decision = run(*documents)
    assert decision.ok is ok
    assert (decision.identity_points, decision.residency_points) == points
    assert rule_codes(decision) == rules


def test_insufficient_identity_text() -> None:
    decision = run(doc("birth_certificate"), BILL)
    assert [(r.code, r.text) for r in decision.blocking] == [
        ("identity.insufficient_points", "Identity points: 2; 3 are required (1 more)"),
        (
            "photo.missing",
            "Photo: no accepted document shows the applicant's photo; one is required",
        ),
    ]


def test_covered_texts() -> None:
    decision = run(doc("nys_driver_license", expiry_date=date(2030, 1, 1)))
    assert [r.text for r in decision.reasons] == [
        "Age: the applicant is 41 (minimum age: 10)",
        "New York State driver license: accepted (identity +3, residency +1)",
        "Identity: covered by New York State driver license with an address in the city",
        "Residency: covered by New York State driver license with an address in the city",
        "Photo: shown on New York State driver license",
        "Date of birth: shown on New York State driver license",
    ]
    assert {r.document_index for r in decision.reasons[1:]} == {0}


def test_expired_licence_covers_nothing() -> None:
    decision = run(doc("nys_driver_license", expiry_date=days_ago(1)))
    assert not decision.ok
    assert (decision.identity_points, decision.residency_points) == (0, 0)
    assert decision.reasons[1].text == (
        "New York State driver license: expired on 2026-11-21; expired documents do not count"
    )


# ---------------------------------------------------------------------------------------------
# passports: unexpired 3 points, expired at most 1094 days 2 points, then nothing


@pytest.mark.parametrize(
    ("expiry", "identity_points", "code"),
    [
        pytest.param(days_ago(-1), 3, "document.accepted", id="expires-tomorrow"),
        pytest.param(TODAY, 3, "document.accepted", id="expires-today"),
        pytest.param(days_ago(1), 2, "document.accepted_expired", id="expired-yesterday"),
        pytest.param(days_ago(1094), 2, "document.accepted_expired", id="expired-1094-days"),
        pytest.param(days_ago(1095), 0, "document.expired", id="expired-1095-days"),
        pytest.param(days_ago(4000), 0, "document.expired", id="expired-long-ago"),
    ],
)
def test_machine_readable_passport_grace(expiry: date, identity_points: int, code: str) -> None:
    decision = run(doc("passport_machine_readable", expiry_date=expiry), BILL)
    assert decision.identity_points == identity_points
    assert decision.reasons[1].code == code
    assert decision.ok is (identity_points == 3)


def test_expired_passport_texts() -> None:
    within = run(doc("passport_machine_readable", expiry_date=days_ago(1094)), BILL)
    assert within.reasons[1].severity is Severity.OK
    assert within.reasons[1].text == (
        "Passport (machine-readable): expired on 2023-11-24, 1094 days ago (limit: 1094); "
        "accepted for identity only (identity +2)"
    )
    beyond = run(doc("passport_machine_readable", expiry_date=days_ago(1095)), BILL)
    assert beyond.reasons[1].severity is Severity.WARNING
    assert beyond.reasons[1].text == (
        "Passport (machine-readable): expired on 2023-11-23, 1095 days ago; it counts only up "
        "to 1094 days after expiry, so the document does not count"
    )
    assert dict(beyond.reasons[1].params) == {
        "document": "Passport (machine-readable)",
        "code": "passport_machine_readable",
        "expiry_date": date(2023, 11, 23),
        "days_expired": 1095,
        "grace_days": 1094,
    }


def test_expired_passport_plus_birth_certificate_reaches_three() -> None:
    decision = run(
        doc("passport_machine_readable", expiry_date=days_ago(400)), doc("birth_certificate"), BILL
    )
    assert decision.ok
    assert decision.identity_points == 4


@pytest.mark.parametrize(
    ("on", "identity_points"),
    [
        pytest.param(date(2027, 2, 26), 2, id="1094-days-across-29-feb-2024"),
        pytest.param(date(2027, 2, 27), 0, id="1095-days-across-29-feb-2024"),
    ],
)
def test_grace_counts_days_across_a_leap_day(on: date, identity_points: int) -> None:
    passport = doc("passport_machine_readable", expiry_date=date(2024, 2, 28))
    decision = run(passport, doc("utility_bill", issue_date=on), on=on)
    assert decision.identity_points == identity_points


def test_non_machine_readable_passport_has_no_grace() -> None:
    decision = run(doc("passport_non_machine_readable", expiry_date=days_ago(1)), BILL)
    assert decision.identity_points == 0
    assert decision.reasons[1].text == (
        "Passport (not machine-readable): expired on 2026-11-21; expired documents do not count"
    )


def test_passport_without_expiry_date() -> None:
    decision = run(doc("passport_machine_readable"), BILL)
    assert decision.reasons[1].code == "document.expiry_date_missing"
    assert decision.identity_points == 0


# ---------------------------------------------------------------------------------------------
# residency: 60-day recency window, no minimum stay


@pytest.mark.parametrize(
    ("age_days", "counts", "code"),
    [
        pytest.param(-1, False, "document.future_date", id="dated-tomorrow"),
        pytest.param(0, True, "document.accepted", id="dated-today"),
        pytest.param(59, True, "document.accepted", id="59-days"),
        pytest.param(60, True, "document.accepted", id="60-days-last-day"),
        pytest.param(61, False, "document.too_old", id="61-days-too-old"),
    ],
)
def test_bill_recency(age_days: int, counts: bool, code: str) -> None:
    decision = run(PASSPORT, doc("utility_bill", issue_date=days_ago(age_days)))
    assert decision.ok is counts
    assert decision.residency_points == (1 if counts else 0)
    assert decision.reasons[2].code == code
    assert decision.residence_days == (age_days if counts else None)


def test_too_old_text() -> None:
    decision = run(PASSPORT, doc("school_letter", issue_date=days_ago(61)))
    assert decision.reasons[2].text == (
        "Letter from a school: dated 2026-09-22, 61 days ago; residency documents must be at "
        "most 60 days old, so it does not count for residency"
    )
    assert decision.blocking[0].text == "Residency points: 0; 1 are required (1 more)"


def test_no_minimum_stay_means_no_duration_rule() -> None:
    decision = run(PASSPORT, doc("utility_bill", issue_date=TODAY))
    assert decision.ok
    assert decision.residence_days == 0
    assert not [r for r in decision.reasons if r.code.startswith("residency.duration")]


def test_shelter_letter_needs_no_resident_since_but_refuses_a_future_one() -> None:
    without = run(PASSPORT, doc("shelter_letter", issue_date=days_ago(3)))
    assert without.ok
    assert without.residence_days is None
    future = run(
        PASSPORT, doc("shelter_letter", issue_date=days_ago(3), resident_since=days_ago(-2))
    )
    assert not future.ok
    assert future.reasons[2].code == "document.future_date"
    assert future.reasons[2].params["field"] == "resident_since"


def test_bill_for_another_address() -> None:
    decision = run(PASSPORT, doc("hospital_record", issue_date=days_ago(3), address_matches=False))
    assert not decision.ok
    assert decision.reasons[2].text == (
        "Hospital or clinic record: the address does not match the applicant's; "
        "it does not count for residency"
    )


def test_name_mismatch() -> None:
    decision = run(
        doc("passport_machine_readable", expiry_date=date(2030, 1, 1), name_matches=False), BILL
    )
    assert not decision.ok
    assert decision.identity_points == 0
    assert decision.reasons[1].text == (
        "Passport (machine-readable): the name does not match the applicant's; "
        "the document does not count"
    )
    assert [r.code for r in decision.blocking] == [
        "identity.insufficient_points",
        "photo.missing",
        "date_of_birth.missing",
    ]


def test_unknown_code() -> None:
    decision = run(PASSPORT, doc("social_club_card"), BILL)
    assert decision.ok
    assert decision.reasons[2].code == "document.unknown"
    assert dict(decision.reasons[2].params) == {"code": "social_club_card"}
    assert decision.reasons[2].document_index == 1


# ---------------------------------------------------------------------------------------------
# age: 10 and over; caretaker below 14; photo waived at 21 or younger with a caretaker


@pytest.mark.parametrize(
    ("born", "on", "caretaker", "code", "ok"),
    [
        pytest.param(
            date(2016, 11, 23), TODAY, True, "age.too_young", False, id="9-with-caretaker"
        ),
        pytest.param(
            date(2016, 11, 22), TODAY, False, "age.caretaker_required", False, id="10-alone"
        ),
        pytest.param(date(2016, 11, 22), TODAY, True, "age.caretaker_present", True, id="10-with"),
        pytest.param(
            date(2012, 11, 23), TODAY, False, "age.caretaker_required", False, id="13-alone"
        ),
        pytest.param(date(2012, 11, 23), TODAY, True, "age.caretaker_present", True, id="13-with"),
        pytest.param(date(2012, 11, 22), TODAY, False, "age.satisfied", True, id="14-alone"),
        pytest.param(
            date(2016, 2, 29),
            date(2026, 2, 28),
            True,
            "age.too_young",
            False,
            id="born-29-feb-9-on-28-feb",
        ),
        pytest.param(
            date(2016, 2, 29),
            date(2026, 3, 1),
            True,
            "age.caretaker_present",
            True,
            id="born-29-feb-10-on-1-mar",
        ),
        pytest.param(
            date(2012, 2, 29),
            date(2026, 2, 28),
            False,
            "age.caretaker_required",
            False,
            id="born-29-feb-13-on-28-feb",
        ),
        pytest.param(
            date(2012, 2, 29),
            date(2026, 3, 1),
            False,
            "age.satisfied",
            True,
            id="born-29-feb-14-on-1-mar",
        ),
    ],
)
def test_age_rules(born: date, on: date, caretaker: bool, code: str, ok: bool) -> None:
    applicant = ApplicantFacts(date_of_birth=born, has_caretaker=caretaker)
    decision = run(PASSPORT, doc("utility_bill", issue_date=on), applicant=applicant, on=on)
    assert decision.reasons[0].code == code
    assert decision.ok is ok


def test_age_texts() -> None:
    too_young = run(PASSPORT, BILL, applicant=ApplicantFacts(date_of_birth=date(2017, 1, 1)))
    assert too_young.reasons[0].text == "Age: the applicant is 9; the minimum age is 10"
    alone = run(PASSPORT, BILL, applicant=ApplicantFacts(date_of_birth=date(2014, 1, 1)))
    assert alone.reasons[0].text == (
        "Age: the applicant is 12; applicants younger than 14 must come with a caretaker"
    )
    accompanied = run(
        PASSPORT, BILL, applicant=ApplicantFacts(date_of_birth=date(2014, 1, 1), has_caretaker=True)
    )
    assert accompanied.reasons[0].text == (
        "Age: the applicant is 12 and came with a caretaker (required below 14)"
    )


@pytest.mark.parametrize(
    ("born", "caretaker", "code"),
    [
        pytest.param(date(2005, 11, 22), True, "photo.waived", id="21-today-with-caretaker"),
        pytest.param(date(2004, 11, 23), True, "photo.waived", id="21-last-day-with-caretaker"),
        pytest.param(date(2004, 11, 22), True, "photo.missing", id="22-today-with-caretaker"),
        pytest.param(date(2005, 11, 22), False, "photo.missing", id="21-alone"),
        pytest.param(date(2014, 1, 1), True, "photo.waived", id="12-with-caretaker"),
    ],
)
def test_photo_waiver(born: date, caretaker: bool, code: str) -> None:
    applicant = ApplicantFacts(date_of_birth=born, has_caretaker=caretaker)
    decision = run(doc("birth_certificate"), BILL, applicant=applicant)
    photo = [r for r in decision.reasons if r.code.startswith("photo.")]
    assert [r.code for r in photo] == [code]
    assert decision.reasons[-1].code == "date_of_birth.satisfied"


def test_photo_waiver_text() -> None:
    applicant = ApplicantFacts(date_of_birth=date(2005, 11, 22), has_caretaker=True)
    decision = run(doc("birth_certificate"), BILL, applicant=applicant)
    (waived,) = [r for r in decision.reasons if r.code == "photo.waived"]
    assert waived.text == (
        "Photo: not required, because the applicant is 21 (at most 21) and came with a caretaker"
    )
    assert waived.severity is Severity.OK


# ---------------------------------------------------------------------------------------------
# the city's date near midnight (EST UTC-5 in November, EDT UTC-4 in July)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(datetime(2026, 11, 23, 4, 30, tzinfo=UTC), date(2026, 11, 22), id="23:30-EST"),
        pytest.param(
            datetime(2026, 11, 23, 4, 59, 59, tzinfo=UTC), date(2026, 11, 22), id="23:59:59-EST"
        ),
        pytest.param(datetime(2026, 11, 23, 5, 0, tzinfo=UTC), date(2026, 11, 23), id="00:00-EST"),
        pytest.param(datetime(2026, 7, 1, 3, 59, tzinfo=UTC), date(2026, 6, 30), id="23:59-EDT"),
        pytest.param(datetime(2026, 7, 1, 4, 0, tzinfo=UTC), date(2026, 7, 1), id="00:00-EDT"),
    ],
)
def test_local_date(moment: datetime, expected: date) -> None:
    assert local_date(NY, moment) == expected


@pytest.mark.parametrize(
    ("moment", "ok"),
    [
        pytest.param(datetime(2026, 11, 23, 4, 30, tzinfo=UTC), True, id="still-60-days-in-NY"),
        pytest.param(datetime(2026, 11, 23, 5, 0, tzinfo=UTC), False, id="61-days-after-midnight"),
    ],
)
def test_recency_counted_on_the_city_date(moment: datetime, ok: bool) -> None:
    bill = doc("utility_bill", issue_date=date(2026, 9, 23))
    decision = run(PASSPORT, bill, on=local_date(NY, moment))
    assert decision.ok is ok


# ---------------------------------------------------------------------------------------------
# languages


@pytest.mark.parametrize(
    ("language", "text"),
    [
        pytest.param("en", "Utility bill: accepted (residency +1)", id="en"),
        pytest.param("es", "Factura de servicios públicos: accepted (residency +1)", id="es"),
        pytest.param("fr", "Facture de services publics: accepted (residency +1)", id="fr"),
        pytest.param("ht", "Bòdwo sèvis piblik: accepted (residency +1)", id="ht"),
        pytest.param("pt", "Conta de serviços públicos: accepted (residency +1)", id="pt"),
        pytest.param("de", "Utility bill: accepted (residency +1)", id="unknown-falls-back-to-en"),
    ],
)
def test_labels_in_each_language(language: str, text: str) -> None:
    decision = run(PASSPORT, BILL, language=language)
    assert decision.reasons[2].text == text


# ---------------------------------------------------------------------------------------------
# card validity, renewal, retention


@pytest.mark.parametrize(
    ("born", "issued", "expiry"),
    [
        pytest.param(date(2016, 11, 22), TODAY, date(2028, 11, 22), id="10-two-years"),
        pytest.param(date(2012, 11, 23), TODAY, date(2028, 11, 22), id="13-two-years"),
        pytest.param(date(2012, 11, 22), TODAY, date(2031, 11, 22), id="14-five-years"),
        pytest.param(date(1940, 1, 1), TODAY, date(2031, 11, 22), id="86-five-years"),
        pytest.param(date(2012, 2, 29), date(2026, 2, 28), date(2028, 2, 28), id="born-29-feb-13"),
        pytest.param(date(2012, 2, 29), date(2026, 3, 1), date(2031, 3, 1), id="born-29-feb-14"),
        pytest.param(date(1990, 1, 1), date(2028, 2, 29), date(2033, 2, 28), id="issued-29-feb"),
    ],
)
def test_card_expiry(born: date, issued: date, expiry: date) -> None:
    assert card_expiry(NY, born, issued) == expiry


def test_no_card_below_minimum_age() -> None:
    with pytest.raises(ValueError, match="no card validity band for age 9"):
        card_expiry(NY, date(2017, 1, 1), TODAY)


@pytest.mark.parametrize(
    ("on", "renewable"),
    [
        pytest.param(date(2031, 9, 22), False, id="61-days-before"),
        pytest.param(date(2031, 9, 23), True, id="60-days-before"),
        pytest.param(date(2031, 11, 22), True, id="expiry-day"),
        pytest.param(date(2032, 5, 20), True, id="180-days-after"),
        pytest.param(date(2032, 5, 21), False, id="181-days-after"),
    ],
)
def test_renewal_window(on: date, renewable: bool) -> None:
    expiry = date(2031, 11, 22)
    assert renewal_window(NY, expiry) == (date(2031, 9, 23), date(2032, 5, 20))
    assert can_renew(NY, expiry, on) is renewable


def test_documents_purged_at_decision() -> None:
    assert retention_until(NY, TODAY) == TODAY
