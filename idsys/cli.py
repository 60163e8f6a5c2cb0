"""`flask idsys …` commands for operators and scripted set-up."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from idsys.audit.services import SYSTEM, verify_chain
from idsys.auth import services as auth
from idsys.auth.models import Role
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
            SYSTEM,
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
    password = auth.reset_password(db.session, keyring(), SYSTEM, user)
    db.session.commit()
    click.echo(f"One-time password for {user.username!r}: {password}")


@idsys_cli.command("audit-verify")
def audit_verify() -> None:
    """Check the audit chain; exits 1 and names the first broken link when rows were changed."""
    report = verify_chain(db.session, keyring())
    if report.ok:
        click.echo(f"Audit trail intact: {report.rows_checked} events verified.")
        return
    click.echo(f"AUDIT TRAIL BROKEN: {report.problem}", err=True)
    click.echo(f"{report.rows_checked} events before it verified.", err=True)
    sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(idsys_cli)
