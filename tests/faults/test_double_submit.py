"""The same form submitted twice (a double click, a reload that re-posts) makes one record.

Each test opens the form as a browser would, then posts exactly the same data twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idsys.applications import services as applicants
from idsys.applications.models import Application, ApplicationDocument, ApplicationKind
from idsys.audit.services import Actor
from idsys.auth.models import Role, StaffUser
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.verification.models import Partner
from tests.conftest import city_days_ago, csrf_token
from tests.faults.support import (
    ScratchPostgres,
    make_staff,
    parse_forms,
    racing,
    scratch_postgres,
    two_workers,
)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or re.search(
        rf'type="hidden" name="{name}" value="([^"]*)"', page
    )
    assert match, f"no hidden field {name}"
    return match.group(1)


def _count(app: Flask, query: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(query) or 0)


def test_start_form_sent_twice_opens_one_draft(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    signed_in(Role.CLERK)
    page = client.get("/intake/").get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(client, "/intake/"),
        "intake_token": _hidden(page, "intake_token"),
        "kind": "new",
    }
    first = client.post("/intake/start", data=form)
    second = client.post("/intake/start", data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(app, select(func.count()).select_from(Application)) == 1


def test_document_form_sent_twice_adds_one_document(
    app: Flask, client: FlaskClient, signed_in: Any, make_application: Any
) -> None:
    clerk = signed_in(Role.CLERK)
    reference = make_application(clerk_id=clerk.id)
    url = f"/intake/{reference}/documents"
    page = client.get(url).get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(client, url),
        "seen": _hidden(page, "seen"),
        "code": "voter_card",
        "issue_date": "2020-01-10",
        "expiry_date": "2030-12-31",
        "name_matches": "yes",
        "address_matches": "na",
    }
    first = client.post(url, data=form)
    second = client.post(url, data=form, follow_redirects=True)
    assert first.status_code == 302
    assert second.status_code == 200
    assert "was it sent twice?" in second.get_data(as_text=True)
    documents = select(func.count()).select_from(ApplicationDocument)
    assert _count(app, documents) == 1

    # A new page carries the new count: the next document is added as usual.
    page = client.get(url).get_data(as_text=True)
    receipt = {
        **form,
        "seen": _hidden(page, "seen"),
        "code": "electricity_receipt",
        "issue_date": city_days_ago(app, 40),
        "expiry_date": "",
        "address_matches": "yes",
    }
    assert client.post(url, data=receipt).status_code == 302
    assert _count(app, documents) == 2


def test_partner_form_sent_twice_registers_one_partner(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    signed_in(Role.ADMIN)
    form = {
        "csrf_token": csrf_token(client, "/admin/partners/new"),
        "name": "Biblioteca  Vasconcelos",
        "kind": "library",
        "contact": "Mostrador, ext. 12",
        "scope": "status",
        "daily_quota": "500",
    }
    first = client.post("/admin/partners/new", data=form)
    second = client.post("/admin/partners/new", data=form)
    assert first.status_code == 200
    assert "idsys_" in first.get_data(as_text=True)  # the key, shown once
    assert second.status_code == 400
    assert "already registered" in second.get_data(as_text=True)
    assert _count(app, select(func.count()).select_from(Partner)) == 1


def test_staff_form_sent_twice_creates_one_account(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    signed_in(Role.ADMIN)
    page = client.get("/admin/staff/new").get_data(as_text=True)
    # What the form sends as shown (the role list's first choice, and any field it gains later).
    form: dict[str, Any] = parse_forms(page)[-1].defaults()
    form.update({"username": "maria.lopez", "display_name": "María López", "role": "clerk"})
    first = client.post("/admin/staff/new", data=form)
    second = client.post("/admin/staff/new", data=form)
    assert first.status_code == 200
    assert "one-time password" in first.get_data(as_text=True).lower()
    assert "maria.lopez" in second.get_data(as_text=True)
    users = select(func.count()).select_from(StaffUser).where(StaffUser.username == "maria.lopez")
    assert _count(app, users) == 1


@pytest.fixture
def two_servers(keys: KeyRing, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two workers) on a PostgreSQL database of the test's own."""
    server: ScratchPostgres = scratch_postgres()
    try:
        with two_workers(server.create_database(), keys, tmp_path / "instance") as apps:
            yield apps
    finally:
        server.destroy()


def test_start_form_sent_twice_at_once_opens_one_draft(
    two_servers: tuple[Flask, Flask], keys: KeyRing
) -> None:
    """Two workers handle the two copies at the same moment: the second waits on the first's
    insert, then finds its draft instead of failing on the unique token."""
    first, second = two_servers
    staff = make_staff(first, keys)
    token = uuid.uuid4().hex
    clerk = Actor(staff.clerk_id, "clerk")
    found: list[str] = []

    def start(app: Flask) -> str:
        return applicants.start_application(
            db.session,
            keys,
            clerk,
            kind=ApplicationKind.NEW,
            intake_token=token,
            policy_id=app.extensions["idsys.policy"].id,
        ).reference

    def copy() -> None:
        with second.app_context():
            found.append(start(second))
            db.session.commit()

    with first.app_context():
        reference = start(first)  # inserted, not yet committed
        with racing(copy, "the copy should wait for the first insert"):
            db.session.commit()
    assert found == [reference]
    assert _count(first, select(func.count()).select_from(Application)) == 1
