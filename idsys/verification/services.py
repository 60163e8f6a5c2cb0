"""Partner registry and card verification.

A partner learns only what its agreement (scope) allows: status alone, or also the holder's
name and date of birth, or also the enrolled photo. Every check is audited with the partner id,
the card id and the result, never with the QR text or anything read from it.
"""

from __future__ import annotations

import base64
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idsys.applications.models import Applicant
from idsys.applications.services import (
    BIRTH_DATE_COLUMNS,
    birth_date_check,
    read_photo,
    read_profile,
)
from idsys.audit.services import (
    Actor,
    Outcome,
    deferred_values,
    insert_deferred,
    insert_deferred_from,
    record,
)
from idsys.cards.models import Card, CardStatus, public_status
from idsys.cards.numbers import InvalidCardNumber
from idsys.cards.numbers import normalise as normalise_card_number
from idsys.crypto import KeyPurpose, KeyRing, apikeys
from idsys.crypto.claim169 import (
    BadSignatureError,
    Claim169Error,
    UnknownKeyIdError,
    decode_and_verify,
)
from idsys.crypto.statuslist import public_reason, sign_status_list
from idsys.db import MAX_ROW_ID, Statements, statements, table_of
from idsys.i18n import N_
from idsys.verification.models import Partner, PartnerKey, PartnerKind, PartnerUsage, Scope

MAX_LIVE_KEYS = 2  # the old and the new one, during a rotation
MAX_QUOTA = 1_000_000
PARTNER_ACTOR_ROLE = "partner"


class PartnerError(Exception):
    """Base class; ``code`` is the stable error code of the API, ``status`` its HTTP status,
    ``partner`` the partner who made the request when it was authenticated (for the audit).

    The errors an admin sees carry ``message``, a msgid (translated where shown), and its
    ``params``; ``str(error)`` is the English text, for the API and the command line.
    """

    code = "partner_error"
    status = 400
    partner: PartnerContext | None = None

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message, self.params = message, params


class RequestRejected(PartnerError):
    """A request that cannot be checked as sent: its body, or a mistyped card number."""

    def __init__(
        self, status: int, code: str, message: str, partner: PartnerContext | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.partner = status, code, partner


class AuthFailed(PartnerError):
    code, status = "invalid_api_key", 401

    def __init__(self) -> None:
        super().__init__("The API key is missing, malformed, unknown or revoked.")


class PartnerDisabled(PartnerError):
    code, status = "partner_disabled", 403

    def __init__(self) -> None:
        super().__init__("This partner's access is suspended; contact the programme office.")


class QuotaExceeded(PartnerError):
    code, status = "daily_quota_exceeded", 429

    def __init__(self, quota: int) -> None:
        super().__init__(
            f"The daily quota of {quota} verifications is used up; it resets at midnight, "
            "city time."
        )


class TooManyKeys(PartnerError):
    code, status = "too_many_keys", 409

    def __init__(self) -> None:
        super().__init__(
            N_("A partner holds at most %(n)s live keys: revoke the old one first."),
            n=MAX_LIVE_KEYS,
        )


class KeyAlreadyIssued(PartnerError):
    """The form that asked for a key was sent again (a reload, Back and resubmit): the key it
    issued was shown once, and is not shown again."""

    code, status = "key_already_issued", 409

    def __init__(self, prefix: str) -> None:
        super().__init__(
            N_(
                "This key was already issued (prefix %(prefix)s), from this page or since it "
                "was opened. If it was not noted, revoke it and issue a new one."
            ),
            prefix=prefix,
        )
        self.prefix = prefix


class KeyAlreadyRevoked(PartnerError):
    code, status = "key_already_revoked", 409

    def __init__(self, prefix: str, revoked_at: datetime) -> None:
        day = _aware(revoked_at).date().isoformat()
        super().__init__(
            N_("Key %(prefix)s was already revoked on %(date)s; nothing was changed."),
            prefix=prefix,
            date=day,
        )
        self.prefix, self.revoked_at = prefix, revoked_at


class InvalidPartner(PartnerError):
    code = "invalid_partner"


class PartnerExists(InvalidPartner):
    def __init__(self, name: str) -> None:
        super().__init__(
            N_(
                "A partner named %(name)s is already registered (was the form sent twice?). "
                "Open it from the partner list, and issue it a new key there if its key was "
                "not noted."
            ),
            name=name,
        )


# -- registry -----------------------------------------------------------------------------------


def get_partner(session: Session, partner_id: int) -> Partner | None:
    """The partner with this id, or None, also for an id no database row can have."""
    if not 1 <= partner_id <= MAX_ROW_ID:
        return None
    return session.get(Partner, partner_id)


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


def live_key_counts(session: Session) -> dict[int, int]:
    """Live keys per partner id, in one query; a partner without any is absent."""
    counts = (
        select(PartnerKey.partner_id, func.count())
        .where(PartnerKey.revoked_at.is_(None))
        .group_by(PartnerKey.partner_id)
    )
    return dict(session.execute(counts).all())


def normalise_name(raw: str) -> str:
    """The name as stored and compared: NFKC (full-width letters, ligatures and look-alike
    compatibility forms become the plain ones) with its spacing collapsed.

    Raises InvalidPartner for a control or invisible formatting character (Unicode category
    C: a zero-width space, a text-direction override): such a name can look identical to
    another one, or empty, and would slip past the duplicate check.
    """
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    for char in name:
        if unicodedata.category(char).startswith("C"):
            raise InvalidPartner(
                N_(
                    "The name contains an invisible or control character (%(char)s), such as "
                    "a zero-width space or a text-direction mark: type the name again without "
                    "it."
                ),
                char=f"U+{ord(char):04X}",
            )
    if not 2 <= len(name) <= 120:
        raise InvalidPartner(N_("Give the partner's name (2 to 120 characters)."))
    return name


def _check_quota(daily_quota: int) -> None:
    if not 1 <= daily_quota <= MAX_QUOTA:
        raise InvalidPartner(N_("The daily quota must be between 1 and 1,000,000."))


def create_partner(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    *,
    name: str,
    kind: PartnerKind,
    contact: str,
    scope: Scope,
    daily_quota: int,
) -> tuple[Partner, str]:
    """Register a partner and issue its first key; the full key is returned once, never stored."""
    name = normalise_name(name)
    _check_quota(daily_quota)
    partner = Partner(
        name=name,
        kind=kind.value,
        contact=contact.strip()[:200],
        scope=scope.value,
        daily_quota=daily_quota,
        is_enabled=True,
    )
    session.add(partner)
    session.flush()
    record(
        session,
        keys,
        actor,
        "partner.create",
        target_type="partner",
        target_id=partner.id,
        detail=f"scope={scope.value}",
    )
    # Checked after the audit record, which holds the chain's lock until commit: of two copies
    # of the same form sent at once, the second sees the first's partner here.
    twin = session.scalar(
        select(Partner.id)
        .where(func.lower(Partner.name) == func.lower(name), Partner.id != partner.id)
        .limit(1)
    )
    if twin is not None:
        raise PartnerExists(name)
    return partner, issue_key(session, keys, actor, partner)


def _check_issuable(
    session: Session, partner: Partner, newest_seen: int | None, issued: int | None = None
) -> None:
    """Raise KeyAlreadyIssued when a key newer than ``newest_seen`` exists (besides
    ``issued``), TooManyKeys when the partner already holds its live keys. Read from the
    database, not from ``partner.keys``, which holds what this session loaded earlier."""
    if newest_seen is not None:
        newer = session.scalars(
            select(PartnerKey)
            .where(
                PartnerKey.partner_id == partner.id,
                PartnerKey.id > newest_seen,
                PartnerKey.id != (issued or 0),
            )
            .order_by(PartnerKey.id)
            .limit(1)
        ).first()
        if newer is not None:
            raise KeyAlreadyIssued(newer.prefix)
    if _live_keys_besides(session, partner.id, issued) >= MAX_LIVE_KEYS:
        raise TooManyKeys()


def _live_keys_besides(session: Session, partner_id: int, key_id: int | None) -> int:
    """How many live keys the partner holds, not counting ``key_id``."""
    live = select(func.count()).where(
        PartnerKey.partner_id == partner_id,
        PartnerKey.revoked_at.is_(None),
        PartnerKey.id != (key_id or 0),
    )
    return session.scalar(live) or 0


def newest_key_id(session: Session, partner: Partner) -> int:
    """The id of the partner's newest key (0 without one): what an issuing form was opened at."""
    newest = session.scalar(
        select(func.max(PartnerKey.id)).where(PartnerKey.partner_id == partner.id)
    )
    return newest or 0


def issue_key(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    partner: Partner,
    *,
    newest_seen: int | None = None,
) -> str:
    """Issue a key and return it in full, once; only its digest is stored.

    ``newest_seen`` is the partner's newest key id when the asking form was drawn
    (`newest_key_id`): a form issues one key at most, so a reload or a resubmission raises
    KeyAlreadyIssued naming the key it issued. Raises TooManyKeys at MAX_LIVE_KEYS.
    """
    if newest_seen is not None and not 0 <= newest_seen <= MAX_ROW_ID:
        raise InvalidPartner(N_("This form is out of date: open the partner's page again."))
    _check_issuable(session, partner, newest_seen)
    full, prefix, digest = apikeys.new_api_key()
    key = PartnerKey(partner_id=partner.id, prefix=prefix, digest=digest)
    session.add(key)
    session.flush()
    record(
        session,
        keys,
        actor,
        "partner.key_issue",
        target_type="partner",
        target_id=partner.id,
        detail=f"key={prefix}",
    )
    # Checked again with the chain's lock held (until commit): of two requests at once (two
    # admins, a double click), the second one sees the first one's key here.
    _check_issuable(session, partner, newest_seen, issued=key.id)
    session.expire(partner, ["keys"])  # loaded before the new key, if at all
    return full


def is_last_live_key(session: Session, key: PartnerKey) -> bool:
    """Whether revoking ``key`` leaves its partner without any live key (it then cannot
    verify cards until a new key is issued)."""
    return key.revoked_at is None and _live_keys_besides(session, key.partner_id, key.id) == 0


def revoke_key(session: Session, keys: KeyRing, actor: Actor, key: PartnerKey) -> None:
    """Effective on the next request: every request re-reads the key.

    Raises KeyAlreadyRevoked (nothing audited) when it was revoked before, also by a request
    that got there first: the UPDATE changes the row only while it is live.
    """
    if key.revoked_at is None:
        revoked = session.scalar(
            update(PartnerKey)
            .where(PartnerKey.id == key.id, PartnerKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(PartnerKey.id)
            .execution_options(synchronize_session=False)
        )
        session.refresh(key)
        if revoked is not None:
            record(
                session,
                keys,
                actor,
                "partner.key_revoke",
                target_type="partner",
                target_id=key.partner_id,
                detail=f"key={key.prefix}",
            )
            return
    raise KeyAlreadyRevoked(key.prefix, key.revoked_at or datetime.now(UTC))


def update_partner(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    partner: Partner,
    *,
    scope: Scope,
    daily_quota: int,
    contact: str,
) -> list[str]:
    """Save the agreement's terms; returns what changed (empty: nothing, and nothing audited).

    The audit row names each change: the scope and the quota from old to new, the contact
    only as changed (it names a person). At most 53 characters, within the detail's 64.
    """
    _check_quota(daily_quota)
    contact = contact.strip()[:200]
    changes = []
    if partner.scope != scope.value:
        changes.append(f"scope={partner.scope}->{scope.value}")
    if partner.daily_quota != daily_quota:
        changes.append(f"quota={partner.daily_quota}->{daily_quota}")
    if partner.contact != contact:
        changes.append("contact")
    if not changes:
        return changes
    partner.scope, partner.daily_quota, partner.contact = scope.value, daily_quota, contact
    session.flush()
    record(
        session,
        keys,
        actor,
        "partner.update",
        target_type="partner",
        target_id=partner.id,
        detail=",".join(changes),
    )
    return changes


def set_enabled(
    session: Session, keys: KeyRing, actor: Actor, partner: Partner, enabled: bool
) -> bool:
    """Enable or disable a partner's access; returns False when it already was (nothing is
    audited then). Disabled, every request with its keys is refused with a 403, from the
    next one on: every request re-reads the partner."""
    if partner.is_enabled == enabled:
        return False
    partner.is_enabled = enabled
    session.flush()
    record(
        session,
        keys,
        actor,
        "partner.enable" if enabled else "partner.disable",
        target_type="partner",
        target_id=partner.id,
    )
    return True


def key_by_prefix(session: Session, prefix: str) -> PartnerKey | None:
    return session.scalars(select(PartnerKey).where(PartnerKey.prefix == prefix)).one_or_none()


# -- authentication and quota --------------------------------------------------------------------

# A verification reads and writes through these tables with Core statements, built once: the ORM's
# identity map and unit of work, and building a statement per call, cost several times what the
# statements themselves do, and a partner's scanner sends hundreds a minute.
_keys_t, _partners_t, _usage_t = table_of(PartnerKey), table_of(Partner), table_of(PartnerUsage)
_cards_t, _applicants_t = table_of(Card), table_of(Applicant)

_KEY_COLUMNS = (
    _keys_t.c.id,
    _keys_t.c.digest,
    _keys_t.c.revoked_at,
    _keys_t.c.last_used_at,
    _partners_t.c.id,
    _partners_t.c.scope,
    _partners_t.c.daily_quota,
    _partners_t.c.is_enabled,
)
_KEYS_JOIN = _keys_t.join(_partners_t, _partners_t.c.id == _keys_t.c.partner_id)
_KEY_BY_PREFIX = (
    select(*_KEY_COLUMNS).select_from(_KEYS_JOIN).where(_keys_t.c.prefix == bindparam("prefix"))
)
_TOUCH_KEY = (
    update(_keys_t).where(_keys_t.c.id == bindparam("key")).values(last_used_at=bindparam("at"))
)
_BUMP_USAGE = (
    update(_usage_t)
    .where(_usage_t.c.partner_id == bindparam("partner"), _usage_t.c.day == bindparam("today"))
    .values(count=_usage_t.c.count + 1)
    .returning(_usage_t.c.count)
)
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class PartnerContext:
    """What a request needs to know about the partner behind its key."""

    id: int
    scope: str
    daily_quota: int

    @property
    def scope_enum(self) -> Scope:
        return Scope(self.scope)


def _partner_of(run: Statements, secret: str | None, row: Sequence[Any] | None) -> PartnerContext:
    """Check a presented key against its stored row (key columns first); every failure looks
    the same to the caller.

    The key's last-used time is written at most once a minute: a write per request would make
    every verification contend for the same row.
    """
    if secret is None or row is None or row[2] is not None or not apikeys.matches(secret, row[1]):
        raise AuthFailed()
    key_id, _digest, _revoked, last_used, partner_id, scope, quota, enabled = row[:8]
    if not enabled:
        raise PartnerDisabled()
    now = datetime.now(UTC)
    if last_used is None or _aware(last_used) < now - LAST_USED_GRANULARITY:
        run.execute(_TOUCH_KEY, {"key": key_id, "at": now})
    return PartnerContext(partner_id, scope, quota)


def authenticate(session: Session, presented: str | None) -> PartnerContext:
    """The partner behind an API key, in one query; raises AuthFailed or PartnerDisabled."""
    parts = apikeys.split_key(presented or "")
    if parts is None:
        raise AuthFailed()
    run = statements(session)
    return _partner_of(run, parts[1], run.first(_KEY_BY_PREFIX, {"prefix": parts[0]}))


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def count_use(session: Session, partner: PartnerContext, day: date) -> None:
    """Count one verification, refusing it once today's quota is used up.

    One atomic UPDATE ... RETURNING, done last before the commit, so the partner's counter row
    stays locked only for the moment of the commit. An attempt over the quota is not counted:
    the caller rolls the transaction back.
    """
    params = {"partner": partner.id, "today": day}
    count = session.connection().execute(_BUMP_USAGE, params).scalar_one_or_none()
    if count is None:
        try:
            with session.begin_nested():
                session.execute(insert(_usage_t).values(partner_id=partner.id, day=day, count=1))
            count = 1
        except IntegrityError:  # another worker created today's row first
            count = session.connection().execute(_BUMP_USAGE, params).scalar_one()
    if count > partner.daily_quota:
        raise QuotaExceeded(partner.daily_quota)


# The usual verification's writes in one statement: today's count goes up only while under the
# quota, and the audit row is written only if it did.
_COUNTED = (
    update(_usage_t)
    .where(
        _usage_t.c.partner_id == bindparam("partner"),
        _usage_t.c.day == bindparam("today"),
        _usage_t.c.count < bindparam("quota"),
    )
    .values(count=_usage_t.c.count + 1)
    .returning(_usage_t.c.count)
    .cte("counted")
)
_COUNT_AND_AUDIT = insert_deferred_from(_COUNTED)


def usage_today(session: Session, partner: Partner | PartnerContext, day: date) -> int:
    return (
        session.scalar(
            select(PartnerUsage.count).where(
                PartnerUsage.partner_id == partner.id, PartnerUsage.day == day
            )
        )
        or 0
    )


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrCheck:
    """The text a scanner read from the card's QR code."""

    text: str


@dataclass(frozen=True)
class NumberCheck:
    """A card read by eye: its number as typed, and the holder's date of birth."""

    number: str
    date_of_birth: date


@dataclass(frozen=True)
class CardState:
    """What a verification reads of a card: clear columns only, and whether its holder's record
    was erased."""

    id: int
    number: str
    applicant_id: uuid.UUID
    status: str
    expires_on: date | None
    revocation_reason: str | None
    holder_erased: bool


# The key and the card in one round trip: the card is joined on the number alone (NULLs when
# there is none), so a request costs one read whatever it asks about.
_KEY_AND_CARD = (
    select(
        *_KEY_COLUMNS,
        _cards_t.c.id,
        _cards_t.c.number,
        _cards_t.c.applicant_id,
        _cards_t.c.status,
        _cards_t.c.expires_on,
        _cards_t.c.revocation_reason,
        _applicants_t.c.erased_at.is_not(None),
    )
    .select_from(
        _KEYS_JOIN.outerjoin(_cards_t, _cards_t.c.number == bindparam("number")).outerjoin(
            _applicants_t, _applicants_t.c.id == _cards_t.c.applicant_id
        )
    )
    .where(_keys_t.c.prefix == bindparam("prefix"))
)


def _card_of(row: Sequence[Any] | None) -> CardState | None:
    """The card columns of a _KEY_AND_CARD row (after the key's), or None when none matched."""
    values = row[len(_KEY_COLUMNS) :] if row is not None else ()
    return CardState(*values) if values and values[0] is not None else None


@dataclass(frozen=True)
class Verification:
    result: str  # valid, expired, revoked, not_found, invalid
    reason: str | None = None
    card: CardState | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": self.result}
        if self.reason:
            body["reason"] = self.reason
        if self.card is not None and self.result in {"valid", "expired"}:
            body["card"] = {
                "number": self.card.number,
                "expires_on": self.card.expires_on.isoformat() if self.card.expires_on else None,
            }
        body.update(self.fields)
        return body


def verify(
    session: Session,
    keys: KeyRing,
    presented_key: str | None,
    check: QrCheck | NumberCheck,
    *,
    today: date,
    now: datetime | None = None,
) -> tuple[PartnerContext, Verification]:
    """Authenticate the partner, then answer what its scope allows about the card.

    A QR's signature is checked first, offline-style, with the published keys; the key and the
    card are then read together. Raises AuthFailed or PartnerDisabled (nothing is answered), and
    RequestRejected for a mistyped number from an authenticated partner. The caller then
    counts and audits the check with `record_check`, or audits the refusal.

    On PostgreSQL its statements run directly, each committing on its own (`idsys.db.statements`):
    a verification's one write is a single statement, so a transaction around it would only add
    two round trips (BEGIN and COMMIT) to every check.
    """
    invalid: Verification | None = None
    number: str | None = None
    mistyped: InvalidCardNumber | None = None
    qr_expired = False
    if isinstance(check, QrCheck):
        try:
            verified = decode_and_verify(
                check.text, keys.verification_keys(), now=now or datetime.now(UTC)
            )
            number, qr_expired = verified.claims.card_number, verified.expired
        except UnknownKeyIdError:
            invalid = Verification("invalid", "unknown_key")
        except BadSignatureError:
            invalid = Verification("invalid", "bad_signature")
        except Claim169Error:
            invalid = Verification("invalid", "malformed")
    else:
        try:
            number = normalise_card_number(check.number)
        except InvalidCardNumber as exc:
            mistyped = exc
    parts = apikeys.split_key(presented_key or "")
    run = statements(session)
    row = None
    if parts is not None:
        row = run.first(_KEY_AND_CARD, {"prefix": parts[0], "number": number})
    partner = _partner_of(run, parts[1] if parts else None, row)
    if mistyped is not None:
        raise RequestRejected(422, "invalid_card_number", str(mistyped), partner)
    if invalid is not None:
        return partner, invalid
    card = _card_of(row)
    if isinstance(check, QrCheck):
        return partner, _judge(session, keys, partner, card, today, qr_expired=qr_expired)
    # A wrong date of birth answers exactly like an unknown number, after the same work: one
    # read of a holder's encrypted record (of nobody's when there is no card) and one profile
    # opened, so neither the answer nor its timing tells whether a number exists. An erased
    # holder's date of birth is gone: the number alone proves nothing, and answers the same.
    holder = card.applicant_id if card is not None and not card.holder_erased else uuid.uuid4()
    columns = session.execute(select(*BIRTH_DATE_COLUMNS).where(Applicant.id == holder)).first()
    readable, matches = birth_date_check(keys, columns, check.date_of_birth)
    if not (readable and matches):
        card = None
    return partner, _judge(session, keys, partner, card, today)


def _judge(
    session: Session,
    keys: KeyRing,
    partner: PartnerContext,
    card: CardState | None,
    today: date,
    *,
    qr_expired: bool = False,
) -> Verification:
    if card is None or card.status == CardStatus.PENDING_PRINT.value:
        return Verification("not_found")
    if card.holder_erased:
        return Verification("revoked", "other", card)
    status = public_status(card.status, card.expires_on, today)
    if status == "revoked":
        return Verification("revoked", public_reason(card.revocation_reason or "other"), card)
    valid = status != "expired" and not qr_expired
    fields = _fields(session, keys, partner, card, valid)
    return Verification("valid" if valid else "expired", None, card, fields)


def _fields(
    session: Session, keys: KeyRing, partner: PartnerContext, card: CardState, valid: bool
) -> dict[str, Any]:
    """Only what the partner's scope allows; the photo only for a valid card. The encrypted
    record is read only for a partner whose scope goes beyond the status."""
    scope = partner.scope_enum
    if not scope.includes(Scope.IDENTITY):
        return {}
    applicant = session.get(Applicant, card.applicant_id)
    if applicant is None or applicant.erased:
        return {}
    profile = read_profile(keys, applicant)
    out: dict[str, Any] = {
        "holder": {
            "full_name": profile.full_name,
            "date_of_birth": profile.date_of_birth.isoformat(),
        }
    }
    if valid and scope.includes(Scope.PHOTO):
        photo = read_photo(keys, applicant)
        if photo is not None:
            out["photo"] = {
                "media_type": "image/jpeg",
                "data": base64.b64encode(photo).decode("ascii"),
            }
    return out


def record_check(
    session: Session, keys: KeyRing, partner: PartnerContext, outcome: Verification, today: date
) -> None:
    """Count the verification against today's quota, audit it and commit; raises QuotaExceeded
    (nothing is counted or audited then: the caller rolls back and audits the refusal).

    Audited in the intake (sealed into the chain within seconds), never with the QR text. On
    PostgreSQL the usual case is one statement, which counts and audits together or not at all;
    the first check of a partner's day, and one over the quota, take the general path, in a
    transaction of their own.
    """
    values = deferred_values(
        keys,
        Actor(None, PARTNER_ACTOR_ROLE),
        "verification.check",
        target_type="card" if outcome.card is not None else None,
        target_id=outcome.card.id if outcome.card is not None else None,
        detail=f"partner={partner.id};{outcome.result}",
    )
    if session.get_bind().dialect.name == "postgresql":
        params = {**values, "partner": partner.id, "today": today, "quota": partner.daily_quota}
        counted = statements(session).first(_COUNT_AND_AUDIT, params) is not None
        session.commit()
        if counted:
            return
    insert_deferred(session, values)
    count_use(session, partner, today)
    session.commit()


def audit_refusal(
    session: Session, keys: KeyRing, partner: PartnerContext | None, code: str
) -> None:
    refusal = deferred_values(
        keys,
        Actor(None, PARTNER_ACTOR_ROLE),
        "verification.refused",
        target_type="partner" if partner else None,
        target_id=partner.id if partner else None,
        outcome=Outcome.DENIED,
        detail=code[:64],
    )
    insert_deferred(session, refusal)


def audit_status_list(
    session: Session, keys: KeyRing, partner: PartnerContext, sequence: int
) -> None:
    """Record that a partner fetched the revocation list (which sequence), in its transaction."""
    fetched = deferred_values(
        keys,
        Actor(None, PARTNER_ACTOR_ROLE),
        "verification.status_list",
        target_type="partner",
        target_id=partner.id,
        detail=f"sequence={sequence}",
    )
    insert_deferred(session, fetched)


# -- status list ----------------------------------------------------------------------------------

STATUS_LIST_VALIDITY = timedelta(hours=24)


def status_list(
    session: Session, keys: KeyRing, *, issuer: str, today: date, now: datetime | None = None
) -> tuple[bytes, int]:
    """The signed list of revoked, unexpired cards (with those of erased holders, as "other"),
    and its sequence number.

    The sequence is the number of cards ever so withdrawn: revocations and erasures are never
    undone, so it only grows, and an offline verifier can refuse an older list replayed to it.
    """
    now = now or datetime.now(UTC)
    cards = select(Card.number, Card.revocation_reason, Applicant.erased_at.is_not(None)).join(
        Applicant, Applicant.id == Card.applicant_id
    )
    # A card whose holder was erased is answered "revoked" online; offline checkers must hear
    # the same. Neither a revocation nor an erasure is ever undone, so the count only grows.
    withdrawn = (Card.status == CardStatus.REVOKED.value) | (
        Applicant.erased_at.is_not(None) & (Card.status != CardStatus.PENDING_PRINT.value)
    )
    sequence = (
        session.scalar(select(func.count()).select_from(cards.where(withdrawn).subquery())) or 0
    )
    rows = session.execute(
        cards.where(withdrawn, (Card.expires_on.is_(None)) | (Card.expires_on >= today))
    ).all()
    kid = keys.active(KeyPurpose.SIGNING).kid
    data = sign_status_list(
        (
            (number, "other" if erased else public_reason(reason or "other"))
            for number, reason, erased in rows
        ),
        issuer=issuer,
        issued_at=now,
        next_update=now + STATUS_LIST_VALIDITY,
        sequence=sequence,
        private_key=keys.signing_key(kid),
        kid=kid,
    )
    return data, sequence
