"""The applicant profile: every personal field, validated, serialised only into a ciphertext.

Never recorded, so there is nothing to subpoena or leak: immigration or legal status, citizenship,
nationality; never country of birth, visa or alien numbers, SSN or ITIN either.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from idsys.i18n import N_

NAME_MAX = 100
ALLOWED_FORMAT_CHARS = {"\u200c", "\u200d"}  # ZWNJ/ZWJ shape letters in Persian, Indic scripts
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{5,31}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
EARLIEST_BIRTH = date(1900, 1, 1)


class AddressKind(StrEnum):
    HOME = "home"
    CARE_OF = "care_of"  # a shelter or service provider receives mail for the person
    CONFIDENTIAL = "confidential"  # survivors of violence: no address kept, printed or mailed


class InvalidProfile(ValueError):
    """One message per offending field, for display next to that field.

    ``errors`` holds the English messages; ``templates`` and ``params`` keep them translatable,
    because the same rules speak to clerks and to residents in their own languages.
    """

    def __init__(
        self, templates: dict[str, str], params: dict[str, dict[str, str | int]] | None = None
    ) -> None:
        self.templates = templates
        self.params = params or {}
        self.errors = self.messages(lambda template: template)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))

    def messages(self, translate: Callable[[str], str]) -> dict[str, str]:
        """The messages per field, each template passed through ``translate`` (e.g. gettext)."""
        return {
            key: translate(template) % self.params[key]
            if key in self.params
            else translate(template)
            for key, template in self.templates.items()
        }


def clean_text(value: str | None, max_len: int) -> str:
    """NFC, trimmed, inner whitespace collapsed: what the person wrote, in one canonical form."""
    text = unicodedata.normalize("NFC", value or "")
    return " ".join(text.split())[: max_len + 1]


def bad_characters(text: str) -> list[str]:
    """Control, private-use, unassigned and invisible formatting characters."""
    bad = []
    for char in text:
        category = unicodedata.category(char)
        if category in {"Cc", "Co", "Cn", "Cs"} or (
            category == "Cf" and char not in ALLOWED_FORMAT_CHARS
        ):
            bad.append(f"U+{ord(char):04X}")
    return bad


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    care_of: str = ""  # the organisation, for care-of addresses

    def lines(self) -> tuple[str, ...]:
        parts = [
            f"c/o {self.care_of}" if self.care_of else "",
            self.line1,
            self.line2,
            " ".join(p for p in (self.postal_code, self.city) if p),
        ]
        return tuple(p for p in parts if p)


@dataclass(frozen=True)
class ApplicantProfile:
    given_names: str
    family_names: str
    date_of_birth: date
    address_kind: AddressKind = AddressKind.HOME
    address: Address = field(default_factory=Address)
    phone: str = ""
    email: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    gender: str | None = None  # F, M or X, self-designated; None: not shown
    languages: tuple[str, ...] = ()
    veteran: bool = False

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_names, self.family_names) if p)

    def validated(self, today: date) -> ApplicantProfile:  # noqa: PLR0912 (one branch a rule)
        """Return a cleaned copy, or raise InvalidProfile naming every bad field."""
        errors: dict[str, str] = {}
        params: dict[str, dict[str, str | int]] = {}
        given = clean_text(self.given_names, NAME_MAX)
        family = clean_text(self.family_names, NAME_MAX)
        for name, value in (("given_names", given), ("family_names", family)):
            if len(value) > NAME_MAX:
                errors[name] = N_("At most %(count)s characters.")
                params[name] = {"count": NAME_MAX}
            elif bad := bad_characters(value):
                errors[name] = N_("Contains characters that cannot be printed: %(characters)s")
                params[name] = {"characters": ", ".join(bad[:3])}
        if not given and not family:
            errors["given_names"] = N_("Enter the name as it appears on the identity document.")
        if self.date_of_birth > today:
            errors["date_of_birth"] = N_("The date of birth cannot be in the future.")
        elif self.date_of_birth < EARLIEST_BIRTH:
            errors["date_of_birth"] = N_("Check the year of birth.")
        address = Address(**{k: clean_text(v, 120) for k, v in asdict(self.address).items()})
        if self.address_kind is AddressKind.CONFIDENTIAL:
            address = Address()  # nothing kept: that is the protection
        elif not (address.line1 and address.city):
            errors["address"] = N_(
                "Enter the street address and city (or choose care-of/confidential)."
            )
        elif self.address_kind is AddressKind.CARE_OF and not address.care_of:
            errors["address"] = N_("Name the shelter or organisation that receives mail.")
        phone = clean_text(self.phone, 32)
        if phone and not PHONE_RE.match(phone):
            errors["phone"] = N_("Use digits, spaces and + ( ) - only.")
        email = clean_text(self.email, 254)
        if email and (len(email) > 254 or not EMAIL_RE.match(email)):
            errors["email"] = N_("This does not look like an email address.")
        contact_phone = clean_text(self.emergency_contact_phone, 32)
        if contact_phone and not PHONE_RE.match(contact_phone):
            errors["emergency_contact_phone"] = N_("Use digits, spaces and + ( ) - only.")
        if self.gender not in {None, "F", "M", "X"}:
            errors["gender"] = N_("Choose F, M, X or not shown.")
        languages = tuple(dict.fromkeys(code.strip() for code in self.languages if code.strip()))
        if len(languages) > 2:
            errors["languages"] = N_("Choose at most two preferred languages.")
        elif any(not LANGUAGE_RE.match(code) for code in languages):
            errors["languages"] = N_("Unknown language code.")
        if errors:
            raise InvalidProfile(errors, params)
        return replace(
            self,
            given_names=given,
            family_names=family,
            address=address,
            phone=phone,
            email=email,
            emergency_contact_name=clean_text(self.emergency_contact_name, 120),
            emergency_contact_phone=contact_phone,
            languages=languages,
        )

    def to_json(self) -> bytes:
        data = asdict(self)
        data["date_of_birth"] = self.date_of_birth.isoformat()
        data["v"] = 1
        return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ApplicantProfile:
        data: dict[str, Any] = json.loads(raw)
        data.pop("v", None)
        data["date_of_birth"] = date.fromisoformat(data["date_of_birth"])
        data["address_kind"] = AddressKind(data["address_kind"])
        data["address"] = Address(**data["address"])
        data["languages"] = tuple(data["languages"])
        return cls(**data)
