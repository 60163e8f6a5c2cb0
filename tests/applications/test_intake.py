"""The counter: intake through the web client, the supervisor's decision, and the audit trail."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idsys.applications import services
from idsys.applications.models import Applicant, Application, ApplicationDocument
from idsys.audit.models import AuditEvent
from idsys.audit.services import verify_chain
from idsys.auth.models import Role
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import (
    city_days_ago,
    csrf_token,
    login,
    make_clerk_client,
    photo_bytes,
    sample_profile,
)

PROFILE = {
    "given_names": "Nguyễn Thị",
    "family_names": "Minh Khai",
    "date_of_birth": "1988-02-29",
    "address_kind": "care_of",
    "care_of": "Casa de los Amigos",
    "line1": "Ignacio Mariscal 132",
    "city": "Ciudad de México",
    "postal_code": "06030",
    "phone": "+52 55 1234 5678",
    "email": "",
    "emergency_contact_name": "",
    "emergency_contact_phone": "",
    "gender": "F",
    "language1": "vi",
    "language2": "es",
}
VOTER_CARD = {
    "code": "voter_card",
    "issue_date": "2020-01-10",
    "expiry_date": "2030-12-31",
    "resident_since": "",
    "name_matches": "yes",
    "address_matches": "na",
}


def _receipt(app: Flask) -> dict[str, str]:
    """An electricity receipt dated 40 days ago: 40 days of residence shown."""
    return {
        "code": "electricity_receipt",
        "issue_date": city_days_ago(app, 40),
        "expiry_date": "",
        "resident_since": "",
        "name_matches": "yes",
        "address_matches": "yes",
    }


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def _start(client: FlaskClient) -> str:
    page = client.get("/intake/").get_data(as_text=True)
    token = re.search(r'name="intake_token" type="hidden" value="([^"]+)"', page)
    assert token
    form = {
        "csrf_token": csrf_token(client, "/intake/"),
        "kind": "new",
        "intake_token": token.group(1),
    }
    response = client.post("/intake/start", data=form)
    assert response.status_code == 302
    reference = response.headers["Location"].split("/")[2]
    # The same form sent twice (a double click) opens one application, not two.
    again = client.post("/intake/start", data=form)
    assert again.headers["Location"] == response.headers["Location"]
    return reference


def test_whole_intake_and_decision_through_the_web(
    app: Flask, client: FlaskClient, make_user: Any, keys: KeyRing
) -> None:
    clerk = make_user(Role.CLERK)
    login(client, clerk)
    ref = _start(client)
    base = f"/intake/{ref}"
    token = csrf_token(client, f"{base}/details")
    saved = client.post(f"{base}/details", data={"csrf_token": token, **PROFILE})
    assert saved.status_code == 302 and saved.headers["Location"] == f"{base}/documents"

    page = client.get(f"{base}/documents").get_data(as_text=True)
    assert "No documents recorded yet." in page and "Not enough yet" in page

    client.post(f"{base}/documents", data={"csrf_token": token, **VOTER_CARD})
    page = client.get(f"{base}/documents").get_data(as_text=True)
    assert "Voter card" in page and "Not enough yet" in page
    assert 'data-code="residency' in page  # what is still missing, in words

    client.post(f"{base}/documents", data={"csrf_token": token, **_receipt(app)})
    page = client.get(f"{base}/documents").get_data(as_text=True)
    assert "The documents meet the rules" in page
    assert "40" in page  # days of residence shown by the receipt

    photo = client.post(
        f"{base}/photo",
        data={"csrf_token": token, "photo": (io.BytesIO(photo_bytes()), "me.jpg")},
        content_type="multipart/form-data",
    )
    assert photo.status_code == 302
    image = client.get(f"{base}/photo.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"

    review = client.get(f"{base}/review").get_data(as_text=True)
    assert "Nguyễn Thị Minh Khai" in review and "1988-02-29" in review
    done = client.post(f"{base}/review", data={"csrf_token": token}, follow_redirects=True)
    assert "Application submitted" in done.get_data(as_text=True)

    supervisor_client = app.test_client()
    login(supervisor_client, make_user(Role.SUPERVISOR))
    queue = supervisor_client.get("/review/").get_data(as_text=True)
    assert ref[:4] in queue
    token = csrf_token(supervisor_client, f"/review/{ref}")
    decided = supervisor_client.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "approve", "approve_codes": ["rules_satisfied"]},
    )
    assert decided.status_code == 302
    with app.app_context():
        application = services.get_application(db.session, ref)
        assert application.status == "approved"
        assert application.decision_codes == "rules_satisfied"
        assert (application.identity_points, application.residency_points) == (1, 1)
        assert application.rules_satisfied and application.age_band == "35-44"
        assert application.documents == [] and application.documents_purged_at is not None
        actions = [
            e.action
            for e in db.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.target_id == str(application.id),
                    AuditEvent.target_type == "application",
                )
                .order_by(AuditEvent.seq)
            )
        ]
        assert actions == [
            "application.start",
            "application.document_add",
            "application.document_add",
            "application.submit",
            "application.approve",
        ]
        assert verify_chain(db.session, keys).ok


def test_profile_errors_are_shown_next_to_fields_and_nothing_is_saved(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    login(client, make_user(Role.CLERK))
    ref = _start(client)
    token = csrf_token(client, f"/intake/{ref}/details")
    bad = {
        **PROFILE,
        "given_names": "",
        "family_names": "",
        "date_of_birth": "2031-01-01",
        "email": "nope",
        "phone": "call me",
        "language1": "xx",
    }
    response = client.post(f"/intake/{ref}/details", data={"csrf_token": token, **bad})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="language1-error"' in page  # not a valid choice
    assert _count(app, Applicant) == 0
    bad = {
        **PROFILE,
        "given_names": "",
        "family_names": "",
        "date_of_birth": "2031-01-01",
        "email": "nope",
        "phone": "call me",
    }
    page = client.post(f"/intake/{ref}/details", data={"csrf_token": token, **bad}).get_data(
        as_text=True
    )
    for field, text in [
        ("given_names", "Enter the name"),
        ("date_of_birth", "future"),
        ("email", "email address"),
        ("phone", "digits"),
    ]:
        assert re.search(rf'id="{field}-error">[^<]*{text}', page), field
    assert _count(app, Applicant) == 0
    page = client.post(
        f"/intake/{ref}/details",
        data={"csrf_token": token, **PROFILE, "date_of_birth": "17/05/1990"},
    ).get_data(as_text=True)
    assert 'id="date_of_birth-error"' in page and _count(app, Applicant) == 0


def test_script_injection_is_escaped(app: Flask, client: FlaskClient, make_user: Any) -> None:
    login(client, make_user(Role.CLERK))
    ref = _start(client)
    token = csrf_token(client, f"/intake/{ref}/details")
    evil = "<script>alert(1)</script>"
    client.post(
        f"/intake/{ref}/details", data={"csrf_token": token, **PROFILE, "family_names": evil}
    )
    page = client.get(f"/intake/{ref}/review").get_data(as_text=True)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_document_errors_save_nothing(
    app: Flask, client: FlaskClient, make_application: Any, make_user: Any
) -> None:
    clerk = make_user(Role.CLERK)
    ref = make_application(clerk_id=clerk.id)
    login(client, clerk)
    url = f"/intake/{ref}/documents"
    token = csrf_token(client, url)
    cases = [
        ({**VOTER_CARD, "issue_date": "2026-13-45"}, "issue_date"),
        ({**VOTER_CARD, "issue_date": "1066-10-14"}, "issue_date"),
        ({**VOTER_CARD, "name_matches": ""}, "name_matches"),
        ({**VOTER_CARD, "code": "forged_letter"}, "code"),
        ({**VOTER_CARD, "code": ""}, "code"),
    ]
    for data, field in cases:
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 400, field
        assert f'id="{field}-error"' in response.get_data(as_text=True), field
    assert _count(app, ApplicationDocument) == 0


def test_photo_problems_are_reported_on_the_photo_field(
    client: FlaskClient, make_application: Any, make_user: Any
) -> None:
    clerk = make_user(Role.CLERK)
    ref = make_application(clerk_id=clerk.id)
    login(client, clerk)
    token = csrf_token(client, f"/intake/{ref}/photo")
    response = client.post(
        f"/intake/{ref}/photo",
        data={"csrf_token": token, "photo": (io.BytesIO(b"not an image"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "not a photo idsys can read" in response.get_data(as_text=True)
    missing = client.post(f"/intake/{ref}/photo", data={"csrf_token": token})
    assert "Take a photo or choose a file." in missing.get_data(as_text=True)


def test_override_needs_a_justification_and_a_supervisor(
    app: Flask, client: FlaskClient, make_application: Any, make_user: Any
) -> None:
    clerk = make_user(Role.CLERK)
    ref = make_application(clerk_id=clerk.id)  # no documents at all
    login(client, clerk)
    token = csrf_token(client, f"/intake/{ref}/review")
    refused = client.post(f"/intake/{ref}/review", data={"csrf_token": token})
    assert refused.status_code == 400
    assert "write why they should be accepted" in refused.get_data(as_text=True)
    done = client.post(
        f"/intake/{ref}/review",
        data={
            "csrf_token": token,
            "justification": "Letter from Casa de los Amigos seen; receipts lost in the flood.",
        },
    )
    assert done.status_code == 302
    supervisor = app.test_client()
    login(supervisor, make_user(Role.SUPERVISOR))
    page = supervisor.get(f"/review/{ref}").get_data(as_text=True)
    assert "rule override" in supervisor.get("/review/").get_data(as_text=True)
    assert "receipts lost in the flood" in page
    token = csrf_token(supervisor, f"/review/{ref}")
    plain = supervisor.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "approve", "approve_codes": ["rules_satisfied"]},
    )
    assert plain.status_code == 400 and "override reason" in plain.get_data(as_text=True)
    unjustified = supervisor.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "approve", "approve_codes": ["override_documents"]},
    )
    assert "write why" in unjustified.get_data(as_text=True)
    ok = supervisor.post(
        f"/review/{ref}",
        data={
            "csrf_token": token,
            "decision": "approve",
            "approve_codes": ["override_documents"],
            "justification": "Spoke with the shelter director by phone.",
        },
    )
    assert ok.status_code == 302
    with app.app_context():
        application = services.get_application(db.session, ref)
        assert application.status == "approved" and not application.rules_satisfied
        keys = app.extensions["idsys.keyring"]
        note = services.read_override_note(keys, db.session, application)
        assert note is not None and "shelter director" in note and "flood" in note
        assert b"flood" not in (application.override_note_ct or b"")


def test_rejection_needs_a_reason_code(app: Flask, make_application: Any, make_user: Any) -> None:
    from tests.conftest import mexico_city_documents

    ref = make_application(documents=mexico_city_documents(), submit=True)
    supervisor = app.test_client()
    login(supervisor, make_user(Role.SUPERVISOR))
    token = csrf_token(supervisor, f"/review/{ref}")
    none = supervisor.post(f"/review/{ref}", data={"csrf_token": token, "decision": "reject"})
    assert "Choose at least one reason" in none.get_data(as_text=True)
    bogus = supervisor.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "reject", "reject_codes": ["because"]},
    )
    assert bogus.status_code == 400
    done = supervisor.post(
        f"/review/{ref}",
        data={
            "csrf_token": token,
            "decision": "reject",
            "reject_codes": ["residency_insufficient"],
        },
    )
    assert done.status_code == 302
    with app.app_context():
        assert services.get_application(db.session, ref).status == "rejected"


def test_supervisor_cannot_decide_their_own_intake(
    app: Flask, make_application: Any, make_user: Any
) -> None:
    from tests.conftest import mexico_city_documents

    supervisor = make_user(Role.SUPERVISOR)
    ref = make_application(documents=mexico_city_documents(), submit=True, clerk_id=supervisor.id)
    client = app.test_client()
    login(client, supervisor)
    token = csrf_token(client, f"/review/{ref}")
    response = client.post(
        f"/review/{ref}",
        data={"csrf_token": token, "decision": "approve", "approve_codes": ["rules_satisfied"]},
    )
    assert "another supervisor must decide" in response.get_data(as_text=True)


def test_possible_duplicate_goes_to_review(
    app: Flask, make_applicant: Any, make_application: Any, make_user: Any
) -> None:
    from tests.conftest import mexico_city_documents

    earlier = make_applicant(sample_profile(given_names="Minh Khai", family_names="NGUYEN THI"))
    ref = make_application(documents=mexico_city_documents(), submit=True)
    with app.app_context():
        application = services.get_application(db.session, ref)
        assert application.status == "needs_review"
        assert application.review_reasons == "duplicate"
        assert application.possible_duplicate_of == earlier.id
    supervisor = app.test_client()
    login(supervisor, make_user(Role.SUPERVISOR))
    page = supervisor.get(f"/review/{ref}").get_data(as_text=True)
    assert "Possible duplicates" in page and "similarity 100%" in page


def test_submitted_application_cannot_be_edited(
    app: Flask, make_application: Any, make_user: Any
) -> None:
    from tests.conftest import mexico_city_documents

    clerk = make_user(Role.CLERK)
    ref = make_application(documents=mexico_city_documents(), submit=True, clerk_id=clerk.id)
    client = make_clerk_client(app, clerk)
    token = csrf_token(client, f"/intake/{ref}/documents")
    response = client.post(
        f"/intake/{ref}/documents",
        data={"csrf_token": token, **_receipt(app)},
        follow_redirects=True,
    )
    assert "can no longer be changed" in response.get_data(as_text=True)
    with app.app_context():
        assert len(services.get_application(db.session, ref).documents) == 2


def test_find_by_reference_tolerates_case_and_dashes(
    app: Flask, make_application: Any, make_user: Any
) -> None:
    clerk = make_user(Role.CLERK)
    ref = make_application(clerk_id=clerk.id)
    client = make_clerk_client(app, clerk)
    typed = f"{ref[:4].lower()} {ref[4:8]}-{ref[8:]}"
    assert client.get("/intake/find", query_string={"reference": typed}).status_code == 302
    wrong = ref[:-1] + ("0" if ref[-1] != "0" else "1")
    page = client.get("/intake/find", query_string={"reference": wrong})
    assert page.status_code == 404 and "typing mistake" in page.get_data(as_text=True)


def test_withdraw_asks_first(app: Flask, make_application: Any, make_user: Any) -> None:
    clerk = make_user(Role.CLERK)
    ref = make_application(clerk_id=clerk.id)
    client = make_clerk_client(app, clerk)
    assert "Withdraw this application?" in client.get(f"/intake/{ref}/withdraw").get_data(
        as_text=True
    )
    with app.app_context():
        assert services.get_application(db.session, ref).status == "draft"
    token = csrf_token(client, f"/intake/{ref}/withdraw")
    client.post(f"/intake/{ref}/withdraw", data={"csrf_token": token})
    with app.app_context():
        assert services.get_application(db.session, ref).status == "withdrawn"


def test_purge_command_keeps_only_the_outcome(app: Flask, make_application: Any) -> None:
    from tests.conftest import mexico_city_documents

    ref = make_application(documents=mexico_city_documents(), submit=True)
    with app.app_context():
        application = services.get_application(db.session, ref)
        # Decided some time ago under a policy that kept details: they are still here.
        application.status = "approved"
        application.decided_at = datetime(2026, 1, 5, tzinfo=UTC)
        db.session.commit()
        assert len(application.documents) == 2
    result = app.test_cli_runner().invoke(args=["idsys", "purge"])
    assert result.exit_code == 0 and "Purged document details of 1" in result.output
    with app.app_context():
        application = services.get_application(db.session, ref)
        assert application.documents == [] and application.identity_points == 1
        assert db.session.scalar(select(func.count()).select_from(Application)) == 1


def test_names_the_card_cannot_print_are_refused_at_intake(
    app: Flask, client: FlaskClient, make_user: Any
) -> None:
    login(client, make_user(Role.CLERK))
    ref = _start(client)
    token = csrf_token(client, f"/intake/{ref}/details")
    for name, message in [
        ("ᱚᱞ ᱪᱤᱠᱤ", "cannot be printed on the card"),
        ("Wolfeschlegelsteinhausen" * 4, "too long to print"),
    ]:
        response = client.post(
            f"/intake/{ref}/details", data={"csrf_token": token, **PROFILE, "given_names": name}
        )
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert _count(app, Applicant) == 0
    for name in ["Nguyễn Thị", "Анна", "王秀英", "Αικατερίνη"]:
        response = client.post(
            f"/intake/{ref}/details", data={"csrf_token": token, **PROFILE, "given_names": name}
        )
        assert response.status_code == 302, name
