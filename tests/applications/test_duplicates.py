"""Duplicate detection through blind indexes: accent, case, spacing and name-order insensitive."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from idsys.applications import services
from idsys.applications.matching import fold, match_values
from idsys.applications.models import Applicant, ApplicantMatchKey
from idsys.audit.services import SYSTEM
from idsys.crypto import KeyRing
from tests.conftest import sample_profile

TODAY = date(2026, 11, 22)
DOB = date(1990, 5, 17)


@pytest.fixture
def existing(session: Session, keys: KeyRing) -> Applicant:
    applicant = services.create_applicant(
        session,
        keys,
        SYSTEM,
        sample_profile(given_names="José María", family_names="De la Cruz Peña", date_of_birth=DOB),
        today=TODAY,
    )
    services.create_applicant(  # a different person on the same day
        session,
        keys,
        SYSTEM,
        sample_profile(given_names="Wanjiru", family_names="Kamau", date_of_birth=DOB),
        today=TODAY,
    )
    session.commit()
    return applicant


@pytest.mark.parametrize(
    ("given", "family", "why"),
    [
        ("José María", "De la Cruz Peña", "identical"),
        ("JOSE MARIA", "DE LA CRUZ PENA", "case and accents"),
        ("jose  maria", "de la   cruz pena", "spacing"),
        ("Jose Maria", "Delacruz Pena", "joined family name"),
        ("De la Cruz Peña", "José María", "given and family swapped"),
        ("María José", "De la Cruz Peña", "given names reordered"),
        ("José-María", "De La Cruz-Peña", "hyphens"),
    ],
)
def test_same_person_written_differently_is_found(
    session: Session, keys: KeyRing, existing: Applicant, given: str, family: str, why: str
) -> None:
    found = services.find_duplicates(session, keys, given, family, DOB)
    assert [c.applicant_id for c in found] == [existing.id], why
    assert found[0].score == 1.0 and found[0].same_date_of_birth


def test_near_miss_spelling_is_ranked_below_exact(
    session: Session, keys: KeyRing, existing: Applicant
) -> None:
    found = services.find_duplicates(session, keys, "Jose Marya", "De la Cruz Pena", DOB)
    assert [c.applicant_id for c in found] == [existing.id]
    assert 0.78 <= found[0].score < 1.0
    assert found[0].matched_on == ("dob",)


def test_mistyped_date_of_birth_is_still_a_candidate(
    session: Session, keys: KeyRing, existing: Applicant
) -> None:
    found = services.find_duplicates(
        session, keys, "José María", "De la Cruz Peña", date(1990, 5, 18)
    )
    assert [c.applicant_id for c in found] == [existing.id]
    assert not found[0].same_date_of_birth and found[0].score < 1.0


def test_different_people_are_not_flagged(
    session: Session, keys: KeyRing, existing: Applicant
) -> None:
    assert services.find_duplicates(session, keys, "Ana", "Okafor", DOB) == []
    assert (
        services.find_duplicates(session, keys, "José María", "Hernández", date(1971, 1, 2)) == []
    )


def test_erased_people_are_never_candidates(
    session: Session, keys: KeyRing, existing: Applicant
) -> None:
    services.erase_applicant(session, keys, SYSTEM, existing.id)
    assert services.find_duplicates(session, keys, "José María", "De la Cruz Peña", DOB) == []


def test_indexes_hold_digests_not_names(
    session: Session, keys: KeyRing, existing: Applicant
) -> None:
    digests = session.scalars(select(ApplicantMatchKey.digest)).all()
    assert digests and all(len(d) == 32 and int(d, 16) >= 0 for d in digests)
    for value in match_values("José María", "De la Cruz Peña", DOB).values():
        assert value not in digests


def test_folding() -> None:
    assert fold("Nguyễn Thị  Đào") == "nguyen thi dao"
    assert fold("Straße O'Brien-Smith") == "strasse o brien smith"
    assert fold("Анна") == "анна" and fold("王秀英") == "王秀英"
