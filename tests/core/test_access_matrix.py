"""Every route × every role: who may open what. A new route missing from this table fails."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from idsys.auth.access import access_of, check_all_declared, public, undeclared_endpoints
from idsys.auth.models import Role
from tests.conftest import login, mexico_city_documents

STAFF = "admin,clerk,supervisor"
# endpoint -> who may use it. Keep in step with the views: that is the point of the table.
EXPECTED: dict[str, str] = {
    "static": "public",
    "core.index": "public",
    "core.healthz": "public",
    "core.set_language": "public",
    "core.home": STAFF,
    "auth.login": "public",
    "auth.login_totp": "public",
    "auth.logout": STAFF,
    "auth.change_password": STAFF,
    "auth.totp_enrol": STAFF,
    "staff_admin.staff_list": "admin",
    "staff_admin.staff_create": "admin",
    "staff_admin.staff_detail": "admin",
    "staff_admin.staff_action": "admin",
    "audit.events": "admin",
    "audit.verify": "admin",
    "applicants_admin.erase_lookup": "admin",
    "applicants_admin.erase": "admin",
    "intake.start": "clerk,supervisor",
    "intake.begin": "clerk,supervisor",
    "intake.find": "clerk,supervisor",
    "intake.profile": "clerk,supervisor",
    "intake.documents": "clerk,supervisor",
    "intake.remove_document": "clerk,supervisor",
    "intake.photo": "clerk,supervisor",
    "intake.photo_image": "clerk,supervisor",
    "intake.review": "clerk,supervisor",
    "intake.submitted": "clerk,supervisor",
    "intake.withdraw": "clerk,supervisor",
    "review.queue": "supervisor",
    "review.decide": "supervisor",
    "residents.start": "public",
    "residents.status": "public",
    "residents.apply": "public",
    "residents.slip": "public",
    "residents.finish": "public",
    "pre_applications.find": "clerk,supervisor",
    "pre_applications.claim": "clerk,supervisor",
    "keys.jwks": "public",
    "cards.queue": "clerk,supervisor",
    "cards.release": "supervisor",
    "cards.batch": "clerk,supervisor",
    "cards.batch_progress": "clerk,supervisor",
    "cards.render": "clerk,supervisor",
    "cards.download": "clerk,supervisor",
    "cards.printed": "clerk,supervisor",
    "cards.history_by_reference": "clerk,supervisor",
    "cards.card": "clerk,supervisor",
    "cards.card_action": "clerk,supervisor",
    "api.verifications": "api key",
    "api.status_list": "api key",
    "api.openapi": "public",
    "scanner.scan": "public",
    "partners.partner_list": "admin",
    "partners.partner_create": "admin",
    "partners.partner_detail": "admin",
    "partners.partner_access": "admin",
    "partners.key_issue": "admin",
    "partners.key_revoke": "admin",
    "reports.dashboard": "admin,supervisor",
    "reports.download": "admin,supervisor",
}


@dataclass(frozen=True)
class Samples:
    """Existing records, so that an allowed request finds something to show."""

    staff_id: int
    applicant_id: uuid.UUID
    draft: str
    submitted: str
    card_id: int
    batch_id: int
    partner_id: int
    key_prefix: str

    def args(self, endpoint: str) -> dict[str, Any]:
        if endpoint.startswith("intake.") and endpoint not in {
            "intake.start",
            "intake.begin",
            "intake.find",
        }:
            extra = {"document_id": 1} if endpoint == "intake.remove_document" else {}
            return {"reference": self.draft, **extra}
        if endpoint.startswith("cards.batch") or endpoint in {"cards.render", "cards.printed"}:
            return {"batch_id": self.batch_id}
        return {
            "cards.download": {"batch_id": self.batch_id, "layout": "card_printer"},
            "cards.history_by_reference": {"reference": self.submitted},
            "cards.card": {"card_id": self.card_id},
            "partners.partner_detail": {"partner_id": self.partner_id},
            "partners.partner_access": {"partner_id": self.partner_id},
            "partners.key_issue": {"partner_id": self.partner_id},
            "partners.key_revoke": {"partner_id": self.partner_id, "prefix": self.key_prefix},
            "cards.card_action": {"card_id": self.card_id, "action": "renew"},
            "review.decide": {"reference": self.submitted},
            "intake.find": {"reference": self.draft},
            "static": {"filename": "css/idsys.css"},
            "staff_admin.staff_detail": {"user_id": self.staff_id},
            "staff_admin.staff_action": {"user_id": self.staff_id, "action": "unlock"},
            "applicants_admin.erase": {"applicant_id": self.applicant_id},
        }.get(endpoint, {})


def test_every_route_is_in_the_table(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - EXPECTED.keys() == set(), "new routes: add them to EXPECTED"
    assert EXPECTED.keys() - endpoints == set(), "routes gone: remove them from EXPECTED"


def test_declared_access_matches_the_table(app: Flask) -> None:
    assert undeclared_endpoints(app) == []
    for endpoint, view in app.view_functions.items():
        access = access_of(view)
        assert access is not None
        assert access.describe() == EXPECTED[endpoint], endpoint


def test_an_undeclared_route_stops_start_up(app: Flask) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "no declaration")
    with pytest.raises(RuntimeError, match="forgotten"):
        check_all_declared(app)
    app.view_functions["forgotten"] = public(lambda: "declared")
    check_all_declared(app)


def _partner(app: Flask) -> tuple[int, str]:
    from idsys.audit.services import SYSTEM
    from idsys.db import db
    from idsys.verification import services as partners
    from idsys.verification.models import PartnerKind, Scope

    with app.app_context():
        partner, key = partners.create_partner(
            db.session,
            app.extensions["idsys.keyring"],
            SYSTEM,
            name="Matrix library",
            kind=PartnerKind.LIBRARY,
            contact="",
            scope=Scope.STATUS,
            daily_quota=10,
        )
        db.session.commit()
        return partner.id, key.split("_")[1]


def _request(client: Any, app: Flask, endpoint: str, samples: Samples) -> Any:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **samples.args(endpoint))
    method = "GET" if "GET" in (rule.methods or set()) else "POST"
    return client.open(url, method=method)


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "anonymous")
def test_each_role_reaches_exactly_its_pages(
    app: Flask,
    make_user: Any,
    make_applicant: Any,
    make_application: Any,
    make_card: Any,
    role: Role | None,
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about access, not forms
    samples = Samples(
        make_user(Role.CLERK, "target").id,
        make_applicant().id,
        make_application(),
        make_application(documents=mexico_city_documents(), submit=True),
        *make_card(),
        *_partner(app),
    )
    client = app.test_client()
    if role is not None:
        assert login(client, make_user(role)).status_code == 302
    for endpoint, allowed in EXPECTED.items():
        if endpoint in {"auth.logout", "auth.login", "auth.login_totp"}:
            continue  # they change the session itself; covered in tests/auth
        if endpoint in {"api.verifications", "api.status_list"}:
            continue  # a partner API key, not a staff role, opens these: tests/verification
        response = _request(client, app, endpoint, samples)
        may = allowed == "public" or (role is not None and role.value in allowed.split(","))
        where = f"{endpoint} as {role.value if role else 'anonymous'}: {response.status_code}"
        if may:
            assert response.status_code in {200, 302}, where
            if response.status_code == 302 and allowed != "public":
                assert "/login" not in response.headers["Location"], where
        elif role is None:
            assert response.status_code == 302, where
            assert "/login" in response.headers["Location"], where
        else:
            assert response.status_code == 403, where
