"""Erasing an applicant from the admin pages needs a typed confirmation."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idsys.applications import services
from idsys.auth.models import Role
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import csrf_token


def test_admin_erases_with_confirmation(
    app: Flask, client: FlaskClient, signed_in: Any, make_applicant: Any, keys: KeyRing
) -> None:
    signed_in(Role.ADMIN)
    applicant = make_applicant()
    token = csrf_token(client, "/admin/applicants/erase")
    found = client.post(
        "/admin/applicants/erase", data={"csrf_token": token, "applicant_id": str(applicant.id)}
    )
    assert found.status_code == 302
    url = found.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Erase this applicant?" in page and "cannot be undone" in page
    wrong = client.post(url, data={"csrf_token": token, "confirm": "erase"})
    assert "Type the word ERASE" in wrong.get_data(as_text=True)
    with app.app_context():
        services.read_profile(keys, services.get_applicant(db.session, applicant.id))
    done = client.post(url, data={"csrf_token": token, "confirm": "ERASE"}, follow_redirects=True)
    assert "Nothing about the person remains readable" in done.get_data(as_text=True)
    with app.app_context():
        assert services.get_applicant(db.session, applicant.id).erased


def test_unknown_applicant_id_gets_a_field_error(client: FlaskClient, signed_in: Any) -> None:
    signed_in(Role.ADMIN)
    token = csrf_token(client, "/admin/applicants/erase")
    page = client.post(
        "/admin/applicants/erase", data={"csrf_token": token, "applicant_id": "nonsense"}
    )
    assert "No applicant with id nonsense" in page.get_data(as_text=True)
    missing = client.get("/admin/applicants/00000000-0000-4000-8000-000000000000/erase")
    assert missing.status_code == 404
