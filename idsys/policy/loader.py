"""Load and validate jurisdiction policy files (TOML) into frozen dataclasses.

A policy is data that programme staff edit, so every mistake must be caught when the file is
loaded, not when a clerk first meets the broken rule at the counter. Validation is strict: unknown
keys, wrong types, impossible combinations and missing translations all raise `PolicyError`, whose
message names the file, the entry and the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SUPPORTED_LANGUAGES: Final[tuple[str, ...]] = ("en", "es", "fr", "ht", "pt")
"""Languages the system can show: English, Spanish, French, Haitian Creole, Portuguese."""

FALLBACK_LANGUAGE: Final = "en"
"""Every policy must declare it: message templates are English and labels fall back to it."""

POLICY_DIR: Final = Path(__file__).resolve().parent / "policies"

DEFAULT_PRE_APPLICATION_DAYS: Final = 30
"""Days an unclaimed pre-application is kept when a policy does not say (``[privacy]``)."""

MAX_PRE_APPLICATION_DAYS: Final = 365

DEFAULT_SMALL_CELL_THRESHOLD: Final = 10
"""Statistics show any count below this as "<10" (``[privacy] small_cell_threshold``)."""

SMALL_CELL_LIMITS: Final = (3, 100)
"""Below 3 a published count could single someone out; above 100 the figures say little."""

_CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")

_E = TypeVar("_E", bound=StrEnum)


class PolicyError(ValueError):
    """A policy file cannot be used; the message says which file, which entry and why."""

    def __init__(self, source: str, location: str, problem: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {problem}")


class Category(StrEnum):
    """What a catalogue document can prove."""

    IDENTITY = "identity"
    RESIDENCY = "residency"
    BOTH = "both"

    @property
    def proves_identity(self) -> bool:
        return self is not Category.RESIDENCY

    @property
    def proves_residency(self) -> bool:
        return self is not Category.IDENTITY


class ResidenceEvidence(StrEnum):
    """How a residency document shows when residence began.

    `document_date`: the document (a utility receipt) proves residence on its own date.
    `resident_since`: the document (a letter from a shelter, hospital or association) states the
    date since which the person has lived at the address.
    """

    DOCUMENT_DATE = "document_date"
    RESIDENT_SINCE = "resident_since"


@dataclass(frozen=True)
class LocalizedText:
    """A text in several languages, immutable and hashable (pairs of language and text)."""

    values: tuple[tuple[str, str], ...]

    def get(self, language: str) -> str:
        """Text in `language`, else English: a policy always has English (validated)."""
        fallback = ""
        for lang, text in self.values:
            if lang == language:
                return text
            if lang == FALLBACK_LANGUAGE:
                fallback = text
        return fallback

    def as_dict(self) -> dict[str, str]:
        return dict(self.values)


@dataclass(frozen=True)
class DocumentType:
    """One entry of the document catalogue.

    Points are per part: a `both` document may give different identity and residency points.
    An expired document counts only for identity, at `expired_points`, and only while it has been
    expired for at most `expired_grace_days` days; otherwise (or with no grace) it does not count.
    """

    code: str
    labels: LocalizedText
    category: Category
    identity_points: int
    residency_points: int
    shows_photo: bool
    shows_date_of_birth: bool
    residence_evidence: ResidenceEvidence | None
    recency_window_days: int | None
    expiry_date_required: bool
    expired_grace_days: int | None
    expired_points: int
    covers_all_when_address_matches: bool

    def label(self, language: str) -> str:
        return self.labels.get(language)


@dataclass(frozen=True)
class Requirements:
    """Thresholds an application must reach."""

    identity_points: int
    residency_points: int
    total_points: int
    photo_document: bool
    date_of_birth_document: bool
    minimum_residence_days: int


@dataclass(frozen=True)
class AgeRules:
    """Age limits; `caretaker_required_below` of 0 means no caretaker is ever required."""

    minimum_age: int
    caretaker_required_below: int
    photo_waiver_max_age: int | None
    photo_waiver_requires_caretaker: bool


@dataclass(frozen=True)
class ValidityBand:
    """Card validity for applicants aged `from_age` (at issue) up to the next band's start."""

    from_age: int
    years: int | None  # None: the card never expires


@dataclass(frozen=True)
class Pickup:
    """Where and when residents collect their card, in every declared language."""

    place: LocalizedText
    hours: LocalizedText


@dataclass(frozen=True)
class CardRules:
    validity: tuple[ValidityBand, ...]
    renewal_opens_days_before_expiry: int
    renewal_closes_days_after_expiry: int


@dataclass(frozen=True)
class Policy:
    """A loaded, validated jurisdiction policy."""

    id: str
    names: LocalizedText
    card_names: LocalizedText
    timezone: str
    languages: tuple[str, ...]
    requirements: Requirements
    age: AgeRules
    card: CardRules
    document_retention_days: int
    documents: tuple[DocumentType, ...]
    source: str = field(compare=False)
    tzinfo: ZoneInfo = field(compare=False, repr=False)
    # Days an unclaimed pre-application is kept before it is deleted (personal data, unused).
    pre_application_days: int = DEFAULT_PRE_APPLICATION_DAYS
    # Where and when to collect the card, shown on the residents' status page; None: not given.
    pickup: Pickup | None = None
    # Counts below this are suppressed in the statistics (shown as "<10" by default).
    small_cell_threshold: int = DEFAULT_SMALL_CELL_THRESHOLD

    @property
    def default_language(self) -> str:
        """The first declared language: the one the city works in."""
        return self.languages[0]

    def name(self, language: str) -> str:
        return self.names.get(language)

    def card_name(self, language: str) -> str:
        return self.card_names.get(language)

    def document(self, code: str) -> DocumentType | None:
        """The catalogue entry for `code`, or None: callers must handle unknown codes."""
        for doc in self.documents:
            if doc.code == code:
                return doc
        return None


# --------------------------------------------------------------------------------------------
# reading helpers


def _describe(value: object) -> str:
    """How a wrong value appears in an error message, e.g. 'a string ("30")'."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    kinds: tuple[tuple[type, str], ...] = (
        (int, "an integer ({})"),
        (float, "a number ({})"),
        (str, 'a string ("{}")'),
        (list, "an array"),
        (dict, "a table"),
    )
    for kind, template in kinds:
        if isinstance(value, kind):
            return template.format(value)
    return f"a {type(value).__name__}"


class _Table:
    """One TOML table being read, with the location used in error messages."""

    def __init__(
        self, source: str, where: str, data: Mapping[str, Any], allowed: frozenset[str]
    ) -> None:
        self.source = source
        self.where = where
        self.data = data
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.error(f'unknown key "{unknown[0]}" (allowed: {", ".join(sorted(allowed))})')

    def error(self, problem: str) -> PolicyError:
        return PolicyError(self.source, self.where, problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def _required(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(f'missing required key "{key}"')
        return self.data[key]

    def string(self, key: str) -> str:
        value = self._required(key)
        if not isinstance(value, str):
            raise self.error(f"{key} must be a string, not {_describe(value)}")
        if not value.strip():
            raise self.error(f"{key} must not be empty")
        return value

    def integer(self, key: str, *, minimum: int = 0, default: int | None = None) -> int:
        if key not in self.data and default is not None:
            return default
        value = self._required(key)
        return self._check_int(key, value, minimum)

    def optional_integer(self, key: str, *, minimum: int = 0) -> int | None:
        if key not in self.data:
            return None
        return self._check_int(key, self.data[key], minimum)

    def _check_int(self, key: str, value: object, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{key} must be an integer, not {_describe(value)}")
        if value < minimum:
            raise self.error(f"{key} must be {minimum} or more, not {value}")
        return value

    def boolean(self, key: str, *, default: bool | None = None) -> bool:
        if key not in self.data and default is not None:
            return default
        value = self._required(key)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, not {_describe(value)}")
        return value

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self._required(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{key} must be an array of strings, not {_describe(value)}")
        return tuple(value)

    def table(self, key: str, allowed: frozenset[str], *, required: bool = True) -> _Table:
        if key not in self.data and not required:
            return _Table(self.source, self._child(key), {}, allowed)
        value = self._required(key)
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a table, not {_describe(value)}")
        return _Table(self.source, self._child(key), value, allowed)

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        value = self._required(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(
                f"{key} must be an array of tables ([[{key}]]), not {_describe(value)}"
            )
        if not value:
            raise self.error(f"{key} must not be empty")
        return value

    def _child(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def labels(self, key: str, languages: tuple[str, ...]) -> LocalizedText:
        """Labels for exactly the declared languages: a missing one would show a blank screen."""
        value = self._required(key)
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a table of language = text, not {_describe(value)}")
        where = self._child(key)
        for lang in value:
            if lang not in languages:
                raise PolicyError(
                    self.source,
                    where,
                    f'"{lang}" is not a declared language (declared: {", ".join(languages)})',
                )
        pairs: list[tuple[str, str]] = []
        for lang in languages:
            if lang not in value:
                raise PolicyError(
                    self.source,
                    where,
                    f'missing the "{lang}" text (every declared language needs one)',
                )
            text = value[lang]
            if not isinstance(text, str) or not text.strip():
                raise PolicyError(
                    self.source,
                    where,
                    f'"{lang}" must be a non-empty string, not {_describe(text)}',
                )
            pairs.append((lang, text))
        return LocalizedText(tuple(pairs))


# --------------------------------------------------------------------------------------------
# sections

_TOP_KEYS: Final = frozenset(
    {"policy", "requirements", "age", "card", "privacy", "documents", "pickup"}
)
_POLICY_KEYS: Final = frozenset({"id", "name", "card_name", "timezone", "languages"})
_REQUIREMENT_KEYS: Final = frozenset(
    {
        "identity_points",
        "residency_points",
        "total_points",
        "photo_document",
        "date_of_birth_document",
        "minimum_residence_days",
    }
)
_AGE_KEYS: Final = frozenset(
    {
        "minimum_age",
        "caretaker_required_below",
        "photo_waiver_max_age",
        "photo_waiver_requires_caretaker",
    }
)
_CARD_KEYS: Final = frozenset(
    {"validity", "renewal_opens_days_before_expiry", "renewal_closes_days_after_expiry"}
)
_BAND_KEYS: Final = frozenset({"from_age", "years", "never_expires"})
_PRIVACY_KEYS: Final = frozenset(
    {"document_retention_days", "pre_application_days", "small_cell_threshold"}
)
_PICKUP_KEYS: Final = frozenset({"place", "hours"})
_DOCUMENT_KEYS: Final = frozenset(
    {
        "code",
        "labels",
        "category",
        "identity_points",
        "residency_points",
        "shows_photo",
        "shows_date_of_birth",
        "residence_evidence",
        "recency_window_days",
        "expiry_date_required",
        "expired_grace_days",
        "expired_points",
        "covers_all_when_address_matches",
    }
)


def _read_languages(meta: _Table) -> tuple[str, ...]:
    languages = meta.string_list("languages")
    if not languages:
        raise meta.error("languages must not be empty")
    for lang in languages:
        if lang not in SUPPORTED_LANGUAGES:
            supported = ", ".join(SUPPORTED_LANGUAGES)
            raise meta.error(f'languages: "{lang}" is not supported (supported: {supported})')
    if len(set(languages)) != len(languages):
        raise meta.error("languages lists a language twice")
    if FALLBACK_LANGUAGE not in languages:
        raise meta.error(f'languages must include "{FALLBACK_LANGUAGE}" (the fallback language)')
    return languages


def _read_timezone(meta: _Table) -> tuple[str, ZoneInfo]:
    name = meta.string("timezone")
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise meta.error(f'timezone "{name}" is not a known IANA time zone') from exc


def _read_enum(table: _Table, key: str, enum: type[_E]) -> _E:
    value = table.string(key)
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise table.error(f'{key} must be one of {choices}, not "{value}"') from None


def _read_document(
    source: str, index: int, data: Mapping[str, Any], languages: tuple[str, ...]
) -> DocumentType:
    where = f"documents[{index}]"
    code_value = data.get("code")
    if isinstance(code_value, str):
        where = f'{where} (code "{code_value}")'
    doc = _Table(source, where, data, _DOCUMENT_KEYS)
    code = doc.string("code")
    if not _CODE_RE.fullmatch(code):
        raise doc.error("code must be lower-case letters, digits and underscores")
    labels = doc.labels("labels", languages)
    category = _read_enum(doc, "category", Category)

    def part_points(key: str, wanted: bool) -> int:
        if wanted:
            return doc.integer(key, minimum=1)
        if doc.has(key):
            raise doc.error(f"{key} is not allowed for a document of category {category}")
        return 0

    identity_points = part_points("identity_points", category.proves_identity)
    residency_points = part_points("residency_points", category.proves_residency)

    evidence: ResidenceEvidence | None = None
    recency: int | None = None
    if category.proves_residency:
        evidence = _read_enum(doc, "residence_evidence", ResidenceEvidence)
        recency = doc.optional_integer("recency_window_days")
    else:
        for key in ("residence_evidence", "recency_window_days"):
            if doc.has(key):
                raise doc.error(f"{key} is only allowed for residency or both documents")

    grace = doc.optional_integer("expired_grace_days")
    expired_points = 0
    if grace is None:
        if doc.has("expired_points"):
            raise doc.error("expired_points needs expired_grace_days")
    else:
        if not category.proves_identity:
            raise doc.error("expired_grace_days is only allowed for identity or both documents")
        expired_points = doc.integer("expired_points", minimum=1)
        if expired_points > identity_points:
            raise doc.error(
                f"expired_points ({expired_points}) must not exceed "
                f"identity_points ({identity_points})"
            )

    covers_all = doc.boolean("covers_all_when_address_matches", default=False)
    if covers_all and category is not Category.BOTH:
        raise doc.error("covers_all_when_address_matches needs category both")

    return DocumentType(
        code=code,
        labels=labels,
        category=category,
        identity_points=identity_points,
        residency_points=residency_points,
        shows_photo=doc.boolean("shows_photo", default=False),
        shows_date_of_birth=doc.boolean("shows_date_of_birth", default=False),
        residence_evidence=evidence,
        recency_window_days=recency,
        expiry_date_required=doc.boolean("expiry_date_required", default=False),
        expired_grace_days=grace,
        expired_points=expired_points,
        covers_all_when_address_matches=covers_all,
    )


def _read_requirements(root: _Table) -> Requirements:
    req = root.table("requirements", _REQUIREMENT_KEYS)
    identity = req.integer("identity_points")
    residency = req.integer("residency_points")
    total = req.integer("total_points", default=identity + residency)
    if total < identity + residency:
        raise req.error(
            f"total_points ({total}) is less than identity_points + residency_points "
            f"({identity + residency}), so it would never decide anything"
        )
    return Requirements(
        identity_points=identity,
        residency_points=residency,
        total_points=total,
        photo_document=req.boolean("photo_document", default=False),
        date_of_birth_document=req.boolean("date_of_birth_document", default=False),
        minimum_residence_days=req.integer("minimum_residence_days", default=0),
    )


def _read_age(root: _Table) -> AgeRules:
    age = root.table("age", _AGE_KEYS, required=False)
    waiver_age = age.optional_integer("photo_waiver_max_age")
    if waiver_age is None and age.has("photo_waiver_requires_caretaker"):
        raise age.error("photo_waiver_requires_caretaker needs photo_waiver_max_age")
    return AgeRules(
        minimum_age=age.integer("minimum_age", default=0),
        caretaker_required_below=age.integer("caretaker_required_below", default=0),
        photo_waiver_max_age=waiver_age,
        photo_waiver_requires_caretaker=age.boolean(
            "photo_waiver_requires_caretaker", default=True
        ),
    )


def _read_card(root: _Table, minimum_age: int) -> CardRules:
    card = root.table("card", _CARD_KEYS)
    bands: list[ValidityBand] = []
    for index, data in enumerate(card.tables("validity")):
        band = _Table(card.source, f"card.validity[{index}]", data, _BAND_KEYS)
        from_age = band.integer("from_age")
        never = band.boolean("never_expires", default=False)
        years = band.optional_integer("years", minimum=1)
        if never == (years is not None):
            raise band.error("give exactly one of years or never_expires = true")
        if bands and from_age <= bands[-1].from_age:
            raise band.error(
                f"from_age ({from_age}) must be greater than the previous band's "
                f"({bands[-1].from_age})"
            )
        bands.append(ValidityBand(from_age=from_age, years=years))
    if bands[0].from_age > minimum_age:
        raise PolicyError(
            card.source,
            "card.validity[0]",
            f"from_age ({bands[0].from_age}) is above the minimum age ({minimum_age}), "
            "so some applicants would get no card validity",
        )
    return CardRules(
        validity=tuple(bands),
        renewal_opens_days_before_expiry=card.integer("renewal_opens_days_before_expiry"),
        renewal_closes_days_after_expiry=card.integer("renewal_closes_days_after_expiry"),
    )


def _check_satisfiable(
    root: _Table, req: Requirements, documents: tuple[DocumentType, ...]
) -> None:
    """Refuse a policy whose thresholds no catalogue could ever meet (a typo, not a rule)."""
    checks = (
        (req.identity_points, sum(d.identity_points for d in documents), "identity_points"),
        (req.residency_points, sum(d.residency_points for d in documents), "residency_points"),
    )
    for wanted, available, key in checks:
        if wanted > available:
            raise PolicyError(
                root.source,
                "requirements",
                f"{key} ({wanted}) is more than the whole catalogue gives ({available})",
            )
    if req.photo_document and not any(d.shows_photo for d in documents):
        raise PolicyError(
            root.source, "requirements", "photo_document is required but no document shows_photo"
        )
    if req.date_of_birth_document and not any(d.shows_date_of_birth for d in documents):
        raise PolicyError(
            root.source,
            "requirements",
            "date_of_birth_document is required but no document shows_date_of_birth",
        )


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate policy TOML; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"not valid TOML: {exc}") from exc
    root = _Table(source, "", data, _TOP_KEYS)

    meta = root.table("policy", _POLICY_KEYS)
    policy_id = meta.string("id")
    if not _CODE_RE.fullmatch(policy_id):
        raise meta.error("id must be lower-case letters, digits and underscores")
    languages = _read_languages(meta)
    names = meta.labels("name", languages)
    # The short name printed in the card's band; the full programme name is often too long.
    card_names = meta.labels("card_name", languages) if meta.has("card_name") else names
    tz_name, tz = _read_timezone(meta)

    requirements = _read_requirements(root)
    age = _read_age(root)
    card = _read_card(root, age.minimum_age)
    privacy = root.table("privacy", _PRIVACY_KEYS, required=False)
    retention = privacy.integer("document_retention_days", default=0)
    pre_application_days = privacy.integer(
        "pre_application_days", minimum=1, default=DEFAULT_PRE_APPLICATION_DAYS
    )
    if pre_application_days > MAX_PRE_APPLICATION_DAYS:
        raise privacy.error(
            f"pre_application_days must be at most {MAX_PRE_APPLICATION_DAYS}, not "
            f"{pre_application_days}: an unused pre-application holds personal data"
        )
    low, high = SMALL_CELL_LIMITS
    small_cell_threshold = privacy.integer(
        "small_cell_threshold", minimum=low, default=DEFAULT_SMALL_CELL_THRESHOLD
    )
    if small_cell_threshold > high:
        raise privacy.error(
            f"small_cell_threshold must be at most {high}, not {small_cell_threshold}"
        )
    pickup = None
    if root.has("pickup"):
        where = root.table("pickup", _PICKUP_KEYS)
        pickup = Pickup(
            place=where.labels("place", languages), hours=where.labels("hours", languages)
        )

    documents: list[DocumentType] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(root.tables("documents")):
        doc = _read_document(source, index, entry, languages)
        if doc.code in seen:
            raise PolicyError(
                source,
                f'documents[{index}] (code "{doc.code}")',
                f"duplicate code: documents[{seen[doc.code]}] already uses it",
            )
        seen[doc.code] = index
        documents.append(doc)
    catalogue = tuple(documents)
    _check_satisfiable(root, requirements, catalogue)

    return Policy(
        id=policy_id,
        names=names,
        card_names=card_names,
        timezone=tz_name,
        languages=languages,
        requirements=requirements,
        age=age,
        card=card,
        document_retention_days=retention,
        documents=catalogue,
        source=source,
        tzinfo=tz,
        pre_application_days=pre_application_days,
        pickup=pickup,
        small_cell_threshold=small_cell_threshold,
    )


def shipped_policy_names() -> tuple[str, ...]:
    """Names accepted by `load_policy` without a path (the files shipped with idsys)."""
    return tuple(sorted(p.stem for p in POLICY_DIR.glob("*.toml")))


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path)
    text = str(name_or_path)
    looks_like_path = text.endswith(".toml") or "/" in text or os.sep in text
    if looks_like_path:
        return Path(text)
    if _CODE_RE.fullmatch(text) and (POLICY_DIR / f"{text}.toml").is_file():
        return POLICY_DIR / f"{text}.toml"
    shipped = ", ".join(shipped_policy_names())
    raise PolicyError(
        text, "", f"no shipped policy has this name (shipped: {shipped}); or give a .toml path"
    )


def load_policy(name_or_path: str | os.PathLike[str]) -> Policy:
    """Load a shipped policy by name ("mexico_city") or a policy file by path.

    A bare name is looked up among the shipped files so that `IDSYS_POLICY=new_york` works from
    any working directory; anything that looks like a path (has a separator or ends in .toml)
    is read as a file, so a city can keep its own policy outside the code.
    """
    path = _resolve(name_or_path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(source, "", f"cannot be read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(source, "", f"is not UTF-8 text ({exc.reason})") from exc
    return parse_policy(text, source)
