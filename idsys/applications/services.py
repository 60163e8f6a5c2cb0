"""Applicant records: encrypted storage, duplicate detection, erasure and data-key rotation.

Every function takes the session and the key ring, flushes but does not commit (except the
rotation, which commits per batch so that it can resume), raises named errors, and audits with
ids only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idsys.applications.matching import match_values, similarity
from idsys.applications.models import Applicant, ApplicantMatchKey, KeyRotationState
from idsys.applications.photos import normalise_photo
from idsys.applications.profile import ApplicantProfile
from idsys.audit.services import SYSTEM, Actor, record
from idsys.crypto import (
    DataKey,
    KeyPurpose,
    KeyRing,
    KeyState,
    WrappedKey,
    blind_index,
    new_data_key,
    rewrap,
    unwrap,
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
    dek, wrapped = new_data_key(keys, str(applicant.id))
    applicant.kek_id, applicant.wrapped_dek = wrapped.kek_id, wrapped.blob
    applicant.profile_ct = dek.encrypt(profile.to_json(), _aad(applicant.id, "profile"))
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
    time.sleep(settle_seconds)
    while rewrap_batch(session, keys, state, 1000):
        pass
    retired, in_use = [], []
    for entry in keys.of_purpose(KeyPurpose.KEK):
        if entry.state is not KeyState.PREVIOUS:
            continue
        users = session.scalar(
            select(func.count()).select_from(Applicant).where(Applicant.kek_id == entry.kid)
        )
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
