"""Applicant records: encrypted storage, duplicate detection, erasure and data-key rotation.

Every function takes the session and the key ring, flushes but does not commit (except the
rotation, which commits per batch so that it can resume), raises named errors, and audits with
ids only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idsys.applications.matching import match_values, similarity
from idsys.applications.models import (
    Applicant,
    ApplicantMatchKey,
    Application,
    ApplicationDocument,
    ApplicationKind,
    ApplicationStatus,
    KeyRotationState,
)
from idsys.applications.photos import normalise_photo
from idsys.applications.profile import ApplicantProfile
from idsys.applications.reference import display as display_reference
from idsys.applications.reference import new_reference
from idsys.applications.reference import normalise as normalise_reference
from idsys.audit.services import SYSTEM, Actor, record
from idsys.auth.models import DEFAULT_SITE, StaffUser
from idsys.crypto import (
    DataKey,
    DecryptionError,
    KeyPurpose,
    KeyRing,
    KeyRingError,
    KeyState,
    WrappedKey,
    blind_index,
    constant_time_equal,
    new_data_key,
    rewrap,
    unwrap,
)
from idsys.i18n import N_
from idsys.policy import (
    ApplicantFacts,
    Decision,
    Policy,
    PresentedDocument,
    age_on,
    evaluate,
    local_date,
    retention_until,
)

DUPLICATE_THRESHOLD = 0.78


class ApplicantError(Exception):
    """Base class; the message is fit to show staff."""


class ApplicantNotFound(ApplicantError):
    def __init__(self, applicant_id: object) -> None:
        super().__init__(f"No applicant with id {applicant_id}.")


class ApplicantErased(ApplicantError):
    def __init__(self, applicant_id: object) -> None:
        super().__init__(f"Applicant {applicant_id} was erased; their data no longer exists.")


def _aad(applicant_id: uuid.UUID, purpose: str) -> bytes:
    return f"applicant|{applicant_id}|{purpose}".encode()


def _data_key(keys: KeyRing, applicant: Applicant) -> DataKey:
    if applicant.erased or applicant.wrapped_dek is None or applicant.kek_id is None:
        raise ApplicantErased(applicant.id)
    return unwrap(keys, str(applicant.id), WrappedKey(applicant.kek_id, applicant.wrapped_dek))


def _index(
    session: Session, keys: KeyRing, applicant: Applicant, profile: ApplicantProfile
) -> None:
    session.execute(delete(ApplicantMatchKey).where(ApplicantMatchKey.applicant_id == applicant.id))
    values = match_values(profile.given_names, profile.family_names, profile.date_of_birth)
    seen: set[str] = set()
    for kind, value in values.items():
        key_id, digest = blind_index(keys, kind, value)
        if digest in seen:
            continue
        seen.add(digest)
        session.add(
            ApplicantMatchKey(applicant_id=applicant.id, kind=kind, key_id=key_id, digest=digest)
        )


def get_applicant(session: Session, applicant_id: uuid.UUID | str) -> Applicant:
    try:
        key = applicant_id if isinstance(applicant_id, uuid.UUID) else uuid.UUID(applicant_id)
    except ValueError:
        raise ApplicantNotFound(applicant_id) from None
    applicant = session.get(Applicant, key)
    if applicant is None:
        raise ApplicantNotFound(applicant_id)
    return applicant


def seal_profile(keys: KeyRing, applicant: Applicant, profile: ApplicantProfile) -> DataKey:
    """Give ``applicant`` a fresh data key and store ``profile`` encrypted under it.

    Also used on a throwaway applicant that is never stored: the residents' status page decrypts
    one when a look-up finds no record, so a miss costs the same work as a hit.
    """
    dek, wrapped = new_data_key(keys, str(applicant.id))
    applicant.kek_id, applicant.wrapped_dek = wrapped.kek_id, wrapped.blob
    applicant.profile_ct = dek.encrypt(profile.to_json(), _aad(applicant.id, "profile"))
    return dek


def create_applicant(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    profile: ApplicantProfile,
    *,
    photo: bytes | None = None,
    today: date,
) -> Applicant:
    """Validate, encrypt and store a new applicant; raises InvalidProfile or PhotoError."""
    profile = profile.validated(today)
    clean_photo = normalise_photo(photo) if photo is not None else None
    applicant = Applicant(id=uuid.uuid4())
    dek = seal_profile(keys, applicant, profile)
    if clean_photo is not None:
        applicant.photo_ct = dek.encrypt(clean_photo, _aad(applicant.id, "photo"))
    session.add(applicant)
    session.flush()
    _index(session, keys, applicant, profile)
    record(
        session,
        keys,
        actor,
        "applicant.create",
        target_type="applicant",
        target_id=str(applicant.id),
    )
    session.flush()
    return applicant


def read_profile(keys: KeyRing, applicant: Applicant) -> ApplicantProfile:
    """Decrypt the profile; raises ApplicantErased, or DecryptionError if it was tampered with."""
    if applicant.profile_ct is None:
        raise ApplicantErased(applicant.id)
    dek = _data_key(keys, applicant)
    return ApplicantProfile.from_json(
        dek.decrypt(applicant.profile_ct, _aad(applicant.id, "profile"))
    )


# A profile that is never anyone's: opened when a look-up finds no record (birth_date_check).
_DECOY_PROFILE = ApplicantProfile(given_names="", family_names="", date_of_birth=date(1900, 1, 1))

# Only what comparing a date of birth needs: a look-up that found a record must not fetch more
# (a photo) than one that did not.
BIRTH_DATE_COLUMNS = (
    Applicant.id,
    Applicant.kek_id,
    Applicant.wrapped_dek,
    Applicant.profile_ct,
    Applicant.erased_at,
)


def birth_date_check(
    keys: KeyRing, columns: Sequence[Any] | None, claimed: date
) -> tuple[bool, bool]:
    """(whether the record is readable, whether ``claimed`` is its date of birth), for a record
    given as its `BIRTH_DATE_COLUMNS` (or None when there is none).

    The same work is done either way: a throwaway profile is sealed every time and opened in
    place of a missing or erased record, and the dates are compared in constant time, so the
    time taken does not tell whether a record exists. A profile that does not decrypt matches
    nothing.
    """
    record = Applicant(**dict(zip(_BIRTH_DATE_NAMES, columns, strict=True))) if columns else None
    decoy = Applicant(id=uuid.uuid4())
    seal_profile(keys, decoy, _DECOY_PROFILE)
    readable = (
        record is not None
        and not record.erased
        and record.profile_ct is not None
        and record.wrapped_dek is not None
    )
    try:
        stored = read_profile(keys, record if readable and record else decoy).date_of_birth
    except (ApplicantError, DecryptionError, KeyRingError, ValueError):
        stored = None
    matches = constant_time_equal(stored.isoformat() if stored else "", claimed.isoformat())
    return readable, matches


_BIRTH_DATE_NAMES = tuple(column.key for column in BIRTH_DATE_COLUMNS)


def read_photo(keys: KeyRing, applicant: Applicant) -> bytes | None:
    if applicant.photo_ct is None:
        if applicant.erased:
            raise ApplicantErased(applicant.id)
        return None
    return _data_key(keys, applicant).decrypt(applicant.photo_ct, _aad(applicant.id, "photo"))


def update_profile(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    applicant: Applicant,
    profile: ApplicantProfile,
    *,
    today: date,
) -> ApplicantProfile:
    """Replace the profile (same data key) and its blind indexes."""
    profile = profile.validated(today)
    dek = _data_key(keys, applicant)
    applicant.profile_ct = dek.encrypt(profile.to_json(), _aad(applicant.id, "profile"))
    applicant.updated_at = datetime.now(UTC)
    _index(session, keys, applicant, profile)
    record(
        session,
        keys,
        actor,
        "applicant.update",
        target_type="applicant",
        target_id=str(applicant.id),
    )
    session.flush()
    return profile


def set_photo(
    session: Session, keys: KeyRing, actor: Actor, applicant: Applicant, photo: bytes
) -> None:
    """Re-encode (metadata stripped) and store a new photo; raises PhotoError."""
    clean = normalise_photo(photo)
    applicant.photo_ct = _data_key(keys, applicant).encrypt(clean, _aad(applicant.id, "photo"))
    applicant.updated_at = datetime.now(UTC)
    record(
        session,
        keys,
        actor,
        "applicant.photo",
        target_type="applicant",
        target_id=str(applicant.id),
    )
    session.flush()


@dataclass(frozen=True)
class DuplicateCandidate:
    applicant_id: uuid.UUID
    score: float  # 0..1
    same_date_of_birth: bool
    matched_on: tuple[str, ...]  # blind-index kinds that matched
    profile: ApplicantProfile


def find_duplicates(
    session: Session,
    keys: KeyRing,
    given_names: str,
    family_names: str,
    date_of_birth: date,
    *,
    exclude: uuid.UUID | None = None,
    limit: int = 10,
) -> list[DuplicateCandidate]:
    """Possible earlier records of the same person, best first.

    The blind indexes narrow the search to people sharing a canonical name, a date of birth, or
    both; only those candidates are decrypted and scored, so a check costs a few decryptions
    whatever the size of the register.
    """
    values = match_values(given_names, family_names, date_of_birth)
    by_digest = {blind_index(keys, kind, value)[1]: kind for kind, value in values.items()}
    rows = session.execute(
        select(ApplicantMatchKey.applicant_id, ApplicantMatchKey.kind).where(
            ApplicantMatchKey.digest.in_(by_digest)
        )
    ).all()
    matched: dict[uuid.UUID, set[str]] = {}
    for applicant_id, kind in rows:
        if applicant_id != exclude:
            matched.setdefault(applicant_id, set()).add(kind)
    candidates = []
    for applicant_id, kinds in matched.items():
        applicant = session.get(Applicant, applicant_id)
        if applicant is None or applicant.erased:
            continue
        profile = read_profile(keys, applicant)
        same_dob = profile.date_of_birth == date_of_birth
        if kinds & {"ndob", "cdob", "fdob"}:
            score = 1.0
        else:
            names = similarity(given_names, family_names, profile.given_names, profile.family_names)
            score = names if same_dob else names * 0.85
        if score >= DUPLICATE_THRESHOLD:
            candidates.append(
                DuplicateCandidate(
                    applicant_id, round(score, 3), same_dob, tuple(sorted(kinds)), profile
                )
            )
    candidates.sort(key=lambda c: (-c.score, str(c.applicant_id)))
    return candidates[:limit]


def erase_applicant(
    session: Session, keys: KeyRing, actor: Actor, applicant_id: uuid.UUID | str
) -> Applicant:
    """Crypto-shred one person: destroy their wrapped data key, ciphertexts and blind indexes.

    The row stays (marked erased) so that cards and audit events that point to it still resolve;
    it no longer holds anything about the person. Copies of the wrapped key in old backups become
    unreadable once the key-encryption key of that time is rotated out and retired.
    """
    applicant = get_applicant(session, applicant_id)
    if applicant.erased:
        raise ApplicantErased(applicant.id)
    applicant.wrapped_dek = None
    applicant.kek_id = None
    applicant.profile_ct = None
    applicant.photo_ct = None
    applicant.erased_at = datetime.now(UTC)
    session.execute(delete(ApplicantMatchKey).where(ApplicantMatchKey.applicant_id == applicant.id))
    # The coarse copies kept for statistics describe the person too: they go with the rest.
    session.execute(
        update(Application)
        .where(Application.applicant_id == applicant.id)
        .values(age_band=None, gender_designation=None, preferred_language=None)
    )
    record(
        session,
        keys,
        actor,
        "applicant.erase",
        target_type="applicant",
        target_id=str(applicant.id),
    )
    session.flush()
    return applicant


# -- key rotation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationReport:
    target_kek_id: str
    resumed: bool
    rewrapped: int
    retired: tuple[str, ...]
    still_in_use: tuple[str, ...]


def _pending(session: Session, target: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Applicant)
            .where(Applicant.kek_id.is_not(None), Applicant.kek_id != target)
        )
        or 0
    )


def begin_rotation(session: Session, keys: KeyRing) -> tuple[KeyRotationState, bool, int]:
    """Resume an unfinished rotation, or make a new KEK and start one. Commits.

    Returns (state, resumed, data keys still to re-wrap).
    """
    state = session.scalars(
        select(KeyRotationState)
        .where(KeyRotationState.finished_at.is_(None))
        .order_by(KeyRotationState.id.desc())
    ).first()
    resumed = state is not None
    if state is None:
        fresh = keys.rotate(KeyPurpose.KEK)
        state = KeyRotationState(target_kek_id=fresh.kid, rewrapped=0)
        session.add(state)
        record(session, keys, SYSTEM, "keys.rotate_start", target_type="key", target_id=fresh.kid)
    elif state.target_kek_id != keys.active(KeyPurpose.KEK).kid:
        # The ring was rotated again by hand; finishing towards the newest key is what's wanted.
        state.target_kek_id = keys.active(KeyPurpose.KEK).kid
    session.commit()
    return state, resumed, _pending(session, state.target_kek_id)


def rewrap_batch(session: Session, keys: KeyRing, state: KeyRotationState, batch_size: int) -> int:
    """Re-wrap up to ``batch_size`` data keys under the target KEK and commit; 0 when done."""
    rows = session.scalars(
        select(Applicant)
        .where(Applicant.kek_id.is_not(None), Applicant.kek_id != state.target_kek_id)
        .order_by(Applicant.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    for applicant in rows:
        if applicant.kek_id is None or applicant.wrapped_dek is None:
            continue  # erased meanwhile: nothing to re-wrap
        fresh = rewrap(keys, str(applicant.id), WrappedKey(applicant.kek_id, applicant.wrapped_dek))
        if fresh.kek_id != state.target_kek_id:
            raise RuntimeError("the active key-encryption key changed during the rotation")
        applicant.kek_id, applicant.wrapped_dek = fresh.kek_id, fresh.blob
    state.rewrapped += len(rows)
    session.commit()
    return len(rows)


def finish_rotation(
    session: Session, keys: KeyRing, state: KeyRotationState, *, settle_seconds: float = 2.0
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Retire every previous KEK that no record uses any more. Commits.

    A worker that sealed a data key under the old KEK just before the rotation may not have
    committed yet; waiting ``settle_seconds`` and sweeping again closes that window before a key
    is destroyed. Returns (retired key ids, key ids still in use).
    """
    # Pre-applications (idsys.residents) keep their own data keys under the same KEK.
    from idsys.residents.services import pre_applications_using, rewrap_pre_applications

    time.sleep(settle_seconds)
    while rewrap_batch(session, keys, state, 1000):
        pass
    rewrap_pre_applications(session, keys, state.target_kek_id)
    session.commit()
    retired, in_use = [], []
    for entry in keys.of_purpose(KeyPurpose.KEK):
        if entry.state is not KeyState.PREVIOUS:
            continue
        users = (
            session.scalar(
                select(func.count()).select_from(Applicant).where(Applicant.kek_id == entry.kid)
            )
            or 0
        ) + pre_applications_using(session, entry.kid)
        if users:
            in_use.append(entry.kid)
        else:
            keys.retire(KeyPurpose.KEK, entry.kid)
            retired.append(entry.kid)
            record(session, keys, SYSTEM, "keys.retire", target_type="key", target_id=entry.kid)
    state.finished_at = datetime.now(UTC)
    record(
        session,
        keys,
        SYSTEM,
        "keys.rotate_finish",
        target_type="key",
        target_id=state.target_kek_id,
        detail=f"rewrapped={state.rewrapped}"[:64],
    )
    session.commit()
    return tuple(retired), tuple(in_use)


def rotate_data_keys(
    session: Session,
    keys: KeyRing,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    settle_seconds: float = 2.0,
) -> RotationReport:
    """Re-wrap every data key under a new KEK in committed batches, then retire unused KEKs.

    Safe to interrupt at any point: running it again resumes with the same target key.
    """
    state, resumed, _ = begin_rotation(session, keys)
    while done := rewrap_batch(session, keys, state, batch_size):
        if progress is not None:
            progress(done)
    retired, in_use = finish_rotation(session, keys, state, settle_seconds=settle_seconds)
    return RotationReport(state.target_kek_id, resumed, state.rewrapped, retired, in_use)


# -- applications: intake, submission, decision, retention ----------------------------------

MAX_DOCUMENTS = 20
APPROVE_CODES = {
    "rules_satisfied": N_("All document rules are satisfied"),
    "override_documents": N_("Override: documents accepted on supervisor judgement"),
    "duplicate_checked": N_("Possible duplicate checked: a different person"),
}
REJECT_CODES = {
    "identity_insufficient": N_("Proof of identity is insufficient"),
    "residency_insufficient": N_("Proof of residency is insufficient"),
    "documents_doubtful": N_("Documents could not be accepted as genuine"),
    "duplicate_enrolment": N_("The person already holds a card or an open application"),
    "under_minimum_age": N_("Below the programme's minimum age"),
    "other": N_("Other reason (explained to the applicant in person)"),
}
AGE_BANDS = (
    (0, 13, "0-13"),
    (14, 17, "14-17"),
    (18, 24, "18-24"),
    (25, 34, "25-34"),
    (35, 44, "35-44"),
    (45, 54, "45-54"),
    (55, 64, "55-64"),
    (65, 200, "65+"),
)


class IntakeError(ApplicantError):
    """A workflow step that cannot be done; the message tells staff what to do instead."""


class ApplicationNotFound(IntakeError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"No application with reference {reference}.")


class NotEditable(IntakeError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"This application is {status.replace('_', ' ')} and can no longer be "
            "changed at the counter."
        )


class MissingStep(IntakeError):
    pass


class AlreadySent(IntakeError):
    """A copy of a form already handled (a double click, a reload): nothing was done again."""

    def __init__(self) -> None:
        super().__init__("The documents changed after this form was opened; nothing was added.")


class JustificationRequired(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            "The documents do not meet the rules: write why they should be accepted "
            "(a supervisor will review it), or add the missing documents."
        )


class FourEyesError(IntakeError):
    def __init__(self) -> None:
        super().__init__("You took this application yourself; another supervisor must decide it.")


class InvalidDecision(IntakeError):
    pass


def age_band(age: int) -> str:
    """A coarse band, stored for statistics so that reports never need a date of birth."""
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return AGE_BANDS[-1][2]


def gender_designation(profile: ApplicantProfile) -> str:
    """F, M or X as the person chose, or "none" (not shown): stored for statistics."""
    return profile.gender if profile.gender in {"F", "M", "X"} else "none"


def language_code(profile: ApplicantProfile) -> str:
    """The first preferred language without its region ("pt-BR" is "pt"), or "none"."""
    if not profile.languages:
        return "none"
    return profile.languages[0].split("-")[0].lower()[:8]


def get_application(session: Session, reference: str) -> Application:
    """Find by reference as typed (any case, dashes optional); raises InvalidReference/NotFound."""
    cleaned = normalise_reference(reference)
    application = session.scalars(
        select(Application).where(Application.reference == cleaned)
    ).one_or_none()
    if application is None:
        raise ApplicationNotFound(display_reference(cleaned))
    return application


def start_application(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    *,
    kind: ApplicationKind,
    intake_token: str,
    policy_id: str,
) -> Application:
    """Open a draft. The same ``intake_token`` (a double-clicked form) returns the same draft."""
    existing = session.scalars(
        select(Application).where(Application.intake_token == intake_token)
    ).one_or_none()
    if existing is not None:
        return existing
    staff = session.get(StaffUser, actor.id) if actor.id is not None else None
    while True:
        reference = new_reference()
        taken = session.scalar(
            select(func.count()).select_from(Application).where(Application.reference == reference)
        )
        if not taken:
            break
    application = Application(
        reference=reference,
        intake_token=intake_token,
        kind=kind.value,
        status=ApplicationStatus.DRAFT.value,
        policy_id=policy_id,
        has_caretaker=False,
        created_by=actor.id or 0,
        site=staff.site if staff is not None else DEFAULT_SITE,
    )
    try:
        with session.begin_nested():
            session.add(application)
            session.flush()
    except IntegrityError:
        # The same form sent twice at once: the other request made the draft a moment earlier.
        existing = session.scalars(
            select(Application).where(Application.intake_token == intake_token)
        ).one_or_none()
        if existing is None:
            raise
        return existing
    record(
        session,
        keys,
        actor,
        "application.start",
        target_type="application",
        target_id=application.id,
        detail=kind.value,
    )
    return application


def _require_draft(application: Application) -> None:
    if application.status != ApplicationStatus.DRAFT.value:
        raise NotEditable(application.status)


def applicant_of(session: Session, application: Application) -> Applicant | None:
    if application.applicant_id is None:
        return None
    return session.get(Applicant, application.applicant_id)


def save_profile(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    application: Application,
    profile: ApplicantProfile,
    *,
    has_caretaker: bool,
    today: date,
) -> Applicant:
    """Create the applicant on first save, update it afterwards. Raises InvalidProfile."""
    _require_draft(application)
    applicant = applicant_of(session, application)
    if applicant is None:
        applicant = create_applicant(session, keys, actor, profile, today=today)
        application.applicant_id = applicant.id
    else:
        update_profile(session, keys, actor, applicant, profile, today=today)
    application.has_caretaker = has_caretaker
    application.updated_at = datetime.now(UTC)
    session.flush()
    return applicant


def save_photo(
    session: Session, keys: KeyRing, actor: Actor, application: Application, photo: bytes
) -> None:
    _require_draft(application)
    applicant = applicant_of(session, application)
    if applicant is None:
        raise MissingStep("Enter the applicant's details before the photo.")
    set_photo(session, keys, actor, applicant, photo)


def add_document(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    application: Application,
    policy: Policy,
    document: PresentedDocument,
    *,
    seen: int | None = None,
) -> ApplicationDocument:
    """Record a document the clerk has looked at; the evaluation is recomputed from all of them.

    ``seen`` is how many documents the form's page listed. A copy of the same submission (a
    double click) finds one more and raises AlreadySent instead of adding the document twice.
    """
    _require_draft(application)
    if seen is not None:
        application.updated_at = datetime.now(UTC)
        session.flush()  # locks the application's row: a copy sent at the same time waits here
        recorded = session.scalar(
            select(func.count())
            .select_from(ApplicationDocument)
            .where(ApplicationDocument.application_id == application.id)
        )
        if recorded != seen:
            raise AlreadySent()
    if policy.document(document.code) is None:
        raise IntakeError("This city does not accept that type of document.")
    if len(application.documents) >= MAX_DOCUMENTS:
        raise IntakeError(f"At most {MAX_DOCUMENTS} documents can be recorded.")
    row = ApplicationDocument(
        position=max((d.position for d in application.documents), default=0) + 1,
        code=document.code,
        issue_date=document.issue_date,
        expiry_date=document.expiry_date,
        resident_since=document.resident_since,
        name_matches=document.name_matches,
        address_matches=document.address_matches,
    )
    application.documents.append(row)
    session.flush()
    record(
        session,
        keys,
        actor,
        "application.document_add",
        target_type="application",
        target_id=application.id,
        detail=document.code[:64],
    )
    return row


def remove_document(
    session: Session, keys: KeyRing, actor: Actor, application: Application, document_id: int
) -> None:
    _require_draft(application)
    for row in application.documents:
        if row.id == document_id:
            application.documents.remove(row)
            session.flush()
            record(
                session,
                keys,
                actor,
                "application.document_remove",
                target_type="application",
                target_id=application.id,
                detail=row.code[:64],
            )
            return
    raise IntakeError("That document is not part of this application.")


def presented_documents(application: Application) -> list[PresentedDocument]:
    return [
        PresentedDocument(
            code=d.code,
            issue_date=d.issue_date,
            expiry_date=d.expiry_date,
            resident_since=d.resident_since,
            name_matches=d.name_matches,
            address_matches=d.address_matches,
        )
        for d in application.documents
    ]


def evaluate_application(
    session: Session,
    keys: KeyRing,
    application: Application,
    policy: Policy,
    on_date: date,
    *,
    translate: Callable[[str], str] = str,
    language: str = "en",
) -> Decision | None:
    """The rules' verdict on the documents recorded so far (None until the profile exists)."""
    applicant = applicant_of(session, application)
    if applicant is None:
        return None
    profile = read_profile(keys, applicant)
    facts = ApplicantFacts(
        date_of_birth=profile.date_of_birth, has_caretaker=application.has_caretaker
    )
    return evaluate(
        policy, facts, presented_documents(application), on_date, translate, language=language
    )


def _seal_note(keys: KeyRing, applicant: Applicant, application: Application, note: str) -> bytes:
    aad = f"application|{application.id}|override".encode()
    return _data_key(keys, applicant).encrypt(note.encode(), aad)


def read_override_note(keys: KeyRing, session: Session, application: Application) -> str | None:
    applicant = applicant_of(session, application)
    if application.override_note_ct is None or applicant is None:
        return None
    aad = f"application|{application.id}|override".encode()
    return _data_key(keys, applicant).decrypt(application.override_note_ct, aad).decode()


def submit_application(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    application: Application,
    policy: Policy,
    on_date: date,
    *,
    justification: str = "",
) -> Application:
    """Send a draft for decision: to the supervisor queue, flagged when a possible duplicate was
    found or the rules are overridden (which needs a written justification)."""
    _require_draft(application)
    applicant = applicant_of(session, application)
    if applicant is None:
        raise MissingStep("Enter the applicant's details first.")
    if applicant.photo_ct is None:
        raise MissingStep("Take the applicant's photo before submitting.")
    decision = evaluate_application(session, keys, application, policy, on_date)
    assert decision is not None  # noqa: S101  (the applicant exists)
    profile = read_profile(keys, applicant)
    duplicates = find_duplicates(
        session,
        keys,
        profile.given_names,
        profile.family_names,
        profile.date_of_birth,
        exclude=applicant.id,
        limit=1,
    )
    reasons = []
    if duplicates:
        reasons.append("duplicate")
        application.possible_duplicate_of = duplicates[0].applicant_id
    justification = justification.strip()
    if not decision.ok:
        if len(justification) < 10:
            raise JustificationRequired()
        reasons.append("override")
        application.override_note_ct = _seal_note(
            keys, applicant, application, justification[:2000]
        )
    application.identity_points = decision.identity_points
    application.residency_points = decision.residency_points
    application.rules_satisfied = decision.ok
    application.review_reasons = ",".join(reasons) or None
    application.status = (
        ApplicationStatus.NEEDS_REVIEW if reasons else ApplicationStatus.SUBMITTED
    ).value
    application.submitted_at = datetime.now(UTC)
    session.flush()
    record(
        session,
        keys,
        actor,
        "application.submit",
        target_type="application",
        target_id=application.id,
        detail=application.status,
    )
    return application


def open_drafts(session: Session, staff_id: int, limit: int = 20) -> list[Application]:
    """A clerk's unfinished applications, newest first, to pick up where they left off."""
    return list(
        session.scalars(
            select(Application)
            .where(
                Application.created_by == staff_id,
                Application.status == ApplicationStatus.DRAFT.value,
            )
            .order_by(Application.created_at.desc())
            .limit(limit)
        )
    )


def review_queue(session: Session) -> list[Application]:
    """Flagged applications first, then the oldest: what a supervisor should look at next."""
    rows = session.scalars(
        select(Application)
        .where(
            Application.status.in_(
                [ApplicationStatus.SUBMITTED.value, ApplicationStatus.NEEDS_REVIEW.value]
            )
        )
        .order_by(Application.submitted_at)
    ).all()
    return sorted(rows, key=lambda a: a.status != ApplicationStatus.NEEDS_REVIEW.value)


def decide_application(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    application: Application,
    policy: Policy,
    on_date: date,
    *,
    approve: bool,
    codes: list[str],
    justification: str = "",
) -> Application:
    """Approve or reject with reason codes; audited; document details purged per policy."""
    if application.status not in (
        ApplicationStatus.SUBMITTED.value,
        ApplicationStatus.NEEDS_REVIEW.value,
    ):
        raise NotEditable(application.status)
    if actor.id is not None and actor.id == application.created_by:
        raise FourEyesError()
    allowed = APPROVE_CODES if approve else REJECT_CODES
    codes = list(dict.fromkeys(codes))
    if not codes or any(code not in allowed for code in codes):
        raise InvalidDecision("Choose at least one reason from the list.")
    if approve and not application.rules_satisfied and "override_documents" not in codes:
        raise InvalidDecision(
            "The documents do not meet the rules: approving needs the "
            "override reason and your written justification."
        )
    if approve and "override_documents" in codes and len(justification.strip()) < 10:
        raise JustificationRequired()
    applicant = applicant_of(session, application)
    if applicant is None or applicant.erased:
        raise InvalidDecision("The applicant's record no longer exists.")
    if justification.strip():
        earlier = read_override_note(keys, session, application)
        note = (
            justification.strip() if earlier is None else f"{earlier}\n---\n{justification.strip()}"
        )
        application.override_note_ct = _seal_note(keys, applicant, application, note[:4000])
    profile = read_profile(keys, applicant)
    application.age_band = age_band(age_on(profile.date_of_birth, on_date))
    application.gender_designation = gender_designation(profile)
    application.preferred_language = language_code(profile)
    application.status = (
        ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
    ).value
    application.decision_codes = ",".join(codes)
    application.decided_at = datetime.now(UTC)
    application.decided_by = actor.id
    session.flush()
    record(
        session,
        keys,
        actor,
        "application.approve" if approve else "application.reject",
        target_type="application",
        target_id=application.id,
        detail=application.decision_codes[:64],
    )
    if retention_until(policy, on_date) <= on_date:
        _purge(session, application)
    return application


def withdraw_application(
    session: Session, keys: KeyRing, actor: Actor, application: Application
) -> None:
    if application.status not in (
        ApplicationStatus.DRAFT.value,
        ApplicationStatus.SUBMITTED.value,
        ApplicationStatus.NEEDS_REVIEW.value,
    ):
        raise NotEditable(application.status)
    application.status = ApplicationStatus.WITHDRAWN.value
    application.decided_at = datetime.now(UTC)
    _purge(session, application)
    record(
        session,
        keys,
        actor,
        "application.withdraw",
        target_type="application",
        target_id=application.id,
    )


def _purge(session: Session, application: Application) -> None:
    application.documents.clear()
    application.documents_purged_at = datetime.now(UTC)
    session.flush()


def purge_documents(session: Session, keys: KeyRing, policy: Policy, today: date) -> int:
    """Delete document details of applications decided longer ago than the policy keeps them.

    The outcome summary (points, rules satisfied, decision codes) stays on the application.
    """
    rows = session.scalars(
        select(Application).where(
            Application.decided_at.is_not(None), Application.documents_purged_at.is_(None)
        )
    ).all()
    purged = 0
    for application in rows:
        assert application.decided_at is not None  # noqa: S101  (filtered above)
        decided_on = local_date(policy, _aware(application.decided_at))
        if retention_until(policy, decided_on) <= today:
            _purge(session, application)
            purged += 1
    record(session, keys, SYSTEM, "documents.purge", detail=f"applications={purged}")
    return purged


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
