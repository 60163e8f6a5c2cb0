"""Loading and validating policy files: the shipped ones, and every kind of broken one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from idsys.policy import (
    SUPPORTED_LANGUAGES,
    Category,
    LocalizedText,
    PolicyError,
    ResidenceEvidence,
    ValidityBand,
    can_renew,
    card_expiry,
    load_policy,
    parse_policy,
    shipped_policy_names,
)

# A small valid policy; each broken case below changes exactly one snippet of it.
VALID = """\
[policy]
id = "testville"
timezone = "America/Chicago"
languages = ["en", "es"]

[policy.name]
en = "Testville ID"
es = "Identificación de Testville"

[requirements]
identity_points = 2
residency_points = 1

[age]
minimum_age = 10

[card]
renewal_opens_days_before_expiry = 30
renewal_closes_days_after_expiry = 30

[[card.validity]]
from_age = 10
years = 2

[[card.validity]]
from_age = 14
years = 5

[[card.validity]]
from_age = 65
never_expires = true

[[documents]]
code = "passport"
category = "identity"
identity_points = 2
shows_photo = true
[documents.labels]
en = "Passport"
es = "Pasaporte"

[[documents]]
code = "water_receipt"
category = "residency"
residency_points = 1
residence_evidence = "document_date"
recency_window_days = 30
[documents.labels]
en = "Water receipt"
es = "Recibo de agua"
"""

PASSPORT = 'documents[0] (code "passport")'
RECEIPT = 'documents[1] (code "water_receipt")'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "testville.toml"
    path.write_text(text, encoding="utf-8")
    return path


def mutate(old: str, new: str) -> str:
    """VALID with `old` replaced once; fails loudly if the snippet is not there exactly once."""
    assert VALID.count(old) == 1, f"snippet not unique in VALID: {old!r}"
    return VALID.replace(old, new)


# ---------------------------------------------------------------------------------------------
# shipped policies


def test_shipped_names() -> None:
    assert shipped_policy_names() == ("mexico_city", "new_york")


@pytest.mark.parametrize("name", ["mexico_city", "new_york"])
def test_shipped_policy_loads_with_labels_in_every_language(name: str) -> None:
    policy = load_policy(name)
    assert policy.id == name
    assert set(policy.languages) <= set(SUPPORTED_LANGUAGES)
    for doc in policy.documents:
        assert [lang for lang, _ in doc.labels.values] == list(policy.languages)
        assert all(text.strip() for _, text in doc.labels.values)


def test_shipped_facts_mexico_city() -> None:
    policy = load_policy("mexico_city")
    assert policy.timezone == "America/Mexico_City"
    assert policy.default_language == "es"
    assert policy.requirements.minimum_residence_days == 30
    assert policy.name("es") == "Credencial SEDEREC de la Ciudad de México"
    receipt = policy.document("electricity_receipt")
    assert receipt is not None
    assert receipt.category is Category.RESIDENCY
    assert receipt.residence_evidence is ResidenceEvidence.DOCUMENT_DATE
    letter = policy.document("shelter_residence_letter")
    assert letter is not None
    assert letter.residence_evidence is ResidenceEvidence.RESIDENT_SINCE
    assert policy.document("no_such_document") is None


def test_shipped_facts_new_york() -> None:
    policy = load_policy("new_york")
    req = policy.requirements
    assert (req.identity_points, req.residency_points, req.total_points) == (3, 1, 4)
    assert req.photo_document
    assert req.date_of_birth_document
    assert policy.languages == ("en", "es", "fr", "ht", "pt")
    assert (policy.age.minimum_age, policy.age.caretaker_required_below) == (10, 14)
    assert policy.age.photo_waiver_max_age == 21
    assert policy.card.validity == (ValidityBand(10, 2), ValidityBand(14, 5))
    assert policy.card.renewal_opens_days_before_expiry == 60
    assert policy.document_retention_days == 0
    passport = policy.document("passport_machine_readable")
    assert passport is not None
    assert (passport.identity_points, passport.expired_points) == (3, 2)
    licence = policy.document("nys_driver_license")
    assert licence is not None
    assert licence.category is Category.BOTH
    assert licence.covers_all_when_address_matches


def test_load_by_path_equals_load_by_name(tmp_path: Path) -> None:
    by_name = load_policy("new_york")
    copy = tmp_path / "ny.toml"
    copy.write_bytes(Path(by_name.source).read_bytes())
    assert load_policy(copy) == by_name
    assert load_policy(str(copy)) == by_name
    assert load_policy(str(copy)).source == str(copy)


def test_valid_base_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert policy.id == "testville"
    assert policy.requirements.total_points == 3  # defaults to identity + residency
    assert policy.age.caretaker_required_below == 0
    assert policy.card.validity[-1] == ValidityBand(65, None)
    assert policy.document_retention_days == 0


def test_never_expiring_band(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    born = date(1960, 3, 1)
    assert card_expiry(policy, born, date(2025, 2, 28)) == date(2030, 2, 28)  # 64: 5 years
    assert card_expiry(policy, born, date(2025, 3, 1)) is None  # 65: never
    assert can_renew(policy, None, date(2025, 3, 1)) is False


def test_unknown_shipped_name() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("atlantis")
    assert str(caught.value) == (
        "atlantis: no shipped policy has this name (shipped: mexico_city, new_york); "
        "or give a .toml path"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: cannot be read")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace("Identificación", "Identificaci\xf3n").encode("latin-1"))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: is not UTF-8 text (invalid continuation byte)"


def test_parse_policy_names_the_source() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(VALID.replace('"America/Chicago"', '"Mars/Olympus"'), "inline policy")
    assert str(caught.value) == (
        'inline policy: policy: timezone "Mars/Olympus" is not a known IANA time zone'
    )
    assert caught.value.location == "policy"


def test_localized_text_falls_back_to_english() -> None:
    text = LocalizedText((("es", "Pasaporte"), ("en", "Passport")))
    assert text.get("es") == "Pasaporte"
    assert text.get("ht") == "Passport"
    assert text.as_dict() == {"es": "Pasaporte", "en": "Passport"}


# ---------------------------------------------------------------------------------------------
# broken policies: (old snippet, new snippet, where, problem)

BROKEN = [
    pytest.param(
        'category = "identity"',
        'category = "identification"',
        PASSPORT,
        'category must be one of identity, residency, both, not "identification"',
        id="unknown-category",
    ),
    pytest.param(
        "recency_window_days = 30",
        "recency_window_days = -5",
        RECEIPT,
        "recency_window_days must be 0 or more, not -5",
        id="negative-window",
    ),
    pytest.param(
        'en = "Water receipt"\n',
        "",
        f"{RECEIPT}.labels",
        'missing the "en" text (every declared language needs one)',
        id="missing-label",
    ),
    pytest.param(
        'es = "Recibo de agua"\n',
        'es = "Recibo de agua"\nfr = "Reçu d\'eau"\n',
        f"{RECEIPT}.labels",
        '"fr" is not a declared language (declared: en, es)',
        id="label-for-undeclared-language",
    ),
    pytest.param(
        'es = "Identificación de Testville"\n',
        "",
        "policy.name",
        'missing the "es" text (every declared language needs one)',
        id="missing-programme-name",
    ),
    pytest.param(
        'es = "Recibo de agua"\n',
        'es = ""\n',
        f"{RECEIPT}.labels",
        '"es" must be a non-empty string, not a string ("")',
        id="empty-label",
    ),
    pytest.param(
        "[age]\n",
        'colour = "blue"\n\n[age]\n',
        "requirements",
        'unknown key "colour" (allowed: date_of_birth_document, identity_points, '
        "minimum_residence_days, photo_document, residency_points, total_points)",
        id="unknown-key-in-section",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\nshows_fingerprint = true\n",
        PASSPORT,
        'unknown key "shows_fingerprint" (allowed: category, code, '
        "covers_all_when_address_matches, expired_grace_days, expired_points, "
        "expiry_date_required, identity_points, labels, recency_window_days, "
        "residence_evidence, residency_points, shows_date_of_birth, shows_photo)",
        id="unknown-key-in-document",
    ),
    pytest.param(
        "[policy]\n",
        "fees = 0\n\n[policy]\n",
        "",
        'unknown key "fees" (allowed: age, card, documents, pickup, policy, privacy, requirements)',
        id="unknown-top-level-key",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        'identity_points = "2"\nresidency_points = 1\n',
        "requirements",
        'identity_points must be an integer, not a string ("2")',
        id="string-for-integer",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        "identity_points = true\nresidency_points = 1\n",
        "requirements",
        "identity_points must be an integer, not a boolean (true)",
        id="boolean-for-integer",
    ),
    pytest.param(
        "shows_photo = true",
        "shows_photo = 1",
        PASSPORT,
        "shows_photo must be true or false, not an integer (1)",
        id="integer-for-boolean",
    ),
    pytest.param(
        "minimum_age = 10",
        "minimum_age = 10.5",
        "age",
        "minimum_age must be an integer, not a number (10.5)",
        id="float-for-integer",
    ),
    pytest.param(
        'languages = ["en", "es"]',
        'languages = "en"',
        "policy",
        'languages must be an array of strings, not a string ("en")',
        id="string-for-list",
    ),
    pytest.param(
        'code = "water_receipt"',
        'code = "passport"',
        'documents[1] (code "passport")',
        "duplicate code: documents[0] already uses it",
        id="duplicate-code",
    ),
    pytest.param(
        'code = "water_receipt"',
        'code = "Water Receipt"',
        'documents[1] (code "Water Receipt")',
        "code must be lower-case letters, digits and underscores",
        id="bad-code",
    ),
    pytest.param(
        'code = "water_receipt"\n',
        "",
        "documents[1]",
        'missing required key "code"',
        id="missing-code",
    ),
    pytest.param(
        'timezone = "America/Chicago"',
        'timezone = "America/Springfield"',
        "policy",
        'timezone "America/Springfield" is not a known IANA time zone',
        id="bad-timezone",
    ),
    pytest.param(
        'timezone = "America/Chicago"',
        'timezone = "../etc/passwd"',
        "policy",
        'timezone "../etc/passwd" is not a known IANA time zone',
        id="malformed-timezone",
    ),
    pytest.param(
        'languages = ["en", "es"]',
        'languages = ["en", "de"]',
        "policy",
        'languages: "de" is not supported (supported: en, es, fr, ht, pt)',
        id="unsupported-language",
    ),
    pytest.param(
        'languages = ["en", "es"]',
        'languages = ["es"]',
        "policy",
        'languages must include "en" (the fallback language)',
        id="english-missing",
    ),
    pytest.param(
        'languages = ["en", "es"]',
        'languages = ["en", "es", "en"]',
        "policy",
        "languages lists a language twice",
        id="duplicate-language",
    ),
    pytest.param(
        'id = "testville"',
        'id = "Test Ville"',
        "policy",
        "id must be lower-case letters, digits and underscores",
        id="bad-id",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        "residency_points = 1\n",
        "requirements",
        'missing required key "identity_points"',
        id="missing-required-key",
    ),
    pytest.param(
        "[requirements]\nidentity_points = 2\nresidency_points = 1\n",
        "",
        "",
        'missing required key "requirements"',
        id="missing-section",
    ),
    pytest.param(
        "[requirements]\n",
        "requirements = 3\n[unused]\n",
        "",
        'unknown key "unused" (allowed: age, card, documents, pickup, policy, privacy, '
        "requirements)",
        id="section-wrong-type-reports-unknown-first",
    ),
    pytest.param(
        "identity_points = 2\nshows_photo",
        "identity_points = 2\nresidency_points = 1\nshows_photo",
        PASSPORT,
        "residency_points is not allowed for a document of category identity",
        id="identity-document-with-residency-points",
    ),
    pytest.param(
        "residency_points = 1\nresidence_evidence",
        "residency_points = 0\nresidence_evidence",
        RECEIPT,
        "residency_points must be 1 or more, not 0",
        id="zero-points",
    ),
    pytest.param(
        'residence_evidence = "document_date"\n',
        "",
        RECEIPT,
        'missing required key "residence_evidence"',
        id="residency-document-without-evidence",
    ),
    pytest.param(
        'residence_evidence = "document_date"',
        'residence_evidence = "hearsay"',
        RECEIPT,
        'residence_evidence must be one of document_date, resident_since, not "hearsay"',
        id="unknown-evidence-kind",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\nrecency_window_days = 30\n",
        PASSPORT,
        "recency_window_days is only allowed for residency or both documents",
        id="window-on-identity-document",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\nexpired_points = 1\n",
        PASSPORT,
        "expired_points needs expired_grace_days",
        id="expired-points-without-grace",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\nexpired_grace_days = 365\nexpired_points = 3\n",
        PASSPORT,
        "expired_points (3) must not exceed identity_points (2)",
        id="expired-points-above-points",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\nexpired_grace_days = -1\nexpired_points = 1\n",
        PASSPORT,
        "expired_grace_days must be 0 or more, not -1",
        id="negative-grace",
    ),
    pytest.param(
        "recency_window_days = 30\n",
        "recency_window_days = 30\nexpired_grace_days = 30\nexpired_points = 1\n",
        RECEIPT,
        "expired_grace_days is only allowed for identity or both documents",
        id="grace-on-residency-document",
    ),
    pytest.param(
        "shows_photo = true\n",
        "shows_photo = true\ncovers_all_when_address_matches = true\n",
        PASSPORT,
        "covers_all_when_address_matches needs category both",
        id="covers-all-on-identity-document",
    ),
    pytest.param(
        "from_age = 14\nyears = 5\n",
        "from_age = 14\nyears = 5\nnever_expires = true\n",
        "card.validity[1]",
        "give exactly one of years or never_expires = true",
        id="band-with-years-and-never",
    ),
    pytest.param(
        "from_age = 14\nyears = 5\n",
        "from_age = 14\n",
        "card.validity[1]",
        "give exactly one of years or never_expires = true",
        id="band-without-term",
    ),
    pytest.param(
        "from_age = 14\nyears = 5\n",
        "from_age = 14\nyears = 0\n",
        "card.validity[1]",
        "years must be 1 or more, not 0",
        id="band-zero-years",
    ),
    pytest.param(
        "from_age = 65\n",
        "from_age = 12\n",
        "card.validity[2]",
        "from_age (12) must be greater than the previous band's (14)",
        id="bands-not-increasing",
    ),
    pytest.param(
        "from_age = 10\nyears = 2\n",
        "from_age = 11\nyears = 2\n",
        "card.validity[0]",
        "from_age (11) is above the minimum age (10), so some applicants would get no card "
        "validity",
        id="first-band-above-minimum-age",
    ),
    pytest.param(
        "renewal_closes_days_after_expiry = 30",
        "renewal_closes_days_after_expiry = -30",
        "card",
        "renewal_closes_days_after_expiry must be 0 or more, not -30",
        id="negative-renewal",
    ),
    pytest.param(
        "[age]\n",
        "[privacy]\ndocument_retention_days = -1\n\n[age]\n",
        "privacy",
        "document_retention_days must be 0 or more, not -1",
        id="negative-retention",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        "identity_points = 2\nresidency_points = 1\ntotal_points = 2\n",
        "requirements",
        "total_points (2) is less than identity_points + residency_points (3), "
        "so it would never decide anything",
        id="total-below-parts",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        "identity_points = 5\nresidency_points = 1\n",
        "requirements",
        "identity_points (5) is more than the whole catalogue gives (2)",
        id="unreachable-threshold",
    ),
    pytest.param(
        "identity_points = 2\nresidency_points = 1\n",
        "identity_points = 2\nresidency_points = 1\ndate_of_birth_document = true\n",
        "requirements",
        "date_of_birth_document is required but no document shows_date_of_birth",
        id="dob-required-but-never-shown",
    ),
    pytest.param(
        "minimum_age = 10\n",
        "minimum_age = 10\nphoto_waiver_requires_caretaker = true\n",
        "age",
        "photo_waiver_requires_caretaker needs photo_waiver_max_age",
        id="waiver-flag-without-age",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "problem"), BROKEN)
def test_broken_policy(tmp_path: Path, old: str, new: str, where: str, problem: str) -> None:
    path = write(tmp_path, mutate(old, new))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = caught.value
    assert error.source == str(path)
    assert (error.location, error.problem) == (where, problem)
    prefix = f"{path}: {where}: " if where else f"{path}: "
    assert str(error) == prefix + problem


def test_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, mutate('code = "passport"', 'code = "passport'))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    # The parser's own words, with the line and column of the mistake.
    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert str(caught.value).endswith("(at line 34, column 17)")


def test_empty_documents(tmp_path: Path) -> None:
    head = VALID.split("[[documents]]", 1)[0]
    path = write(tmp_path, "documents = []\n" + head)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == f"{path}: documents must not be empty"


# ---------------------------------------------------------------------------------------------
# pre-application retention and card pick-up (the residents' pages)

PICKUP = """
[pickup.place]
en = "City Hall, room 2"
es = "Ayuntamiento, sala 2"

[pickup.hours]
en = "Weekdays 9 to 5"
es = "Días laborables de 9 a 5"
"""


def test_pre_application_days_default_and_pickup_optional(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert policy.pre_application_days == 30
    assert policy.pickup is None


def test_pre_application_days_and_pickup_are_read(tmp_path: Path) -> None:
    text = mutate(
        '[[documents]]\ncode = "passport"',
        "[privacy]\npre_application_days = 14\n" + PICKUP + '\n[[documents]]\ncode = "passport"',
    )
    policy = load_policy(write(tmp_path, text))
    assert policy.pre_application_days == 14
    assert policy.pickup is not None
    assert policy.pickup.place.get("es") == "Ayuntamiento, sala 2"
    assert policy.pickup.hours.get("fr") == "Weekdays 9 to 5"  # undeclared: English


def _privacy_refusal(tmp_path: Path, setting: str) -> tuple[str, str]:
    """Where and why a policy with ``setting`` in its [privacy] table is refused."""
    text = mutate(
        '[[documents]]\ncode = "passport"',
        f'[privacy]\n{setting}\n\n[[documents]]\ncode = "passport"',
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    return caught.value.location, caught.value.problem


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("pre_application_days = 0", "pre_application_days must be 1 or more, not 0"),
        (
            "pre_application_days = 400",
            "pre_application_days must be at most 365, not 400: an unused pre-application "
            "holds personal data",
        ),
        (
            'pre_application_days = "30"',
            'pre_application_days must be an integer, not a string ("30")',
        ),
    ],
)
def test_pre_application_days_is_validated(tmp_path: Path, setting: str, problem: str) -> None:
    assert _privacy_refusal(tmp_path, setting) == ("privacy", problem)


def test_pickup_needs_every_declared_language(tmp_path: Path) -> None:
    pickup = PICKUP.replace('es = "Días laborables de 9 a 5"\n', "")
    text = mutate('[[documents]]\ncode = "passport"', pickup + '\n[[documents]]\ncode = "passport"')
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert (caught.value.location, caught.value.problem) == (
        "pickup.hours",
        'missing the "es" text (every declared language needs one)',
    )


@pytest.mark.parametrize("name", ["mexico_city", "new_york"])
def test_shipped_policies_speak_every_resident_language(name: str) -> None:
    """Residents read the document names and pick-up details in any of the five languages."""
    policy = load_policy(name)
    assert set(policy.languages) == set(SUPPORTED_LANGUAGES)
    assert policy.pickup is not None
    assert 1 <= policy.pre_application_days <= 365


# ---------------------------------------------------------------------------------------------
# statistics: the small-cell threshold


def test_small_cell_threshold_defaults_to_ten_and_is_read(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, VALID)).small_cell_threshold == 10
    text = mutate(
        '[[documents]]\ncode = "passport"',
        '[privacy]\nsmall_cell_threshold = 20\n\n[[documents]]\ncode = "passport"',
    )
    assert load_policy(write(tmp_path, text)).small_cell_threshold == 20


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("small_cell_threshold = 1", "small_cell_threshold must be 3 or more, not 1"),
        ("small_cell_threshold = 500", "small_cell_threshold must be at most 100, not 500"),
        (
            "small_cell_threshold = 10.5",
            "small_cell_threshold must be an integer, not a number (10.5)",
        ),
    ],
)
def test_small_cell_threshold_is_validated(tmp_path: Path, setting: str, problem: str) -> None:
    assert _privacy_refusal(tmp_path, setting) == ("privacy", problem)
