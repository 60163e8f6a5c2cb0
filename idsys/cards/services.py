"""Card issuance: numbers, signed QR payloads, print batches, lifecycle and revocation.

Functions take the session and key ring explicitly, flush but do not commit, raise named errors
and audit with ids only (card ids and batch ids, never numbers with names).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idsys.applications.models import Applicant, Application, ApplicationStatus
from idsys.applications.services import read_photo, read_profile
from idsys.audit.services import Actor, record
from idsys.cards import pdf
from idsys.cards.models import (
    BatchItem,
    BatchStatus,
    Card,
    CardStatus,
    PrintBatch,
    RevocationReason,
)
from idsys.cards.numbers import new_card_number
from idsys.crypto import KeyPurpose, KeyRing
from idsys.crypto.claim169 import CardClaims, encode
from idsys.crypto.jwk import jwk_set
from idsys.policy import Policy, can_renew, card_expiry

Layout = Literal["card_printer", "sheet_letter", "sheet_a4"]
LAYOUTS: tuple[Layout, ...] = ("card_printer", "sheet_letter", "sheet_a4")
REPORTABLE = (RevocationReason.LOST, RevocationReason.STOLEN, RevocationReason.DAMAGED)


class CardError(Exception):
    """A card operation that cannot be done; the message says why."""


class CardNotFound(CardError):
    def __init__(self) -> None:
        super().__init__("No such card.")


class NotRenewable(CardError):
    pass


# -- numbers and the QR -------------------------------------------------------------------------


def _insert_with_unique_number(session: Session, card: Card, attempts: int = 8) -> Card:
    """Give the card a random number; the unique index, not a prior look-up, decides.

    Concurrent issuers on PostgreSQL may draw the same number at the same moment; only one
    insert succeeds, inside a savepoint, and the other draws again.
    """
    for _ in range(attempts):
        card.number = new_card_number()
        try:
            with session.begin_nested():
                session.add(card)
                session.flush()
        except IntegrityError:
            continue  # the savepoint rolled back; draw another number
        return card
    raise CardError("Could not allocate a unique card number; try again.")


def qr_text(keys: KeyRing, card: Card, applicant: Applicant, policy: Policy, issuer: str) -> str:
    """The Claim 169 QR payload, signed with the key that signed this card at issue.

    Only card number, full name, date of birth and (if chosen) gender; never an address, and
    never nationality or status. Expiry is the start of the day after the printed expiry date in the
    city's time zone, so the card is valid through its last printed day everywhere.
    """
    profile = read_profile(keys, applicant)
    claims = CardClaims(
        card_number=card.number,
        full_name=profile.full_name,
        date_of_birth=profile.date_of_birth,
        gender=_gender(profile.gender),
    )
    expires_at = None
    if card.expires_on is not None:
        expires_at = datetime.combine(
            card.expires_on + timedelta(days=1), time(0), tzinfo=policy.tzinfo
        )
    kid = card.signing_kid or keys.active(KeyPurpose.SIGNING).kid
    return encode(
        claims,
        issuer=issuer,
        issued_at=_aware(card.issued_at),
        expires_at=expires_at,
        private_key=keys.signing_key(kid),
        kid=kid,
    )


def public_key_set(keys: KeyRing) -> dict[str, object]:
    """Every signing key not yet retired, as a JWK set: old cards keep verifying after rotation."""
    return jwk_set(keys.verification_keys())


_GENDERS: dict[str, Literal["F", "M", "X"]] = {"F": "F", "M": "M", "X": "X"}


def _gender(value: str | None) -> Literal["F", "M", "X"] | None:
    return _GENDERS.get(value or "")


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# -- issuance -----------------------------------------------------------------------------------


def new_card(
    session: Session,
    keys: KeyRing,
    policy: Policy,
    applicant: Applicant,
    application: Application | None,
    today: date,
    expires_on: date | None = None,
    *,
    keep_expiry: bool = False,
) -> Card:
    """Issue a card (pending print) with a fresh unique number, signed by the active key."""
    profile = read_profile(keys, applicant)
    if not keep_expiry:
        expires_on = card_expiry(policy, profile.date_of_birth, today)
    card = Card(
        applicant_id=applicant.id,
        application_id=application.id if application else None,
        status=CardStatus.PENDING_PRINT.value,
        issued_at=datetime.now(UTC),
        issued_on=today,
        expires_on=expires_on,
        signing_kid=keys.active(KeyPurpose.SIGNING).kid,
    )
    return _insert_with_unique_number(session, card)


def ready_to_release(session: Session) -> list[Application]:
    """Approved applications that have no card yet."""
    carded = select(Card.application_id).where(Card.application_id.is_not(None))
    return list(
        session.scalars(
            select(Application)
            .where(
                Application.status == ApplicationStatus.APPROVED.value,
                Application.id.not_in(carded),
            )
            .order_by(Application.decided_at)
        )
    )


def _waiting_cards(session: Session) -> list[Card]:
    """Cards made outside an application (replacements, renewals) not yet in any batch."""
    batched = select(BatchItem.card_id)
    return list(
        session.scalars(
            select(Card)
            .where(Card.status == CardStatus.PENDING_PRINT.value, Card.id.not_in(batched))
            .order_by(Card.id)
        )
    )


@dataclass(frozen=True)
class ReleaseResult:
    batch: PrintBatch | None
    problems: tuple[tuple[str, str], ...]  # (application reference or card id, message)


def release_batch(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    policy: Policy,
    *,
    today: date,
    issuer: str,
    labels: pdf.Labels,
    application_ids: list[int] | None = None,
) -> ReleaseResult:
    """Create cards for approved applications (and queue waiting replacements) in one batch.

    Each card is checked against the layout before it joins (name fits, photo usable), so a
    batch never fails at the printer; those that cannot be printed are reported, not included.
    """
    applications = ready_to_release(session)
    if application_ids is not None:
        wanted = set(application_ids)
        applications = [a for a in applications if a.id in wanted]
    waiting = _waiting_cards(session)  # before new cards exist, which would also match
    batch = PrintBatch(status=BatchStatus.RELEASED.value, released_by=actor.id or 0)
    problems: list[tuple[str, str]] = []
    position = 0
    for application in applications:
        applicant = session.get(Applicant, application.applicant_id)
        if applicant is None or applicant.erased:
            problems.append((application.reference, "The applicant's record was erased."))
            continue
        try:
            with session.begin_nested():
                card = new_card(session, keys, policy, applicant, application, today)
                pdf.check_face(card_face(keys, card, applicant, policy, issuer, labels))
        except (pdf.CardRenderError, ValueError) as exc:
            problems.append((application.reference, str(exc)))
            continue
        position += 1
        batch.items.append(BatchItem(card_id=card.id, position=position, kind=application.kind))
    for card in waiting:
        applicant = session.get(Applicant, card.applicant_id)
        if applicant is None or applicant.erased:
            continue
        position += 1
        batch.items.append(
            BatchItem(card_id=card.id, position=position, kind=_kind_of(session, card))
        )
    if not batch.items:
        return ReleaseResult(None, tuple(problems))
    session.add(batch)
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.batch_release",
        target_type="batch",
        target_id=batch.id,
        detail=f"cards={len(batch.items)}",
    )
    return ReleaseResult(batch, tuple(problems))


def _kind_of(session: Session, card: Card) -> str:
    """A waiting card replaces a reported card, or renews one still valid."""
    old = session.scalars(select(Card).where(Card.superseded_by == card.id)).first()
    if old is not None and old.revocation_reason in {r.value for r in REPORTABLE}:
        return "replacement"
    return "renewal"


def card_face(
    keys: KeyRing, card: Card, applicant: Applicant, policy: Policy, issuer: str, labels: pdf.Labels
) -> pdf.CardFace:
    """Everything printed on one card, decrypted and signed just for this rendering."""
    profile = read_profile(keys, applicant)
    photo = read_photo(keys, applicant)
    if photo is None:
        raise pdf.PhotoError("No photo was taken for this applicant.")
    contact = (
        " ".join(p for p in (profile.emergency_contact_name, profile.emergency_contact_phone) if p)
        or None
    )
    return pdf.CardFace(
        card_number=card.number,
        full_name=profile.full_name,
        date_of_birth=profile.date_of_birth,
        issue_date=card.issued_on,
        expiry_date=card.expires_on,
        photo_jpeg=photo,
        qr_text=qr_text(keys, card, applicant, policy, issuer),
        city_name=policy.card_name(policy.languages[0]),
        labels=labels,
        gender=_gender(profile.gender),
        veteran=profile.veteran,
        emergency_contact=contact,
        address_lines=profile.address.lines(),
    )


def batch_faces(
    session: Session,
    keys: KeyRing,
    batch: PrintBatch,
    policy: Policy,
    issuer: str,
    labels: pdf.Labels,
) -> Iterator[pdf.CardFace]:
    for item in batch.items:
        applicant = session.get(Applicant, item.card.applicant_id)
        if applicant is None or applicant.erased:
            raise CardError(f"Card {item.card_id}: the applicant's record was erased.")
        yield card_face(keys, item.card, applicant, policy, issuer, labels)


# -- rendering a batch's PDF ---------------------------------------------------------------------

# A rendering writes a heartbeat with every card (a card takes well under a second); one that has
# not beaten for this long died with its worker (a restart, a deploy, a database gone too long).
RENDER_STALLED_AFTER = timedelta(minutes=2)


class RenderState(StrEnum):
    NONE = "none"
    RUNNING = "running"
    STALLED = "stalled"
    FINISHED = "finished"
    FAILED = "failed"


class RenderRunning(CardError):
    def __init__(self) -> None:
        super().__init__("This batch's PDF is already being prepared.")


class RenderSuperseded(CardError):
    """Raised inside a rendering that a newer one replaced: it stops and leaves the batch alone."""


def render_state(batch: PrintBatch, now: datetime) -> RenderState:
    """Where the batch's latest PDF rendering stands, as of ``now``."""
    if batch.render_started_at is None:
        return RenderState.NONE
    if batch.render_error is not None:
        return RenderState.FAILED
    if batch.render_finished_at is not None:
        return RenderState.FINISHED
    beat = batch.render_beat_at or batch.render_started_at
    if _aware(now) - _aware(beat) > RENDER_STALLED_AFTER:
        return RenderState.STALLED
    return RenderState.RUNNING


def start_render(batch: PrintBatch, layout: Layout, directory: Path, now: datetime) -> datetime:
    """Record a new rendering of ``batch`` and return its token (its start time), which the
    rendering job passes to `render_is_current`. Refused (RenderRunning) while one is running;
    a stalled one is replaced, and the partial file it left behind deleted."""
    if render_state(batch, now) is RenderState.RUNNING:
        raise RenderRunning()
    discard_partial_files(directory, batch.id)
    batch.render_layout = layout
    batch.render_done = 0
    batch.render_started_at = batch.render_beat_at = now
    batch.render_finished_at = None
    batch.render_error = None
    return now


def render_is_current(session: Session, batch_id: int, token: datetime) -> bool:
    """Whether the rendering that started at ``token`` is still the batch's latest: read from
    the database, since the one that replaced it runs in another thread or process."""
    started = session.scalar(select(PrintBatch.render_started_at).where(PrintBatch.id == batch_id))
    return started is not None and _aware(started) == _aware(token)


def discard_partial_files(directory: Path, batch_id: int) -> None:
    """Delete the temporary files a rendering killed mid-way left (they hold personal data)."""
    if directory.is_dir():
        for partial in directory.glob(f".batch-{batch_id}-*.pdf"):
            partial.unlink(missing_ok=True)


def render_batch_file(
    session: Session,
    keys: KeyRing,
    batch: PrintBatch,
    policy: Policy,
    *,
    issuer: str,
    labels: pdf.Labels,
    layout: Layout,
    directory: Path,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the batch PDF into ``directory`` (mode 0600) and return its path.

    Written to a temporary file and renamed, so a full disk or a killed worker never leaves a
    half-written PDF under the real name; the batch itself is untouched and can be rendered again.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / f"batch-{batch.id}-{layout}.pdf"
    fd, tmp = tempfile.mkstemp(prefix=f".batch-{batch.id}-", suffix=".pdf", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            pdf.render_batch_to(
                handle,
                batch_faces(session, keys, batch, policy, issuer, labels),
                layout,
                progress,
                total=len(batch.items),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def mark_batch_printed(
    session: Session, keys: KeyRing, actor: Actor, batch: PrintBatch, spool: Path | None = None
) -> None:
    """The cards came out of the printer: they become active, and the cards they replace or
    renew are superseded. The spooled PDFs (personal data) are deleted."""
    if batch.status == BatchStatus.PRINTED.value:
        raise CardError("This batch is already marked printed.")
    now = datetime.now(UTC)
    for item in batch.items:
        card = item.card
        card.printed_at = card.printed_at or now
        if card.status == CardStatus.PENDING_PRINT.value:
            card.status = CardStatus.ACTIVE.value
        for old in session.scalars(
            select(Card).where(
                Card.superseded_by == card.id, Card.status == CardStatus.ACTIVE.value
            )
        ):
            _revoke(old, RevocationReason.SUPERSEDED, now)
        if card.application_id is not None:
            application = session.get(Application, card.application_id)
            if application is not None and application.status == ApplicationStatus.APPROVED.value:
                application.status = ApplicationStatus.PRINTED.value
    batch.status = BatchStatus.PRINTED.value
    batch.printed_by = actor.id
    batch.printed_at = now
    session.flush()
    record(session, keys, actor, "cards.batch_printed", target_type="batch", target_id=batch.id)
    if spool is not None:
        for layout in LAYOUTS:
            (spool / f"batch-{batch.id}-{layout}.pdf").unlink(missing_ok=True)
        discard_partial_files(spool, batch.id)


def hand_over(
    session: Session, keys: KeyRing, actor: Actor, card: Card, delivery: Literal["pickup", "mail"]
) -> None:
    if card.status != CardStatus.ACTIVE.value or card.printed_at is None:
        raise CardError("Only a printed, active card can be handed over or mailed.")
    if card.handed_over_at is not None:
        raise CardError("This card was already handed over.")
    card.handed_over_at = datetime.now(UTC)
    card.delivery = delivery
    if card.application_id is not None:
        application = session.get(Application, card.application_id)
        if application is not None:
            application.status = ApplicationStatus.ISSUED.value
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.hand_over",
        target_type="card",
        target_id=card.id,
        detail=delivery,
    )


# -- lifecycle ----------------------------------------------------------------------------------


def _revoke(card: Card, reason: RevocationReason, now: datetime) -> None:
    card.status = CardStatus.REVOKED.value
    card.revocation_reason = reason.value
    card.revoked_at = now


def get_card(session: Session, card_id: int) -> Card:
    card = session.get(Card, card_id)
    if card is None:
        raise CardNotFound()
    return card


def find_by_number(session: Session, number: str) -> Card | None:
    return session.scalars(select(Card).where(Card.number == number)).one_or_none()


def history(session: Session, applicant_id: uuid.UUID) -> list[Card]:
    """Every card a person has held, newest first: the history stays after supersession."""
    return list(
        session.scalars(
            select(Card)
            .where(Card.applicant_id == applicant_id)
            .order_by(Card.issued_at.desc(), Card.id.desc())
        )
    )


def revoke(
    session: Session, keys: KeyRing, actor: Actor, card: Card, reason: RevocationReason
) -> None:
    """Revoke at once (lost, stolen, damaged, fraud): verifiers see it on the next check."""
    if card.status == CardStatus.REVOKED.value:
        raise CardError("This card is already revoked.")
    _revoke(card, reason, datetime.now(UTC))
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.revoke",
        target_type="card",
        target_id=card.id,
        detail=reason.value,
    )


def replace(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    policy: Policy,
    card: Card,
    reason: RevocationReason,
    today: date,
) -> Card:
    """Lost, stolen or damaged: revoke the card now, queue a new one with the same expiry."""
    if reason not in REPORTABLE:
        raise CardError("A replacement is for a lost, stolen or damaged card.")
    applicant = session.get(Applicant, card.applicant_id)
    if applicant is None or applicant.erased:
        raise CardError("The applicant's record was erased.")
    if card.status != CardStatus.REVOKED.value:
        revoke(session, keys, actor, card, reason)
    fresh = new_card(
        session, keys, policy, applicant, None, today, card.expires_on, keep_expiry=True
    )
    card.superseded_by = fresh.id
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.replace",
        target_type="card",
        target_id=fresh.id,
        detail=f"old={card.id}",
    )
    return fresh


def renew(
    session: Session, keys: KeyRing, actor: Actor, policy: Policy, card: Card, today: date
) -> Card:
    """A new card with a new validity, inside the policy's renewal window; the old one is
    superseded when the new one is printed."""
    if card.status != CardStatus.ACTIVE.value:
        raise NotRenewable("Only an active (or expired) card can be renewed.")
    if card.expires_on is None or not can_renew(policy, card.expires_on, today):
        raise NotRenewable("This card is outside the renewal window: a new application is needed.")
    applicant = session.get(Applicant, card.applicant_id)
    if applicant is None or applicant.erased:
        raise CardError("The applicant's record was erased.")
    fresh = new_card(session, keys, policy, applicant, None, today)
    card.superseded_by = fresh.id
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.renew",
        target_type="card",
        target_id=fresh.id,
        detail=f"old={card.id}",
    )
    return fresh


def reprint(session: Session, keys: KeyRing, actor: Actor, card: Card) -> PrintBatch:
    """The same card again (a printer jam): same number, same QR, in a batch of its own."""
    if card.status != CardStatus.ACTIVE.value:
        raise CardError("Only an active card can be reprinted; replace a revoked one.")
    batch = PrintBatch(status=BatchStatus.RELEASED.value, released_by=actor.id or 0)
    batch.items.append(BatchItem(card_id=card.id, position=1, kind="reprint"))
    session.add(batch)
    session.flush()
    record(
        session,
        keys,
        actor,
        "cards.reprint",
        target_type="card",
        target_id=card.id,
        detail=f"batch={batch.id}",
    )
    return batch


def open_batches(session: Session) -> list[PrintBatch]:
    return list(session.scalars(select(PrintBatch).order_by(PrintBatch.id.desc()).limit(50)))
