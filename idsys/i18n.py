"""Languages: choosing the language of a page, and the message catalogues behind it.

Residents see every page in English, Spanish, French, Haitian Creole or Portuguese; staff screens
are in English and Spanish at least. Messages live in ``idsys/translations/<lang>/LC_MESSAGES/
messages.po`` (edited by translators, kept in git) and are compiled to ``.mo`` files in the build
(``make translations``; the ``.mo`` files are build artefacts and never committed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from flask import current_app, request, session

TRANSLATIONS: Final = Path(__file__).resolve().parent / "translations"
"""Flask-Babel's default translation directory for this package (``idsys/translations``)."""

LANGUAGE_NAMES: Final[dict[str, str]] = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "ht": "Kreyòl ayisyen",
    "pt": "Português",
}
"""Each language named in itself: a reader finds their own language whatever the page shows."""

EXTRACT_KEYWORDS: Final[dict[str, tuple[int, ...] | None]] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
}
"""The marker functions whose string arguments are messages (``pybabel extract -k``)."""

log = logging.getLogger(__name__)


def N_(message: str) -> str:  # noqa: N802 -- the conventional gettext name for "extract only"
    """Mark a message for extraction where it is defined; it is translated where it is shown."""
    return message


# Messages shown through a variable (a status code, a role name), so that extraction finds them.
# tests/core/test_translations.py checks that every value of these enums is listed.
ENUM_MESSAGES: Final = (
    # applications.models.ApplicationStatus, underscores shown as spaces
    N_("draft"),
    N_("submitted"),
    N_("needs review"),
    N_("approved"),
    N_("rejected"),
    N_("printed"),
    N_("issued"),
    N_("withdrawn"),
    # applications.models.ApplicationKind
    N_("new"),
    N_("renewal"),
    N_("replacement"),
    # auth.models.Role.label
    N_("Clerk"),
    N_("Supervisor"),
    N_("Admin"),
)


def select_locale() -> str:
    """The switcher's choice, else the browser's most preferred language that idsys speaks.

    Regional tags count for their language ("pt-BR" is Portuguese, "es-MX" Spanish) in the
    browser's order of preference: "de-DE, pt-BR;q=0.8, en;q=0.5" gives Portuguese, not the
    English that an exact-match search would pick.
    """
    languages: tuple[str, ...] = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    for value, _quality in request.accept_languages:  # best first
        primary = value.replace("_", "-").split("-")[0].lower()
        if primary in languages:
            return primary
    return languages[0]


def catalogue(language: str, suffix: str = ".po", directory: Path = TRANSLATIONS) -> Path:
    return directory / language / "LC_MESSAGES" / f"messages{suffix}"


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[str]:
    """Compile every ``messages.po`` whose ``.mo`` is missing or older; returns the languages.

    The same as ``pybabel compile`` (which the Makefile runs), for tools that start without make:
    the test suite calls it so that ``pytest`` alone sees the real translations. Fuzzy entries
    are left out, as gettext does: a guess is worse than the English original.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        language = po.parent.parent.name
        with po.open("rb") as source:
            messages = read_po(source, locale=language)
        partial = mo.with_suffix(".mo.tmp")
        with partial.open("wb") as target:
            write_mo(target, messages, use_fuzzy=False)
        partial.replace(mo)  # atomic: a running worker never reads half a catalogue
        compiled.append(language)
    return compiled


def missing_catalogues(languages: tuple[str, ...], directory: Path = TRANSLATIONS) -> list[str]:
    """Languages (other than English, the source language) without a compiled catalogue."""
    return [
        lang
        for lang in languages
        if lang != "en" and not catalogue(lang, ".mo", directory).exists()
    ]
