"""Residents' services: the status look-up, pre-applications and their claim at the counter.

Functions take the session and the key ring, flush but never commit, raise named errors, and
audit with ids and codes only: never a date of birth, a name or the reference someone typed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from idsys.applications import services as applications
from idsys.applications.models import Applicant, Application, ApplicationKind, ApplicationStatus
from idsys.applications.profile import ApplicantProfile
from idsys.applications.reference import new_reference
from idsys.applications.reference import normalise as normalise_reference
from idsys.audit.services import SYSTEM, Actor, Outcome, record
from idsys.crypto import (
    KeyPurpose,
    KeyRing,
    WrappedKey,
    new_data_key,
    random_token,
    rewrap,
    unwrap,
)
from idsys.policy import Policy, local_date
from idsys.residents.models import PreApplication

PUBLIC = Actor(None, "public")
"""The actor of everything a resident does: no account, so no id."""

MAX_PLANNED_DOCUMENTS = 20


class ResidentError(Exception):
    """Base class; the message is fit to show staff."""


class PreApplicationNotFound(ResidentError):
    """Unknown, already claimed or expired: one error, because the clerk's next step is the same."""

    def __init__(self) -> None:
        super().__init__(
            "No pre-application has this code: it was already used at the counter or has "
            "expired. Take the application in the usual way."
        )


class UnknownDocument(ResidentError):
    def __init__(self, code: str) -> None:
        super().__init__(f"This city does not accept the document {code!r}.")


# -- status look-up -----------------------------------------------------------------------------


class Stage(StrEnum):
    """What a resident is told about their application.

    ``needs_review`` is shown as ``received``: the resident learns that it is being checked, not
    that it was flagged (a possible duplicate or a rule override is the supervisors' business).
    """

    RECEIVED = "received"
    APPROVED = "approved"
    READY = "ready"
    ISSUED = "issued"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


STAGES: dict[str, Stage] = {
    ApplicationStatus.SUBMITTED.value: Stage.RECEIVED,
    ApplicationStatus.NEEDS_REVIEW.value: Stage.RECEIVED,
    ApplicationStatus.APPROVED.value: Stage.APPROVED,
    ApplicationStatus.PRINTED.value: Stage.READY,
    ApplicationStatus.ISSUED.value: Stage.ISSUED,
    ApplicationStatus.REJECTED.value: Stage.REJECTED,
    ApplicationStatus.WITHDRAWN.value: Stage.WITHDRAWN,
}


@dataclass(frozen=True)
class StatusAnswer:
    """Everything the status page may say: the stage and the city's dates of the last steps."""

    stage: Stage
    received_on: date | None
    decided_on: date | None


@dataclass(frozen=True)
class _Found:
    id: int
    status: str
    submitted_at: datetime | None
    decided_at: datetime | None


def look_up_status(
    session: Session, keys: KeyRing, policy: Policy, reference: str, date_of_birth: date
) -> StatusAnswer | None:
    """The status of the application with ``reference``, if ``date_of_birth`` is its applicant's.

    None for every kind of miss (unknown reference, wrong date of birth, erased applicant, an
    application still being taken at the counter), and a miss does the same work as a hit: one
    query, one data key unwrapped and one profile decrypted (a throwaway one when there is no
    record), a constant-time comparison and one audit row. So neither the answer nor its timing
    tells whether a reference exists. Raises InvalidReference for malformed input, which
    depends on the text alone. Every look-up is audited; failures with the real reason.
    """
    cleaned = normalise_reference(reference)
    row = session.execute(
        select(
            Application.id,
            Application.status,
            Application.submitted_at,
            Application.decided_at,
            *applications.BIRTH_DATE_COLUMNS,
        )
        .outerjoin(Applicant, Application.applicant_id == Applicant.id)
        .where(Application.reference == cleaned)
    ).first()
    application = (
        _Found(id=row[0], status=row[1], submitted_at=row[2], decided_at=row[3])
        if row is not None
        else None
    )
    holder = row[4:] if row is not None and row[4] is not None else None
    readable, matches = applications.birth_date_check(keys, holder, date_of_birth)

    if application is None:
        reason = "unknown_reference"
    elif not readable:
        reason = "no_record"  # erased, or no details entered yet
    elif application.status not in STAGES:
        reason = "not_submitted"
    elif not matches:
        reason = "date_of_birth_mismatch"
    else:
        reason = ""
    record(
        session,
        keys,
        PUBLIC,
        "residents.status_lookup",
        outcome=Outcome.FAILURE if reason else Outcome.SUCCESS,
        target_type="application" if application is not None else None,
        target_id=application.id if application is not None else None,
        detail=reason or (application.status if application is not None else None),
    )
    if reason or application is None:
        return None
    return StatusAnswer(
        stage=STAGES[application.status],
        received_on=_local(policy, application.submitted_at),
        decided_on=_local(policy, application.decided_at),
    )


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _local(policy: Policy, moment: datetime | None) -> date | None:
    return None if moment is None else local_date(policy, _aware(moment))


# -- pre-applications -------------------------------------------------------------------------


@dataclass(frozen=True)
class PreApplicationData:
    """What a resident wrote: their profile, whether a caretaker comes, the documents planned."""

    profile: ApplicantProfile
    has_caretaker: bool = False
    documents: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        data = {
            "v": 1,
            "profile": json.loads(self.profile.to_json()),
            "has_caretaker": self.has_caretaker,
            "documents": list(self.documents),
        }
        return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PreApplicationData:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            profile=ApplicantProfile.from_json(json.dumps(data["profile"]).encode()),
            has_caretaker=bool(data["has_caretaker"]),
            documents=tuple(data["documents"]),
        )


def _owner(row_id: uuid.UUID) -> str:
    return f"pre-application|{row_id}"


def _aad(row_id: uuid.UUID) -> bytes:
    return f"pre_application|{row_id}|payload".encode()


def expires_on(policy: Policy, created_at: datetime) -> date:
    """The last day (the city's date) on which a pre-application can be claimed."""
    created_on = local_date(policy, _aware(created_at))
    return created_on + timedelta(days=policy.pre_application_days)


def _cutoff(policy: Policy, today: date) -> datetime:
    """Rows created before this moment have expired: their last day was before ``today``."""
    first_kept_day = today - timedelta(days=policy.pre_application_days)
    return datetime.combine(first_kept_day, time.min, tzinfo=policy.tzinfo).astimezone(UTC)


def _check_documents(policy: Policy, codes: tuple[str, ...]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(codes))
    for code in wanted:
        if policy.document(code) is None:
            raise UnknownDocument(code)
    if len(wanted) > MAX_PLANNED_DOCUMENTS:
        raise ResidentError(f"At most {MAX_PLANNED_DOCUMENTS} documents can be listed.")
    # In the policy's order, as the counter's list shows them.
    return tuple(d.code for d in policy.documents if d.code in wanted)


def create_pre_application(
    session: Session, keys: KeyRing, policy: Policy, data: PreApplicationData, *, today: date
) -> PreApplication:
    """Validate and store a resident's pre-application; raises InvalidProfile, UnknownDocument.

    The code is drawn like an application reference (random, with a check character) but is
    unique only among pre-applications: it is typed into its own form at the counter.
    """
    data = PreApplicationData(
        profile=data.profile.validated(today),
        has_caretaker=data.has_caretaker,
        documents=_check_documents(policy, data.documents),
    )
    while True:
        code = new_reference()
        taken = session.scalar(
            select(func.count()).select_from(PreApplication).where(PreApplication.code == code)
        )
        if not taken:
            break
    row = PreApplication(id=uuid.uuid4(), code=code, policy_id=policy.id)
    dek, wrapped = new_data_key(keys, _owner(row.id))
    row.kek_id, row.wrapped_dek = wrapped.kek_id, wrapped.blob
    row.payload_ct = dek.encrypt(data.to_json(), _aad(row.id))
    session.add(row)
    session.flush()
    record(
        session,
        keys,
        PUBLIC,
        "pre_application.create",
        target_type="pre_application",
        target_id=str(row.id),
    )
    return row


def read_pre_application(keys: KeyRing, row: PreApplication) -> PreApplicationData:
    """Decrypt; raises DecryptionError if the row was altered or its ciphertext moved."""
    dek = unwrap(keys, _owner(row.id), WrappedKey(row.kek_id, row.wrapped_dek))
    return PreApplicationData.from_json(dek.decrypt(row.payload_ct, _aad(row.id)))


def find_pre_application(
    session: Session, policy: Policy, code: str, *, today: date
) -> PreApplication:
    """The pre-application with ``code`` as typed or scanned (any case, dashes optional).

    Raises InvalidReference for a malformed code, PreApplicationNotFound when there is none or
    it expired (the nightly purge may not have run yet).
    """
    cleaned = normalise_reference(code)
    row = session.scalars(
        select(PreApplication).where(PreApplication.code == cleaned)
    ).one_or_none()
    if row is None or expires_on(policy, row.created_at) < today:
        raise PreApplicationNotFound()
    return row


def open_pre_application(
    session: Session, keys: KeyRing, actor: Actor, policy: Policy, code: str, *, today: date
) -> tuple[PreApplication, PreApplicationData]:
    """A clerk looks at a pre-application before claiming it: decrypted, and audited."""
    row = find_pre_application(session, policy, code, today=today)
    data = read_pre_application(keys, row)
    record(
        session,
        keys,
        actor,
        "pre_application.open",
        target_type="pre_application",
        target_id=str(row.id),
    )
    return row, data


def claim_pre_application(
    session: Session, keys: KeyRing, actor: Actor, policy: Policy, code: str, *, today: date
) -> tuple[Application, PreApplicationData]:
    """Turn a pre-application into a new draft application, and delete it.

    The profile is stored as the applicant's (encrypted under their own new data key). The
    planned documents are returned for the clerk's checklist and never recorded as seen: only
    the clerk, looking at the originals, records documents. The row is deleted in the same
    transaction, guarded by its row count, so two clerks claiming one code at the same moment
    cannot both succeed: the second finds nothing and its transaction is rolled back.
    """
    row = find_pre_application(session, policy, code, today=today)
    data = read_pre_application(keys, row)
    row_id = row.id
    session.expunge(row)
    deleted = cast(
        "CursorResult[Any]",
        session.execute(
            delete(PreApplication)
            .where(PreApplication.id == row_id)
            .execution_options(synchronize_session=False)
        ),
    )
    if deleted.rowcount != 1:
        raise PreApplicationNotFound()
    application = applications.start_application(
        session,
        keys,
        actor,
        kind=ApplicationKind.NEW,
        intake_token=random_token(24),
        policy_id=policy.id,
    )
    applications.save_profile(
        session,
        keys,
        actor,
        application,
        data.profile,
        has_caretaker=data.has_caretaker,
        today=today,
    )
    record(
        session,
        keys,
        actor,
        "pre_application.claim",
        target_type="application",
        target_id=application.id,
        detail=f"documents_planned={len(data.documents)}",
    )
    return application, data


def purge_pre_applications(session: Session, keys: KeyRing, policy: Policy, today: date) -> int:
    """Delete pre-applications nobody claimed within the policy's days; returns how many."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            delete(PreApplication)
            .where(PreApplication.created_at < _cutoff(policy, today))
            .execution_options(synchronize_session=False)
        ),
    )
    deleted = int(result.rowcount or 0)
    record(session, keys, SYSTEM, "pre_applications.purge", detail=f"deleted={deleted}")
    session.flush()
    return deleted


def rewrap_pre_applications(session: Session, keys: KeyRing, target_kek_id: str) -> int:
    """Key rotation: re-wrap every pre-application's data key under the target KEK.

    There are few (they live for days), so one pass; the caller commits.
    """
    if keys.active(KeyPurpose.KEK).kid != target_kek_id:
        raise RuntimeError("the active key-encryption key changed during the rotation")
    rows = session.scalars(
        select(PreApplication).where(PreApplication.kek_id != target_kek_id).with_for_update()
    ).all()
    for row in rows:
        fresh = rewrap(keys, _owner(row.id), WrappedKey(row.kek_id, row.wrapped_dek))
        row.kek_id, row.wrapped_dek = fresh.kek_id, fresh.blob
    session.flush()
    return len(rows)


def pre_applications_using(session: Session, kek_id: str) -> int:
    """How many pre-applications still need ``kek_id`` (it may not be retired while any do)."""
    return (
        session.scalar(
            select(func.count()).select_from(PreApplication).where(PreApplication.kek_id == kek_id)
        )
        or 0
    )


# -- what the planned documents add up to --------------------------------------------------------


@dataclass(frozen=True)
class PlanSummary:
    """Points the planned documents would give if each is accepted at the counter.

    A guide for the resident, not a decision: the clerk checks dates, names and addresses on
    the originals, and only the rules engine decides.
    """

    identity_points: int
    residency_points: int
    identity_required: int
    residency_required: int
    total_points: int
    total_required: int
    photo_missing: bool
    date_of_birth_missing: bool
    covered: bool  # a document that covers everything (e.g. a New York State licence)

    @property
    def enough(self) -> bool:
        return self.covered or (
            self.identity_points >= self.identity_required
            and self.residency_points >= self.residency_required
            and self.total_points >= self.total_required
            and not self.photo_missing
            and not self.date_of_birth_missing
        )


def plan_summary(policy: Policy, codes: tuple[str, ...]) -> PlanSummary:
    documents = [d for code in dict.fromkeys(codes) if (d := policy.document(code)) is not None]
    identity = sum(d.identity_points for d in documents)
    residency = sum(d.residency_points for d in documents)
    req = policy.requirements
    return PlanSummary(
        identity_points=identity,
        residency_points=residency,
        identity_required=req.identity_points,
        residency_required=req.residency_points,
        total_points=identity + residency,
        total_required=req.total_points,
        photo_missing=req.photo_document and not any(d.shows_photo for d in documents),
        date_of_birth_missing=req.date_of_birth_document
        and not any(d.shows_date_of_birth for d in documents),
        covered=any(d.covers_all_when_address_matches for d in documents),
    )
