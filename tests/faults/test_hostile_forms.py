"""Every HTML form, posted with hostile values: empty, oversized (100 kB), the wrong type, a list
where one value is expected, and script injection. No answer is a server error, no page shows
the injected markup unescaped, and a submission the form must refuse stores nothing.

The routes come from the app's URL map, and each form's fields from its rendered page, so a new
form is covered without touching this file (a route with a new kind of URL argument, or a form
shown on no page, fails here until the test is taught how to reach it).
"""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule

from idsys.applications import services as applicants
from idsys.audit.services import SYSTEM, Actor
from idsys.auth.access import access_of
from idsys.auth.models import Role, StaffUser
from idsys.auth.views import ACTIONS as STAFF_ACTIONS
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing
from idsys.db import Base, db
from idsys.policy import local_date
from idsys.residents import services as residents
from idsys.residents.views import SLIP_KEY
from idsys.verification import services as partners
from idsys.verification.models import PartnerKind, Scope
from tests.conftest import (
    PASSWORD,
    TODAY,
    build_app,
    csrf_token,
    login,
    mexico_city_documents,
    sample_profile,
)
from tests.faults.support import Field, Form, parse_forms

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
MARKERS = (SCRIPT, "<img src=x onerror=alert(1)>")
BIG = "A" * 100_000
WRONG = {"date": "2026-02-31", "number": "twelve", "email": "not an address"}
# Rows in these tables are written by refused requests on purpose (the audit trail) or by
# nothing a form does; every other table must keep its row count when a form is refused.
NOT_COUNTED = ("audit_", "partner_usage", "key_rotations")
CARD_ACTIONS = ("hand-over", "report", "renew", "reprint", "revoke-fraud")
# Forms shown only in a state the test does not build, and the identical form it posts instead:
# the renew button appears inside the renewal window only; it is the reprint confirmation's twin.
SAME_FORM_AS: dict[tuple[str, str | None], str] = {("cards.card_action", "renew"): "reprint"}
SKIPPED = {"api.verifications": "JSON API: fuzzed against its OpenAPI document by schemathesis"}
NOT_PAGES = {"static", "cards.download", "intake.photo_image", "keys.jwks", "core.healthz"}


def _throwaway_app() -> Flask:
    """The app, only to read its URL map at collection time."""
    with tempfile.TemporaryDirectory() as tmp:
        provider = FileKeyProvider(Path(tmp) / "keys.json", strict_permissions=True)
        ring = KeyRing.open(provider, generate_missing=True, required=tuple(KeyPurpose))
        return build_app("sqlite://", Path(tmp) / "instance", ring)


def _targets() -> list[Any]:
    targets = []
    for rule in sorted(_throwaway_app().url_map.iter_rules(), key=lambda r: r.endpoint):
        if "POST" not in (rule.methods or ()):
            continue
        if rule.endpoint in SKIPPED:
            reason = SKIPPED[rule.endpoint]
            targets.append(pytest.param(rule.endpoint, None, marks=pytest.mark.skip(reason=reason)))
            continue
        actions: tuple[str | None, ...] = (None,)
        if "action" in rule.arguments:
            actions = {
                "cards.card_action": CARD_ACTIONS,
                "staff_admin.staff_action": tuple(STAFF_ACTIONS),
            }.get(rule.endpoint, ("unknown",))
        for action in actions:
            name = rule.endpoint + (f"/{action}" if action else "")
            targets.append(pytest.param(rule.endpoint, action, id=name))
    return targets


class World:
    """The records the forms act on, made through the real services when first needed."""

    def __init__(self, app: Flask, keys: KeyRing, make_user: Any, **makers: Any) -> None:
        self.app, self.keys, self.make_user = app, keys, make_user
        self.make_application = makers["make_application"]
        self.make_card = makers["make_card"]

    @cached_property
    def draft(self) -> str:
        return str(self.make_application(documents=mexico_city_documents()[:1]))

    @cached_property
    def submitted(self) -> str:
        return str(self.make_application(documents=mexico_city_documents(), submit=True))

    @cached_property
    def card(self) -> tuple[int, int]:
        card_id, batch_id = self.make_card(printed=True)
        return int(card_id), int(batch_id)

    @cached_property
    def released_batch(self) -> int:
        return int(self.make_card()[1])

    @cached_property
    def staff_id(self) -> int:
        return int(self.make_user(Role.CLERK).id)

    @cached_property
    def partner(self) -> tuple[int, str]:
        with self.app.app_context():
            partner, key = partners.create_partner(
                db.session,
                self.keys,
                SYSTEM,
                name="Hostile library",
                kind=PartnerKind.LIBRARY,
                contact="",
                scope=Scope.STATUS,
                daily_quota=100,
            )
            db.session.commit()
            return partner.id, key.split("_")[1]

    @cached_property
    def pre_application(self) -> str:
        with self.app.app_context():
            row = residents.create_pre_application(
                db.session,
                self.keys,
                self.app.extensions["idsys.policy"],
                residents.PreApplicationData(sample_profile(), documents=("voter_card",)),
                today=residents_today(self.app),
            )
            db.session.commit()
            return str(row.code)

    @cached_property
    def approved(self) -> str:
        """An approved application waiting to be released into a batch."""
        reference = self.submitted_by_another()
        with self.app.app_context():
            application = applicants.get_application(db.session, reference)
            applicants.decide_application(
                db.session,
                self.keys,
                Actor(self.make_user(Role.SUPERVISOR).id, "supervisor"),
                application,
                self.app.extensions["idsys.policy"],
                TODAY,
                approve=True,
                codes=["rules_satisfied", "duplicate_checked"],
            )
            db.session.commit()
        return reference

    def submitted_by_another(self) -> str:
        profile = sample_profile(given_names="Otra", family_names="Persona")
        return str(
            self.make_application(profile=profile, documents=mexico_city_documents(), submit=True)
        )

    def applicant_id(self) -> uuid.UUID:
        with self.app.app_context():
            application = applicants.get_application(db.session, self.submitted)
            assert application.applicant_id is not None
            return application.applicant_id

    def document_id(self) -> int:
        with self.app.app_context():
            return applicants.get_application(db.session, self.draft).documents[0].id

    def args(self, rule: Rule, action: str | None, *, create: bool = True) -> dict[str, Any]:
        """Values for the rule's URL arguments; fails on an argument it does not know. Without
        ``create``, raises LookupError when a record it needs was not made yet."""

        def need(record: str) -> Any:
            if not create and record not in self.__dict__:
                raise LookupError(record)
            return getattr(self, record)

        endpoint, values = rule.endpoint, {}
        for name in rule.arguments:
            if name == "reference":
                values[name] = need("submitted" if endpoint.startswith("review.") else "draft")
            elif name == "document_id":
                need("draft")
                values[name] = self.document_id()
            elif name == "batch_id":
                values[name] = need("released_batch")
            elif name == "card_id":
                values[name] = need("card")[0]
            elif name == "user_id":
                values[name] = need("staff_id")
            elif name == "partner_id":
                values[name] = need("partner")[0]
            elif name == "prefix":
                values[name] = need("partner")[1]
            elif name == "applicant_id":
                need("submitted")
                values[name] = self.applicant_id()
            elif name == "action":
                values[name] = action or next(iter(STAFF_ACTIONS))
            elif name == "layout":
                values[name] = "card_printer"
            elif name == "filename":
                raise LookupError(name)
            else:
                pytest.fail(f"{endpoint}: teach this test a value for the URL argument <{name}>")
        return values


def residents_today(app: Flask) -> date:
    return local_date(app.extensions["idsys.policy"], datetime.now(UTC))


def url_for_app(app: Flask, endpoint: str, **values: Any) -> str:
    values.pop("_", None)  # a record made for the page, not part of its address
    with app.test_request_context():
        return url_for(endpoint, **values)


def _counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = {
            table.name: int(db.session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if not table.name.startswith(NOT_COUNTED)
        }
        db.session.rollback()
        return counts


def _path(url: str) -> str:
    return urlsplit(url).path


class Visitor:
    """A browser signed in with one role (or none), re-signed in if a post ends its session."""

    def __init__(self, app: Flask, client: FlaskClient, make_user: Any, role: Role | None):
        self.app, self.client, self.role = app, client, role
        self.user: StaffUser | None = make_user(role) if role is not None else None
        self.signed_in_again = False
        self.sign_in()
        self.signed_in_again = False

    def sign_in(self) -> None:
        """Sign in, unless still signed in (then the sign-in page sends the visitor home)."""
        if self.user is not None and self.client.get("/login").status_code == 200:
            assert login(self.client, self.user).status_code == 302
            self.signed_in_again = True

    def get(self, url: str) -> Any:
        response = self.client.get(url)
        if response.status_code == 302 and _path(response.headers["Location"]) == "/login":
            self.sign_in()
            response = self.client.get(url)
        return response


def _pages(app: Flask, world: World, url: str) -> Iterator[str]:
    """Pages that may show the form posting to ``url``: the same address first, then those
    sharing the longest part of its path, then every other page."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
                continue
            if rule.endpoint.startswith("api."):
                continue
            try:
                urls.append(url_for(rule.endpoint, **world.args(rule, None, create=False)))
            except LookupError:
                continue

    def shared(candidate: str) -> int:
        a, b = candidate.strip("/").split("/"), url.strip("/").split("/")
        return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))

    yield from sorted(set(urls), key=lambda u: (u != url, -shared(u), u))


def _find_form(visitor: Visitor, world: World, rule: Rule, url: str) -> tuple[str, Form]:
    endpoint = rule.endpoint
    special = {
        "pre_applications.claim": lambda: url_for_app(
            visitor.app, "pre_applications.find", code=world.pre_application
        ),
        "cards.release": lambda: url_for_app(visitor.app, "cards.queue", _=world.approved),
    }
    if endpoint == "residents.finish":
        with visitor.client.session_transaction() as state:
            state[SLIP_KEY] = world.pre_application
    candidates: list[str] = [special[endpoint]()] if endpoint in special else []
    if "GET" in (rule.methods or ()):
        candidates.insert(0, url)
    for page_url in [*candidates, *_pages(visitor.app, world, url)]:
        response = visitor.get(page_url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for form in parse_forms(response.get_data(as_text=True)):
            action = _path(form.action) if form.action else _path(page_url)
            if form.method == "post" and action == _path(url):
                return page_url, form
    pytest.fail(f"no page shows a form posting to {url}: teach this test how to reach it")


def _variants(field: Field) -> Iterator[tuple[str, Any, bool]]:
    """(name, value, must be refused) for one field."""
    if field.kind == "file":
        yield "empty file", (io.BytesIO(b""), "photo.jpg"), True
        yield "not an image", (io.BytesIO(BIG.encode()), ATTRIBUTE + ".jpg"), True
        yield "text instead of a file", SCRIPT, True
        return
    choice = field.kind in {"select", "radio"} or (
        field.kind == "checkbox" and field.options not in (["y"], ["on"])
    )
    boolean = field.kind == "checkbox" and not choice
    typed = field.kind in WRONG or choice
    yield "empty", "", field.required
    yield "oversized", BIG, not boolean
    if typed:
        yield "wrong type", WRONG.get(field.kind, "no-such-choice"), True
    else:
        yield "a NUL character", "a\x00b", True
        yield "control characters", "a\x1b[2J\x07\x08b", False
    yield "a list of values", ["1", "2"], False
    yield "script", SCRIPT, typed
    yield "attribute", ATTRIBUTE, typed


def _unescaped(body: str) -> list[str]:
    return [marker for marker in MARKERS if marker in body]


@pytest.mark.parametrize(("endpoint", "action"), _targets())
def test_hostile_values_in_every_form(
    endpoint: str,
    action: str | None,
    app: Flask,
    client: FlaskClient,
    keys: KeyRing,
    make_user: Any,
    make_application: Any,
    make_card: Any,
) -> None:
    if action == "unknown":
        pytest.fail(f"{endpoint}: teach this test the values of its <action> argument")
    world = World(app, keys, make_user, make_application=make_application, make_card=make_card)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    access = access_of(app.view_functions[endpoint])
    assert access is not None
    role = None
    if not access.public:
        role = next(r for r in (Role.SUPERVISOR, Role.ADMIN, Role.CLERK) if r in access.roles)
    with app.test_request_context():
        url = url_for(endpoint, **world.args(rule, action))
    visitor = Visitor(app, client, make_user, role)
    if endpoint == "auth.login_totp":
        # The second step of a sign-in: a staff member with TOTP has given the password.
        person = make_user(Role.CLERK, totp=True)
        visitor.client.post(
            "/login",
            data={
                "csrf_token": csrf_token(visitor.client, "/login"),
                "username": person.username,
                "password": PASSWORD,
            },
        )
    form_url = url
    shown_as = SAME_FORM_AS.get((endpoint, action))
    if shown_as is not None:  # shown only in a state hard to reach: post its twin form
        with app.test_request_context():
            form_url = url_for(endpoint, **world.args(rule, shown_as))
    page_url, form = _find_form(visitor, world, rule, form_url)
    assert form.fields, f"{page_url}: the form posting to {url} has no fields"

    sent = 0
    for name, field in form.fields.items():
        for variant, value, refused in _variants(field):
            if visitor.signed_in_again:  # a new session: the token on the page changed
                visitor.signed_in_again = False
                page_url, form = _find_form(visitor, world, rule, form_url)
            data: dict[str, Any] = form.defaults()
            data[name] = value
            before = _counts(app)
            response = visitor.client.post(url, data=data)
            sent += 1
            what = f"{endpoint} {name}={variant}"
            assert response.status_code < 500, f"{what}: {response.status_code}"
            assert not _unescaped(response.get_data(as_text=True)), f"{what}: reflected"
            if refused:
                assert _counts(app) == before, f"{what}: stored although refused"
            if response.status_code in (301, 302, 303) and endpoint != "auth.logout":
                follow = visitor.get(response.headers["Location"])
                assert follow.status_code < 500, f"{what} then GET: {follow.status_code}"
                assert not _unescaped(follow.get_data(as_text=True)), f"{what}: shown unescaped"
    assert sent

    # Whatever was accepted is shown escaped on every page this visitor can open.
    for page_url in _pages(app, world, url):
        page = visitor.get(page_url)
        if page.mimetype == "text/html":
            assert page.status_code < 500, page_url
            assert not _unescaped(page.get_data(as_text=True)), f"{page_url}: unescaped markup"
