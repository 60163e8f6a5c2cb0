"""`flask idsys …` commands for operators and scripted set-up."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from config import MAX_SEAL_INTERVAL, MIN_SEAL_INTERVAL
from idsys.applications import services as applicants
from idsys.audit import sealer
from idsys.audit.services import (
    COMMAND_LINE,
    pending_intake,
    record,
    seal_all,
    verify_chain,
)
from idsys.auth import services as auth
from idsys.auth.models import Role
from idsys.crypto import KeyRingError
from idsys.db import db
from idsys.extensions import keyring

idsys_cli = AppGroup("idsys", help="idsys administration commands.")


@idsys_cli.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    required=True,
    help="What the account may do.",
)
@click.option("--display-name", default="", help="The person's name as staff see it.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of generating a one-time one.",
)
def create_user(username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create a staff account and print its one-time password."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        user, generated = auth.create_user(
            db.session,
            keyring(),
            COMMAND_LINE,
            username=username,
            display_name=display_name,
            role=Role(role),
            password=password,
        )
    except auth.AuthError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.role} account {user.username!r} (id {user.id}).")
    if generated:
        click.echo(f"One-time password: {generated}")
        click.echo("It must be changed at first sign-in.")


@idsys_cli.command("ensure-admin")
def ensure_admin() -> None:
    """Create the first admin account when no staff account exists, and print its login."""
    created = auth.ensure_first_admin(db.session, keyring())
    db.session.commit()
    if created is None:
        click.echo(
            "Staff accounts exist already; sign in with yours "
            "(forgotten? `flask idsys reset-password USERNAME`)."
        )
        return
    user, password = created
    click.echo("=" * 64)
    click.echo("First sign-in:  http://127.0.0.1:5000/login")
    click.echo(f"  username:  {user.username}")
    click.echo(f"  password:  {password}   (one-time: you will choose a new one)")
    click.echo("=" * 64)


@idsys_cli.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Give an account a new one-time password, ending its sessions and clearing any lock."""
    user = auth.get_by_username(db.session, username)
    if user is None:
        raise click.ClickException(f"No staff account named {username!r}.")
    password = auth.reset_password(db.session, keyring(), COMMAND_LINE, user)
    db.session.commit()
    click.echo(f"One-time password for {user.username!r}: {password}")


@idsys_cli.command("audit-verify")
def audit_verify() -> None:
    """Check the audit chain; exits 1 and names the first broken link when rows were changed."""
    pending, altered = pending_intake(db.session, keyring())
    if altered is not None:
        click.echo(f"AUDIT TRAIL BROKEN: waiting intake row {altered} was altered", err=True)
        sys.exit(1)
    report = verify_chain(db.session, keyring())
    if report.ok:
        click.echo(f"Audit trail intact: {report.rows_checked} events verified.")
        if pending:
            click.echo(
                f"{pending} recent events wait to be sealed into the chain; their "
                "MACs verify (`flask idsys audit-seal` seals them now)."
            )
        return
    click.echo(f"AUDIT TRAIL BROKEN: {report.problem}", err=True)
    click.echo(f"{report.rows_checked} events before it verified.", err=True)
    sys.exit(1)


@idsys_cli.command("audit-seal")
@click.option(
    "--every",
    "interval",
    type=click.FloatRange(MIN_SEAL_INTERVAL, MAX_SEAL_INTERVAL),
    default=None,
    metavar="SECONDS",
    help="Keep sealing, every SECONDS, until stopped (Ctrl-C or SIGTERM): the sealer of a "
    "deployment that sets IDSYS_AUDIT_SEAL_INTERVAL=0. Without it, seal once and exit.",
)
def audit_seal(interval: float | None) -> None:
    """Seal waiting high-volume events (verifications) into the hash chain."""
    if interval is None:
        sealed = seal_all(db.session, keyring())
        click.echo(f"Sealed {sealed} events into the audit chain.")
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop, totals = threading.Event(), list[int]()
    # A service manager stops the sealer with SIGTERM: the seal under way finishes and commits
    # instead of being cut off (safe, but its work would be lost). The sealing runs in a thread
    # so that the handler never sets the event in the middle of the same thread's wait on it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker = threading.Thread(
        target=lambda: totals.append(sealer.seal_every(app, interval, stop)), name="audit-sealer"
    )
    click.echo(f"Sealing waiting audit events every {interval:g} s; Ctrl-C or SIGTERM stops.")
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
    if not stop.is_set():  # the thread died of an error it does not retry (printed above)
        raise click.ClickException("The sealer stopped on an unexpected error; see above.")
    click.echo(f"Stopped. Sealed {sum(totals)} events into the audit chain.")


@idsys_cli.command("rotate-keys")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Data keys re-wrapped and committed per batch.",
)
def rotate_keys(batch_size: int) -> None:
    """Re-wrap every applicant's data key under a new key-encryption key.

    Interrupt it at any time (Ctrl-C, a lost connection): running it again resumes. Previous
    key-encryption keys are retired once no record uses them.
    """
    keys = keyring()
    try:
        state, resumed, pending = applicants.begin_rotation(db.session, keys)
    except KeyRingError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "Resuming the interrupted rotation" if resumed else "Rotating"
    click.echo(f"{verb} to key {state.target_kek_id}: {pending} data keys to re-wrap.")
    with click.progressbar(length=pending, label="Re-wrapping", show_pos=True) as bar:
        while done := applicants.rewrap_batch(db.session, keys, state, batch_size):
            bar.update(done)
    retired, in_use = applicants.finish_rotation(db.session, keys, state)
    click.echo(f"Done: {state.rewrapped} data keys now under {state.target_kek_id}.")
    if retired:
        click.echo("Retired (no record used them): " + ", ".join(retired))
    if in_use:
        click.echo("Still in use, kept: " + ", ".join(in_use) + " (run again to finish)")


@idsys_cli.command("erase")
@click.argument("applicant_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(applicant_id: str, yes: bool) -> None:
    """Erase an applicant for good by destroying their data key (crypto-shredding)."""
    try:
        applicant = applicants.get_applicant(db.session, applicant_id)
    except applicants.ApplicantError as exc:
        raise click.ClickException(str(exc)) from None
    if not yes:
        click.confirm(
            f"Erase applicant {applicant.id}? Their record becomes unreadable forever", abort=True
        )
    try:
        applicants.erase_applicant(db.session, keyring(), COMMAND_LINE, applicant.id)
    except applicants.ApplicantError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Applicant {applicant.id} erased; the erasure is in the audit trail.")


@idsys_cli.command("purge")
def purge() -> None:
    """Delete document details and unclaimed pre-applications kept longer than the policy
    allows (run daily; see README)."""
    from datetime import UTC, datetime

    from idsys.extensions import policy
    from idsys.policy import local_date
    from idsys.residents.services import purge_pre_applications

    rules = policy()
    today = local_date(rules, datetime.now(UTC))
    count = applicants.purge_documents(db.session, keyring(), rules, today)
    unclaimed = purge_pre_applications(db.session, keyring(), rules, today)
    db.session.commit()
    click.echo(
        f"Purged document details of {count} decided applications "
        f"(policy {rules.id}: kept {rules.document_retention_days} days after decision)."
    )
    click.echo(
        f"Deleted {unclaimed} unclaimed pre-applications "
        f"(policy {rules.id}: kept {rules.pre_application_days} days)."
    )


@idsys_cli.command("rotate-signing-key")
@click.option(
    "--alg",
    type=click.Choice(["EdDSA", "ES256"]),
    default=None,
    help="Algorithm of the new key (default: the current key's).",
)
def rotate_signing_key(alg: str | None) -> None:
    """Make a new card-signing key; cards signed by older keys keep verifying until retired."""
    from idsys.crypto import KeyPurpose

    keys = keyring()
    try:
        entry = keys.rotate(KeyPurpose.SIGNING, alg)
    except KeyRingError as exc:
        raise click.ClickException(str(exc)) from None
    record(
        db.session,
        keys,
        COMMAND_LINE,
        "keys.rotate_signing",
        target_type="key",
        target_id=entry.kid,
    )
    db.session.commit()
    click.echo(f"New signing key {entry.kid} ({entry.alg}) signs every card from now on.")
    click.echo("Older keys stay in /.well-known/jwks.json until retired.")


@idsys_cli.command("retire-signing-key")
@click.argument("kid")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def retire_signing_key(kid: str, yes: bool) -> None:
    """Remove an old signing key: cards it signed stop verifying (reprint them first)."""
    from sqlalchemy import func, select

    from idsys.cards.models import Card, CardStatus
    from idsys.crypto import KeyPurpose

    keys = keyring()
    active = db.session.scalar(
        select(func.count())
        .select_from(Card)
        .where(Card.signing_kid == kid, Card.status == CardStatus.ACTIVE.value)
    )
    if not yes:
        click.confirm(
            f"{active} active cards were signed by {kid} and will no longer verify. Retire it?",
            abort=True,
        )
    try:
        keys.retire(KeyPurpose.SIGNING, kid)
    except KeyRingError as exc:
        raise click.ClickException(str(exc)) from None
    record(db.session, keys, COMMAND_LINE, "keys.retire_signing", target_type="key", target_id=kid)
    db.session.commit()
    click.echo(f"Signing key {kid} retired.")


@idsys_cli.group("partner")
def partner_cli() -> None:
    """Verification partners (libraries, banks, clinics) and their API keys."""


@partner_cli.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["library", "bank", "clinic", "other"]), required=True)
@click.option(
    "--scope",
    type=click.Choice(["status", "identity", "photo"]),
    default="status",
    show_default=True,
    help="What the agreement allows the partner to learn.",
)
@click.option(
    "--quota",
    type=click.IntRange(1, 1_000_000),
    default=2000,
    show_default=True,
    help="Verifications per day.",
)
@click.option("--contact", default="", help="Who is responsible at the partner.")
def partner_add(name: str, kind: str, scope: str, quota: int, contact: str) -> None:
    """Register a partner and print its first API key (shown once)."""
    from idsys.verification import services as partners
    from idsys.verification.models import PartnerKind, Scope

    try:
        partner, key = partners.create_partner(
            db.session,
            keyring(),
            COMMAND_LINE,
            name=name,
            kind=PartnerKind(kind),
            contact=contact,
            scope=Scope(scope),
            daily_quota=quota,
        )
    except partners.PartnerError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Partner {partner.id} {partner.name!r} ({kind}, scope {scope}, {quota}/day).")
    click.echo(f"API key (shown once): {key}")


@partner_cli.command("list")
def partner_list() -> None:
    """List partners with their scope, quota and live key prefixes."""
    from idsys.verification import services as partners

    for partner in partners.list_partners(db.session):
        live = ", ".join(k.prefix for k in partner.live_keys) or "no live key"
        state = "enabled" if partner.is_enabled else "DISABLED"
        click.echo(
            f"{partner.id:>4}  {partner.name}  [{partner.kind}, {partner.scope}, "
            f"{partner.daily_quota}/day, {state}]  keys: {live}"
        )


@partner_cli.command("new-key")
@click.argument("partner_id", type=int)
def partner_new_key(partner_id: int) -> None:
    """Issue another key (at most two live keys, for rotation) and print it once."""
    from idsys.verification import services as partners

    partner = partners.get_partner(db.session, partner_id)
    if partner is None:
        raise click.ClickException(f"No partner with id {partner_id}.")
    try:
        key = partners.issue_key(db.session, keyring(), COMMAND_LINE, partner)
    except partners.PartnerError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"API key (shown once): {key}")


@partner_cli.command("revoke-key")
@click.argument("key_or_prefix")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def partner_revoke_key(key_or_prefix: str, yes: bool) -> None:
    """Revoke a key at once, by its public prefix (the 8 characters after idsys_) or the whole
    key."""
    from idsys.crypto import apikeys
    from idsys.verification import services as partners

    # A whole key names its prefix; only the prefix is used, and shown, from here on.
    text = key_or_prefix.strip()
    parts = apikeys.split_key(text)
    prefix = parts[0] if parts else text.removeprefix("idsys_").split("_", 1)[0]
    key = partners.key_by_prefix(db.session, prefix)
    if key is None:
        raise click.ClickException(f"No key with prefix {prefix[:8]!r}.")
    partner = key.partner
    try:
        if key.revoked_at is None and not yes:
            last = partners.is_last_live_key(db.session, key)
            consequence = (
                "It is the partner's LAST live key: the partner cannot verify cards until a "
                "new key is issued."
                if last
                else "The partner keeps its other live key."
            )
            click.confirm(
                f"Revoke key {prefix} of partner {partner.id} {partner.name!r}? {consequence}",
                abort=True,
            )
        partners.revoke_key(db.session, keyring(), COMMAND_LINE, key)
    except partners.KeyAlreadyRevoked as exc:
        db.session.rollback()
        click.echo(str(exc))
        return
    db.session.commit()
    click.echo(f"Key {prefix} of partner {partner.id} {partner.name!r} revoked.")


@idsys_cli.command("reports-recount")
def reports_recount() -> None:
    """Count every ended month again for the statistics (after a correction made directly in
    the database; months are otherwise counted once, when they end)."""
    from datetime import UTC, datetime

    from idsys.extensions import policy
    from idsys.reports import services as reports

    stored = reports.recount(db.session, policy(), datetime.now(UTC))
    db.session.commit()
    click.echo(f"Counted {stored} ended months again.")


def init_app(app: Flask) -> None:
    app.cli.add_command(idsys_cli)
