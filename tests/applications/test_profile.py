"""Profile validation: clear, per-field messages; names in any script kept exactly."""

from __future__ import annotations

from datetime import date

import pytest

from idsys.applications.profile import Address, AddressKind, ApplicantProfile, InvalidProfile
from tests.conftest import sample_profile

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    "name",
    [
        "Nguyễn Thị Minh Khai",
        "محمد عبد الله",
        "王秀英",
        "Αικατερίνη",
        "Zoë O'Connor-Ñúñez",
        "می\u200cخواهم",
    ],
)
def test_names_in_any_script_are_kept(name: str) -> None:
    profile = sample_profile(given_names=name).validated(TODAY)
    assert profile.given_names == name


def test_names_are_nfc_and_trimmed() -> None:
    decomposed = "Jose\u0301  "
    assert sample_profile(given_names=decomposed).validated(TODAY).given_names == "José"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"given_names": "", "family_names": ""}, "given_names", "Enter the name"),
        ({"given_names": "A" * 101}, "given_names", "At most 100"),
        ({"family_names": "Bad\x00Name"}, "family_names", "U+0000"),
        ({"family_names": "Priv\ue000"}, "family_names", "U+E000"),
        ({"date_of_birth": date(2026, 11, 23)}, "date_of_birth", "future"),
        ({"date_of_birth": date(1850, 1, 1)}, "date_of_birth", "year of birth"),
        ({"address": Address()}, "address", "street address"),
        ({"address_kind": AddressKind.CARE_OF}, "address", "shelter or organisation"),
        ({"phone": "call me maybe"}, "phone", "digits"),
        ({"email": "not-an-email"}, "email", "email address"),
        ({"gender": "Q"}, "gender", "F, M, X"),
        ({"languages": ("es", "en", "fr")}, "languages", "at most two"),
        ({"languages": ("Spanish",)}, "languages", "Unknown language"),
    ],
)
def test_invalid_fields_are_named(changes: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidProfile) as info:
        sample_profile(**changes).validated(TODAY)
    assert field in info.value.errors
    assert message in info.value.errors[field]


def test_born_today_is_accepted() -> None:
    assert sample_profile(date_of_birth=TODAY).validated(TODAY).date_of_birth == TODAY


def test_confidential_address_keeps_no_address() -> None:
    profile = sample_profile(address_kind=AddressKind.CONFIDENTIAL).validated(TODAY)
    assert profile.address == Address()
    assert profile.address.lines() == ()


def test_json_round_trip() -> None:
    profile = sample_profile(veteran=True).validated(TODAY)
    assert ApplicantProfile.from_json(profile.to_json()) == profile
