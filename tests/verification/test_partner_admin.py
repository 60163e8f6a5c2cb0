"""The partner registry as admins use it: the web pages and `flask idsys partner ...`.

Keys shown once and issued once per form, the live-key limit under concurrent requests, what
the audit trail says about each change (and who made it), confirmations before what cuts a
partner off, and refusals (not server errors) for what an admin can type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idsys.audit.models import AuditEvent
from idsys.audit.services import SYSTEM
from idsys.auth.models import Role
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.verification import services
from idsys.verification.models import Partner, PartnerKey, PartnerKind, Scope
from tests.conftest import (
    csrf_token,
    needs_postgres,
    register_partner,
)
from tests.faults.support import Form, parse_forms, racing, two_workers
from tests.servers import scratch_database

HUGE = "9" * 400


@pytest.fixture
def admin(client: FlaskClient, signed_in: Any) -> FlaskClient:
    signed_in(Role.ADMIN)
    return client


def _partner(app: Flask, keys: KeyRing, name: str = "Branch library", **kwargs: Any) -> int:
    """Register a partner (one live key); returns its id."""
    with app.app_context():
        key = register_partner(keys, name=name, **kwargs)
        stored = services.key_by_prefix(db.session, key.split("_")[1])
        assert stored is not None
        return stored.partner_id


def _events(app: Flask, action: str) -> list[tuple[str | None, str | None, str | None]]:
    """(actor role, target id, detail) of each audit event with this action, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.actor_role, AuditEvent.target_id, AuditEvent.detail)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        ).all()
        return [(role, target, detail) for role, target, detail in rows]


def _live_keys(app: Flask, partner_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(PartnerKey.prefix)
                .where(PartnerKey.partner_id == partner_id, PartnerKey.revoked_at.is_(None))
                .order_by(PartnerKey.id)
            )
        )


def _form(page: Any, posts_to: str) -> Form:
    """The form of ``page`` (a response to a GET of its URL) that posts to ``posts_to``."""
    forms = _post_forms(page)
    if posts_to in forms:
        return forms[posts_to]
    raise AssertionError(f"no form posting to {posts_to}: {list(forms)}")


def _post_forms(page: Any) -> dict[str, Form]:
    """The page's POST forms by the path they post to (a form without action: the page's)."""
    url = page.request.path
    forms = parse_forms(page.get_data(as_text=True))
    return {form.action or url: form for form in forms if form.method == "post"}


def _text(response: Any) -> str:
    """The page's text with its markup and entities folded, for checking sentences."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    body = body.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")
    return " ".join(body.split())


def _cli(app: Flask, *args: str, answer: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=["idsys", "partner", *args], input=answer)


# -- 1. a key is issued once per form -----------------------------------------------------------


def test_reloading_the_new_key_page_issues_no_second_key(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys)
    url = f"/admin/partners/{partner_id}/keys"
    issue = _form(admin.get(f"/admin/partners/{partner_id}"), url)

    first = admin.post(url, data=issue.defaults())
    assert first.status_code == 200
    shown = re.search(r"idsys_([0-9a-z]{8})_[A-Za-z0-9_-]{43}", first.get_data(as_text=True))
    assert shown, "the new key is shown once"
    # The browser re-sends the same form: a reload of the key's page, or Back and resubmit.
    for _ in range(2):
        again = admin.post(url, data=issue.defaults(), follow_redirects=True)
        assert shown.group(0) not in again.get_data(as_text=True)
        said = _text(again)
        assert f"This key was already issued (prefix {shown.group(1)})" in said
        assert "If it was not noted, revoke it and issue a new one." in said
    # In the admin's language, with the prefix in its place.
    spanish = admin.post(
        url, data=issue.defaults(), headers={"Accept-Language": "es"}, follow_redirects=True
    )
    assert f"Esta clave ya se emitió (prefijo {shown.group(1)})" in _text(spanish)
    assert len(_live_keys(app, partner_id)) == 2
    assert len(_events(app, "partner.key_issue")) == 2  # the first key, and this one

    # A fresh form (the page drawn again) is refused only by the limit of two live keys.
    fresh = _form(admin.get(f"/admin/partners/{partner_id}"), url).defaults()
    refused = admin.post(url, data=fresh, follow_redirects=True)
    assert "at most 2 live keys" in _text(refused) and "already issued" not in _text(refused)
    assert len(_live_keys(app, partner_id)) == 2


@pytest.mark.parametrize("newest_key", ["", "-1", "x", HUGE, "99999999999"])
def test_an_issue_form_without_its_key_state_issues_nothing(
    app: Flask, admin: FlaskClient, keys: KeyRing, newest_key: str
) -> None:
    partner_id = _partner(app, keys)
    token = csrf_token(admin, f"/admin/partners/{partner_id}")
    response = admin.post(
        f"/admin/partners/{partner_id}/keys",
        data={"csrf_token": token, "newest_key": newest_key},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Nothing was issued" in _text(response)
    assert len(_live_keys(app, partner_id)) == 1


# -- 2. at most two live keys, also for two requests at once -----------------------------------


@pytest.fixture
def workers(keys: KeyRing, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two workers) on a scratch database of the test PostgreSQL server."""
    with (
        scratch_database(needs_postgres(), "idsys_partners") as url,
        two_workers(url, keys, tmp_path / "instance") as apps,
    ):
        yield apps


@pytest.mark.parametrize("from_one_form", [False, True], ids=["two-admins", "double-click"])
def test_two_requests_at_once_leave_at_most_two_live_keys(
    workers: tuple[Flask, Flask], keys: KeyRing, from_one_form: bool
) -> None:
    """Two workers issue a key to a partner holding one: the second counts before the first
    commits, then waits for the audit chain's lock, and must count again once it has it."""
    first, second = workers
    partner_id = _partner(first, keys)
    form: dict[str, int] = {}
    if from_one_form:  # both copies carry the key state the page was drawn at
        with first.app_context():
            partner = db.session.get(Partner, partner_id)
            assert partner is not None
            form["newest_seen"] = services.newest_key_id(db.session, partner)
    outcome: list[object] = []

    def issue() -> str:
        partner = db.session.get(Partner, partner_id)
        assert partner is not None
        return services.issue_key(db.session, keys, SYSTEM, partner, **form)

    def racer() -> None:
        with second.app_context():
            try:
                outcome.append(issue())
                db.session.commit()
            except services.PartnerError as exc:
                db.session.rollback()
                outcome.append(exc)

    with first.app_context():
        issue()  # holds the chain's lock until it commits
        with racing(racer, "the second request should wait for the chain's lock"):
            db.session.commit()
    assert len(outcome) == 1
    expected = services.KeyAlreadyIssued if from_one_form else services.TooManyKeys
    assert isinstance(outcome[0], expected), outcome
    assert len(_live_keys(first, partner_id)) == 2
    assert len(_events(first, "partner.key_issue")) == 2


# -- 3. every change audited, and only changes ----------------------------------------------------


def test_saving_audits_each_change_and_nothing_for_no_change(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys, quota=100, contact="Front desk")
    url = f"/admin/partners/{partner_id}"
    edit = _form(admin.get(url), url).defaults()
    assert edit["daily_quota"] == ["100"] and edit["contact"] == ["Front desk"]

    edit.update(daily_quota="1000000", contact="Ana Ruiz, 555 0100")
    saved = admin.post(url, data=edit, follow_redirects=True)
    assert "Partner saved." in _text(saved)
    edit.update(scope="photo")
    assert "Partner saved." in _text(admin.post(url, data=edit, follow_redirects=True))
    details = [detail for _, _, detail in _events(app, "partner.update")]
    assert details == ["quota=100->1000000,contact", "scope=status->photo"]

    # The same form again: no audit row, and no claim that something was saved.
    again = admin.post(url, data=edit, follow_redirects=True)
    assert "Nothing changed." in _text(again) and "Partner saved." not in _text(again)
    assert len(_events(app, "partner.update")) == 2
    with app.app_context():
        partner = db.session.get(Partner, partner_id)
        assert partner is not None
        assert (partner.scope, partner.daily_quota) == ("photo", 1_000_000)


def test_the_longest_change_fits_the_audit_detail(app: Flask, keys: KeyRing) -> None:
    partner_id = _partner(app, keys, scope=Scope.IDENTITY, quota=1_000_000)
    with app.app_context():
        partner = db.session.get(Partner, partner_id)
        assert partner is not None
        changes = services.update_partner(
            db.session,
            keys,
            SYSTEM,
            partner,
            scope=Scope.STATUS,
            daily_quota=999_999,
            contact="x" * 200,
        )
        db.session.commit()
    detail = _events(app, "partner.update")[0][2]
    length = AuditEvent.__table__.c.detail.type.length  # type: ignore[attr-defined]
    assert detail == ",".join(changes) == "scope=identity->status,quota=1000000->999999,contact"
    assert detail is not None and len(detail) <= length


# -- 4. enabling and disabling: an action of its own, confirmed ----------------------------------


def test_disabling_and_enabling_are_confirmed_actions(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    with app.app_context():
        key = register_partner(keys)
    partner_id = _partner_id(app, key)
    url, access = f"/admin/partners/{partner_id}", f"/admin/partners/{partner_id}/access"
    page = admin.get(url)
    assert "enabled" not in _form(page, url).fields, "not a checkbox saved with the rest"
    # The detail form no longer switches access, whatever it is sent.
    admin.post(url, data={**_form(page, url).defaults(), "enabled": ""})
    assert _enabled(app, partner_id)

    confirm = admin.get(access)
    assert confirm.status_code == 200
    assert (
        "Every request with this partner's keys is refused (403) from now on, until it is "
        "enabled again." in _text(confirm)
    )
    disable = _form(confirm, access).defaults()
    done = admin.post(access, data=disable, follow_redirects=True)
    assert "Access disabled" in _text(done)
    assert not _enabled(app, partner_id)
    verify = admin.post(
        "/api/v1/verifications", json={"qr": "x"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert verify.status_code == 403
    # Sent twice: still disabled, and audited once.
    twice = admin.post(access, data=disable, follow_redirects=True)
    assert "already disabled" in _text(twice) and not _enabled(app, partner_id)
    assert _events(app, "partner.disable") == [("admin", str(partner_id), None)]

    confirm = admin.get(access)
    assert "Enable this partner's access?" in _text(confirm)
    enable = _form(confirm, access).defaults()
    admin.post(access, data=enable)
    assert _enabled(app, partner_id)
    assert _events(app, "partner.enable") == [("admin", str(partner_id), None)]
    assert _events(app, "partner.update") == []
    bad = admin.post(access, data={**enable, "target": "toggle"})
    assert bad.status_code == 400 and _enabled(app, partner_id)


def _partner_id(app: Flask, key: str) -> int:
    with app.app_context():
        return services.authenticate(db.session, key).id


def _enabled(app: Flask, partner_id: int) -> bool:
    with app.app_context():
        return bool(db.session.scalar(select(Partner.is_enabled).where(Partner.id == partner_id)))


# -- 5 and 6. the command line: its own actor, and a confirmation before revoking ----------------


def test_cli_actions_are_audited_as_the_command_line(app: Flask) -> None:
    added = _cli(app, "add", "Clinica Norte", "--kind", "clinic", "--quota", "50")
    assert added.exit_code == 0, added.output
    key = re.search(r"idsys_[0-9a-z]{8}_[A-Za-z0-9_-]{43}", added.output)
    assert key
    partner_id = _partner_id(app, key.group(0))
    assert _cli(app, "new-key", str(partner_id)).exit_code == 0
    assert _cli(app, "revoke-key", key.group(0), "--yes").exit_code == 0
    for action in ("partner.create", "partner.key_issue", "partner.key_revoke"):
        roles = {role for role, _, _ in _events(app, action)}
        assert roles == {"cli"}, action


def test_cli_revoke_asks_first_naming_the_partner_and_its_last_key(
    app: Flask, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys, name="Biblioteca Central")
    (first,) = _live_keys(app, partner_id)

    declined = _cli(app, "revoke-key", first, answer="n\n")
    assert declined.exit_code == 1
    assert "Biblioteca Central" in declined.output and f"partner {partner_id}" in declined.output
    assert "LAST live key" in declined.output
    assert _live_keys(app, partner_id) == [first]
    assert _events(app, "partner.key_revoke") == []

    assert _cli(app, "new-key", str(partner_id)).exit_code == 0
    second = _live_keys(app, partner_id)[1]
    asked = _cli(app, "revoke-key", first, answer="y\n")
    assert asked.exit_code == 0, asked.output
    assert "keeps its other live key" in asked.output and "LAST" not in asked.output
    assert _live_keys(app, partner_id) == [second]


def test_cli_revoke_takes_a_whole_key_and_never_prints_its_secret(app: Flask) -> None:
    added = _cli(app, "add", "Banco Popular", "--kind", "bank")
    full = re.search(r"idsys_([0-9a-z]{8})_([A-Za-z0-9_-]{43})", added.output)
    assert full
    done = _cli(app, "revoke-key", full.group(0), "--yes")
    assert done.exit_code == 0, done.output
    assert f"Key {full.group(1)}" in done.output and full.group(2) not in done.output
    assert _live_keys(app, _partner_id_by_prefix(app, full.group(1))) == []
    unknown = _cli(app, "revoke-key", "idsys_zzzzzzzz_" + full.group(2), "--yes")
    assert unknown.exit_code == 1 and full.group(2) not in unknown.output
    assert "No key with prefix 'zzzzzzzz'" in unknown.output


def _partner_id_by_prefix(app: Flask, prefix: str) -> int:
    with app.app_context():
        key = services.key_by_prefix(db.session, prefix)
        assert key is not None
        return key.partner_id


# -- 7. numbers too large for the database -------------------------------------------------------


def test_huge_numbers_are_refused_not_a_server_error(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys)
    for url in (
        "/admin/partners/99999999999999999999999",
        "/admin/partners/2147483648",
        "/admin/partners/99999999999999999999999/access",
        f"/admin/partners/{HUGE}/keys/abcdefgh/revoke",
    ):
        assert admin.get(url).status_code == 404, url
    token = csrf_token(admin, "/admin/partners/new")
    assert admin.post(f"/admin/partners/{HUGE}/keys", data={"csrf_token": token}).status_code == 404

    new = admin.post(
        "/admin/partners/new",
        data={
            "csrf_token": token,
            "name": "Huge library",
            "kind": "library",
            "scope": "status",
            "daily_quota": HUGE,
        },
    )
    assert new.status_code == 400
    assert "Give a whole number from 1 to 1,000,000." in _text(new)
    url = f"/admin/partners/{partner_id}"
    edit = _form(admin.get(url), url).defaults()
    for quota in (HUGE, "1000001", "0", "twelve"):
        saved = admin.post(url, data={**edit, "daily_quota": quota})
        assert saved.status_code == 400, quota
        assert "Give a whole number from 1 to 1,000,000." in _text(saved), quota
    assert _events(app, "partner.update") == []

    for text in ("99999999999999999999999", HUGE, "0"):
        result = _cli(app, "new-key", text)
        assert result.exit_code == 1 and "No partner with id" in result.output, text
        assert result.exception is None or isinstance(result.exception, SystemExit)


# -- 8. revoking a revoked key -------------------------------------------------------------------


def test_revoking_a_revoked_key_says_so_and_audits_nothing(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys)
    (prefix,) = _live_keys(app, partner_id)
    url = f"/admin/partners/{partner_id}/keys/{prefix}/revoke"
    confirm = admin.get(url)
    assert "This is the partner's last live key" in _text(confirm)
    form = _form(confirm, url).defaults()
    done = admin.post(url, data=form, follow_redirects=True)
    assert f"Key {prefix} revoked" in _text(done)
    with app.app_context():
        key = services.key_by_prefix(db.session, prefix)
        assert key is not None and key.revoked_at is not None
        day = key.revoked_at.strftime("%Y-%m-%d")

    # The confirmation page opened again (a stale link) asks nothing.
    again = admin.get(url)
    assert f"already revoked on {day}" in _text(again)
    assert url not in _post_forms(again)
    # The form sent again, and the command line, say so instead of "revoked".
    twice = admin.post(url, data=form, follow_redirects=True)
    assert f"Key {prefix} was already revoked on {day}" in _text(twice)
    assert f"Key {prefix} revoked" not in _text(twice)
    result = _cli(app, "revoke-key", prefix)  # nothing to confirm
    assert result.exit_code == 0
    assert f"already revoked on {day}" in result.output and " revoked." not in result.output
    assert len(_events(app, "partner.key_revoke")) == 1
    with app.app_context():
        key = services.key_by_prefix(db.session, prefix)
        assert key is not None
        with pytest.raises(services.KeyAlreadyRevoked):
            services.revoke_key(db.session, keys, SYSTEM, key)
        db.session.rollback()


# -- 9. names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "\u200b\u200b\u200b",
        "Bank\u202eknaB",
        "Branch\u200blibrary",
        "Branch\u2066 library",
        "Branch\x07library",
    ],
    ids=["only-zero-width", "bidi-override", "zero-width-inside", "bidi-isolate", "bell"],
)
def test_names_with_invisible_or_control_characters_are_refused(
    app: Flask, admin: FlaskClient, name: str
) -> None:
    form = {
        "csrf_token": csrf_token(admin, "/admin/partners/new"),
        "name": name,
        "kind": "library",
        "scope": "status",
        "daily_quota": "100",
    }
    response = admin.post("/admin/partners/new", data=form)
    assert response.status_code == 400
    assert "invisible or control character" in _text(response)
    result = _cli(app, "add", name, "--kind", "library")
    assert result.exit_code == 1 and "invisible or control character" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Partner)) == 0


@pytest.mark.parametrize(
    "twin",
    [
        "Ｂｒａｎｃｈ ｌｉｂｒａｒｙ",
        "Branch\u00a0library",
        "  BRANCH   library ",
        "Branch\u3000library",
    ],
    ids=["full-width", "no-break-space", "case-and-spacing", "ideographic-space"],
)
def test_look_alike_names_are_duplicates(app: Flask, keys: KeyRing, twin: str) -> None:
    _partner(app, keys, name="Branch library")
    with app.app_context(), pytest.raises(services.PartnerExists):
        services.create_partner(
            db.session,
            keys,
            SYSTEM,
            name=twin,
            kind=PartnerKind.LIBRARY,
            contact="",
            scope=Scope.STATUS,
            daily_quota=10,
        )


# -- 10 and 11. key state on the list and the partner's page -------------------------------------


def test_the_list_shows_live_keys_and_a_partner_without_one(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    rotating = _partner(app, keys, name="Rotating bank")
    stranded = _partner(app, keys, name="Stranded clinic")
    with app.app_context():
        partner = db.session.get(Partner, rotating)
        assert partner is not None
        services.issue_key(db.session, keys, SYSTEM, partner)
        (prefix,) = _live_keys(app, stranded)
        key = services.key_by_prefix(db.session, prefix)
        assert key is not None
        services.revoke_key(db.session, keys, SYSTEM, key)
        db.session.commit()
    listing = admin.get("/admin/partners/").get_data(as_text=True)
    assert "Live keys" in listing
    rows = dict(re.findall(r"<tr><td><a [^>]*>([^<]+)</a></td>(.*?)</tr>", listing))
    assert "<td>2</td>" in rows["Rotating bank"]
    assert '<span class="tag">no live key</span>' in rows["Stranded clinic"]


def test_rotation_is_explained_and_offered_only_below_two_live_keys(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    partner_id = _partner(app, keys)
    url = f"/admin/partners/{partner_id}"
    page = admin.get(url)
    explained = (
        "To rotate a key: issue the new key, install it at the partner, check that it works, "
        "then revoke the old one. A partner holds at most 2 live keys."
    )
    assert explained in _text(page)
    button = re.search(
        r"<button[^>]*>Issue a new key \(rotation\)</button>", page.get_data(as_text=True)
    )
    assert button and "disabled" not in button.group(0)

    assert admin.post(f"{url}/keys", data=_form(page, f"{url}/keys").defaults()).status_code == 200
    page = admin.get(url)
    button = re.search(
        r"<button[^>]*>Issue a new key \(rotation\)</button>", page.get_data(as_text=True)
    )
    assert button and "disabled" in button.group(0)
    assert (
        "This partner already holds 2 live keys: revoke the old one before issuing another."
        in _text(page)
    )
    assert explained in _text(page)


def test_a_key_is_revoked_only_under_its_own_partner(
    app: Flask, admin: FlaskClient, keys: KeyRing
) -> None:
    owner = _partner(app, keys)
    other = _partner(app, keys, name="Other library")
    (prefix,) = _live_keys(app, owner)
    url = f"/admin/partners/{other}/keys/{prefix}/revoke"
    assert admin.get(url).status_code == 404
    token = csrf_token(admin, "/admin/partners/new")
    assert admin.post(url, data={"csrf_token": token}).status_code == 404
    assert _live_keys(app, owner) == [prefix]
    assert _events(app, "partner.key_revoke") == []
