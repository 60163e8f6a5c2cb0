"""Recording and verifying the hash-chained audit trail.

Each row's hash is an HMAC (audit key from the key ring) over its content and the previous row's
hash. A keyed hash, not a bare SHA-256, because someone able to rewrite rows could otherwise
recompute every later hash; without the audit key they cannot. The head row, also MACed, records
the last sequence number so that deleting the newest rows is detected as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CTE, Insert, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from idsys.audit.models import AuditEvent, AuditHead, AuditIntake
from idsys.crypto import KeyPurpose, KeyRing, UnknownKeyError, constant_time_equal
from idsys.db import table_of

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@dataclass(frozen=True)
class Actor:
    """Who acted: a staff id and role, or the system (both None) for scheduled jobs and CLI."""

    id: int | None
    role: str | None


SYSTEM = Actor(None, None)
# A person at the server's command line: no staff id (whoever runs it holds the server's
# secrets), told apart from the scheduled jobs (SYSTEM) in the trail.
COMMAND_LINE = Actor(None, "cli")


_EVENT_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "detail",
)


def _content(event: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers: its fields, its place in the chain and its predecessor."""
    fields = {
        "seq": event["seq"],
        "at": _utc(event["occurred_at"]).isoformat(timespec="microseconds"),
        "actor_id": event["actor_id"],
        "actor_role": event["actor_role"],
        "action": event["action"],
        "target_type": event["target_type"],
        "target_id": event["target_id"],
        "outcome": event["outcome"],
        "detail": event["detail"],
        "prev": event["prev_hash"],
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _stored(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in (*_EVENT_FIELDS, "seq", "prev_hash")}


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _head_content(seq: int, last_hash: str) -> bytes:
    return f"audit-head|{seq}|{last_hash}".encode()


def _lock_head(session: Session) -> AuditHead:
    """The chain head, locked until the transaction ends: appends are strictly ordered."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=_HEAD_ID, last_seq=0, last_hash=GENESIS_HASH, key_id="", head_mac="")
        session.add(head)
    return head


def _link(keys: KeyRing, head: AuditHead, fields: dict[str, Any]) -> dict[str, Any]:
    """Give ``fields`` the next place in the chain and its hash, and move the head past it.

    The head's own MAC is left to :func:`_seal_head`, once per batch of appended rows.
    """
    fields["seq"] = head.last_seq + 1
    fields["prev_hash"] = head.last_hash
    fields["key_id"], digest = keys.mac(KeyPurpose.AUDIT, _content(fields))
    fields["row_hash"] = digest.hex()
    head.last_seq, head.last_hash = fields["seq"], fields["row_hash"]
    return fields


def _seal_head(keys: KeyRing, head: AuditHead) -> None:
    head.key_id, head_mac = keys.mac(KeyPurpose.AUDIT, _head_content(head.last_seq, head.last_hash))
    head.head_mac = head_mac.hex()


def _event(
    actor: Actor,
    action: str,
    outcome: Outcome,
    target_type: str | None,
    target_id: str | int | None,
    detail: str | None,
    now: datetime | None,
) -> dict[str, Any]:
    return {
        "occurred_at": now or datetime.now(UTC),
        "actor_id": actor.id,
        "actor_role": actor.role,
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "outcome": outcome.value,
        "detail": detail,
    }


def record(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the action).

    ``action`` is a dotted code such as ``auth.login``; ``detail`` a short code, never free text
    that could carry personal data.
    """
    head = _lock_head(session)
    fields = _event(actor, action, outcome, target_type, target_id, detail, now)
    event = AuditEvent(**_link(keys, head, fields))
    session.add(event)
    _seal_head(keys, head)
    session.flush()
    return event


# -- high-volume events: written without the chain lock, sealed in batches ---------------------


def _intake_content(fields: Mapping[Any, Any]) -> bytes:
    payload = {k: fields[k] for k in _EVENT_FIELDS}
    payload["occurred_at"] = _utc(fields["occurred_at"]).isoformat(timespec="microseconds")
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


_intake_t, _events_t = table_of(AuditIntake), table_of(AuditEvent)
_INTAKE_INSERT = insert(_intake_t)


def deferred_values(
    keys: KeyRing,
    actor: Actor,
    action: str,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An event to record without waiting for the chain lock: its intake row, MACed, written
    with `insert_deferred` or as the parameters of an `insert_deferred_from` statement.

    For events that come by the hundred per second (partner verifications): every audited
    transaction locks the chain head until it commits, which would queue them one behind the
    other. The row is MACed on its own at once, so it is tamper-evident before it is sealed, and
    `seal_intake` appends it to the chain, in order, within seconds.
    """
    fields = _event(actor, action, outcome, target_type, target_id, detail, now)
    kid, mac = keys.mac(KeyPurpose.AUDIT, _intake_content(fields))
    return {**fields, "key_id": kid, "mac": mac.hex()}


def insert_deferred(session: Session, values: Mapping[str, Any]) -> None:
    """Write a `deferred_values` row in the caller's transaction (it commits or rolls back with
    the action)."""
    session.connection().execute(_INTAKE_INSERT, dict(values))


_INTAKE_COLUMNS = (*_EVENT_FIELDS, "key_id", "mac")


def insert_deferred_from(source: CTE) -> Insert:
    """A statement that writes the `deferred_values` row given as its parameters once for each
    row ``source`` yields: the event is recorded exactly when the change it records took
    effect, in one statement (PostgreSQL; a data-modifying CTE)."""
    values = select(*(bindparam(name, type_=_intake_t.c[name].type) for name in _INTAKE_COLUMNS))
    return (
        insert(_intake_t)
        .from_select(_INTAKE_COLUMNS, values.select_from(source))
        .returning(_intake_t.c.id)
    )


def seal_intake(session: Session, keys: KeyRing, *, batch: int = 2000) -> int:
    """Move waiting intake rows into the hash chain, oldest first; returns how many.

    A row whose MAC does not match is not trusted: it is sealed as an ``audit.intake_altered``
    event naming the row, so the evidence stays in the chain. Works on plain rows, in bulk: the
    sealer runs beside the requests, in the same processes.
    """
    rows = (
        session.execute(
            select(_intake_t)
            .order_by(_intake_t.c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .all()
    )
    if not rows:
        return 0
    head = _lock_head(session)
    events = []
    for row in rows:
        fields = {name: row[name] for name in _EVENT_FIELDS}
        if not _mac_matches(keys, row["key_id"], _intake_content(fields), row["mac"]):
            fields = {
                "occurred_at": datetime.now(UTC),
                "actor_id": None,
                "actor_role": None,
                "action": "audit.intake_altered",
                "target_type": "audit_intake",
                "target_id": str(row["id"]),
                "outcome": Outcome.FAILURE.value,
                "detail": None,
            }
        events.append(_link(keys, head, fields))
    _seal_head(keys, head)
    session.execute(insert(_events_t), events)
    session.execute(delete(_intake_t).where(_intake_t.c.id.in_([row["id"] for row in rows])))
    session.flush()
    return len(rows)


def seal_all(session: Session, keys: KeyRing, *, batch: int = 2000) -> int:
    """Seal what is waiting, committing batch by batch (CLI and the background sealer).

    Stops after the first batch that is not full: rows that arrive meanwhile wait for the next
    call. Otherwise a sealer under steady load would chase each new row in a transaction of its
    own, and spend more on the transactions than on the sealing.
    """
    total = 0
    while True:
        sealed = seal_intake(session, keys, batch=batch)
        session.commit()
        total += sealed
        if sealed < batch:
            return total


def pending_intake(session: Session, keys: KeyRing) -> tuple[int, int | None]:
    """(rows waiting to be sealed, id of the first whose MAC does not match, if any)."""
    count = 0
    for row in session.execute(select(_intake_t).order_by(_intake_t.c.id)).mappings():
        count += 1
        if not _mac_matches(keys, row["key_id"], _intake_content(row), row["mac"]):
            return count, row["id"]
    return count, None


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    problem: str | None = None
    first_bad_seq: int | None = None


def _iter_events(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def _mac_matches(keys: KeyRing, kid: str, data: bytes, expected_hex: str) -> bool:
    try:
        _, digest = keys.mac(KeyPurpose.AUDIT, data, kid=kid)
    except UnknownKeyError:
        return False
    return constant_time_equal(digest.hex(), expected_hex)


def verify_chain(session: Session, keys: KeyRing) -> ChainReport:
    """Walk the whole trail and report the first broken link, if any.

    Detects an altered row (its hash no longer matches), a deleted row (a gap in the sequence or
    a previous-hash mismatch), and deleted newest rows (the MACed head disagrees).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _iter_events(session):
        if event.seq != expected_seq:
            missing = (
                f"row {expected_seq}"
                if event.seq == expected_seq + 1
                else f"rows {expected_seq} to {event.seq - 1}"
            )
            return ChainReport(
                False, checked, f"{missing} missing before row {event.seq} (deleted)", expected_seq
            )
        if not _mac_matches(keys, event.key_id, _content(_stored(event)), event.row_hash):
            return ChainReport(
                False, checked, f"row {event.seq} does not match its hash (altered)", event.seq
            )
        if event.prev_hash != expected_prev:
            return ChainReport(
                False,
                checked,
                f"row {event.seq} does not link to row {event.seq - 1} (altered or replaced)",
                event.seq,
            )
        expected_prev = event.row_hash
        expected_seq += 1
        checked += 1

    head = session.get(AuditHead, _HEAD_ID)
    last_seq = expected_seq - 1
    if head is None:
        if checked:
            return ChainReport(False, checked, "the chain head record is missing", None)
        return ChainReport(True, 0)
    if not _mac_matches(
        keys, head.key_id, _head_content(head.last_seq, head.last_hash), head.head_mac
    ):
        return ChainReport(False, checked, "the chain head record was altered", head.last_seq)
    if head.last_seq != last_seq or head.last_hash != expected_prev:
        return ChainReport(
            False,
            checked,
            f"the chain ends at row {last_seq} but its head records row {head.last_seq} "
            "(newest rows deleted)",
            last_seq + 1,
        )
    return ChainReport(True, checked)


def recent_events(
    session: Session, *, limit: int = 100, before: int | None = None
) -> list[AuditEvent]:
    """The newest events first, for the admin audit page (paged by sequence number)."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    return list(session.scalars(query))
