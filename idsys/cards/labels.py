"""Card labels in the policy's two card languages, from the translation catalogues."""

from __future__ import annotations

from flask_babel import force_locale, gettext

from idsys.cards.pdf import Labels
from idsys.policy import Policy


def N_(text: str) -> str:  # noqa: N802  (marks messages for extraction)
    return text


LABELS = {
    "card_title": N_("Municipal identification card"),
    "name": N_("Name"),
    "dob": N_("Date of birth"),
    "gender": N_("Gender"),
    "card_number": N_("Card number"),
    "issued": N_("Issued"),
    "expires": N_("Expires"),
    "does_not_expire": N_("Does not expire"),
    "veteran": N_("Veteran"),
    "emergency_contact": N_("Emergency contact"),
    "address": N_("Address"),
    "scan_to_verify": N_("Scan to verify"),
}


def card_languages(policy: Policy) -> tuple[str, str]:
    """The policy's first two languages (one language prints each label once)."""
    first = policy.languages[0]
    second = policy.languages[1] if len(policy.languages) > 1 else ""
    return first, second


def card_labels(policy: Policy) -> Labels:
    first, second = card_languages(policy)
    pairs: dict[str, tuple[str, str]] = {}
    for key, text in LABELS.items():
        with force_locale(first):
            one = gettext(text)
        two = ""
        if second:
            with force_locale(second):
                two = gettext(text)
        pairs[key] = (one, "" if two == one else two)
    return pairs
