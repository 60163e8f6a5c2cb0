"""The message catalogues are complete: residents read every page in any of the five languages,
staff screens are in Spanish as well as English, and nothing is half done (fuzzy, obsolete, or a
translation that lost a placeholder).

The messages are extracted from the code here, as ``make messages`` does, so a new string on a
resident page without its translations fails the suite instead of reaching a resident in
English.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from idsys import ROOT
from idsys.applications.models import ApplicationKind, ApplicationStatus
from idsys.auth.models import Role
from idsys.i18n import (
    ENUM_MESSAGES,
    EXTRACT_KEYWORDS,
    TRANSLATIONS,
    catalogue,
    compile_catalogues,
    missing_catalogues,
)

RESIDENT_LANGUAGES = ("es", "fr", "ht", "pt")  # besides English, the source language
STAFF_LANGUAGES = ("es",)
# Messages from these files (paths under idsys/) can reach residents: their pages, the page
# frame and error pages, the profile rules they meet on the pre-application form, and the labels
# printed on their card.
RESIDENT_SOURCES = (
    "residents/",
    "templates/",
    "web.py",
    "applications/profile.py",
    "cards/labels.py",
)
# Translations that may equal the English text: words the languages share.
SAME_AS_ENGLISH: frozenset[str] = frozenset({"No"})  # Spanish "No"


@cache
def extracted() -> Catalog:
    """Every message in the code, with the files it appears in (babel.cfg, as `make messages`)."""
    with (TRANSLATIONS / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT / "idsys"), method_map, options_map, keywords=EXTRACT_KEYWORDS
    ):
        found.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return found


@cache
def translated(language: str) -> Catalog:
    with catalogue(language).open("rb") as source:
        return read_po(source, locale=language)


def is_resident_message(message: Message) -> bool:
    return any(filename.startswith(RESIDENT_SOURCES) for filename, _ in message.locations)


def messages() -> Iterator[Message]:
    return (m for m in extracted() if m.id)


def strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def missing(language: str, wanted: list[Message]) -> list[str]:
    catalog = translated(language)
    gaps = []
    for message in wanted:
        entry = catalog.get(message.id)
        if entry is None or not all(s.strip() for s in strings(entry)):
            gaps.append(ids(message)[0])
    return gaps


def test_extraction_finds_the_messages() -> None:
    found = {ids(m)[0] for m in messages()}
    assert "Check your application" in found  # a resident template
    assert "Given names" in found  # a lazy_gettext form label
    assert "needs review" in found  # an N_ mark
    assert "Review queue" in found  # a staff template
    assert len(found) > 300


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_every_resident_message_is_translated(language: str) -> None:
    wanted = [m for m in messages() if is_resident_message(m)]
    assert len(wanted) > 100
    assert missing(language, wanted) == [], f"untranslated in {language}"


@pytest.mark.parametrize("language", STAFF_LANGUAGES)
def test_every_staff_message_is_translated(language: str) -> None:
    wanted = [m for m in messages() if not is_resident_message(m)]
    assert missing(language, wanted) == [], f"untranslated in {language}"


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_no_resident_message_is_left_in_english(language: str) -> None:
    catalog = translated(language)
    same = []
    for message in messages():
        entry = catalog.get(message.id)
        if is_resident_message(message) and entry is not None:
            same += [t for t, e in zip(strings(entry), ids(message), strict=False) if t == e]
    assert sorted(set(same) - SAME_AS_ENGLISH) == []


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_no_fuzzy_or_obsolete_entry(language: str) -> None:
    catalog = translated(language)
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == [], "fuzzy entries are guesses: review them and remove the fuzzy flag"
    assert list(catalog.obsolete) == [], "obsolete entries: run `make messages`"
    assert "#~" not in catalogue(language).read_text(encoding="utf-8")


BRACES = re.compile(r"\{[a-z_]+\}")


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    """A lost %(date)s or {document} would crash the page or drop the fact it names."""
    catalog = translated(language)
    problems = [
        f"{message.id!r}: {', '.join(map(str, errors))}" for message, errors in catalog.check()
    ]
    for message in catalog:
        if not message.id or not any(strings(message)):
            continue
        wanted = {p for i in ids(message) for p in BRACES.findall(i)}
        for text in strings(message):
            if set(BRACES.findall(text)) != wanted:
                problems.append(f"{ids(message)[0]!r}: placeholders differ in {text!r}")
    assert problems == []


def test_enum_values_shown_through_variables_are_marked() -> None:
    """Statuses, kinds and roles are translated as _(value): extraction must see every one."""
    values = {s.value.replace("_", " ") for s in ApplicationStatus}
    values |= {k.value for k in ApplicationKind}
    values |= {r.label for r in Role}
    assert values <= set(ENUM_MESSAGES)


def test_the_checker_catches_a_missing_translation() -> None:
    """Not vacuous: a message absent from the catalogues is reported."""
    planted = Message("A sentence nobody has translated yet", locations=[("residents/x.py", 1)])
    assert is_resident_message(planted)
    assert missing("ht", [planted]) == ["A sentence nobody has translated yet"]


def test_catalogues_compile_and_missing_ones_are_named(tmp_path: Path) -> None:
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy, ignore=shutil.ignore_patterns("*.mo"))
    assert missing_catalogues(("en", "es", "ht"), copy) == ["es", "ht"]
    assert compile_catalogues(copy) == ["es", "fr", "ht", "pt"]
    assert missing_catalogues(("en", "es", "fr", "ht", "pt"), copy) == []
    assert compile_catalogues(copy) == []  # up to date: nothing to do
