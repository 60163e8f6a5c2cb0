"""The partner API: scopes, results, stable JSON errors, quotas, audit, OpenAPI conformance."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select, text

from idsys.applications.services import erase_applicant
from idsys.audit.models import AuditEvent, AuditIntake
from idsys.audit.services import SYSTEM, seal_all, verify_chain
from idsys.auth.models import Role
from idsys.cards import services as cards
from idsys.cards.models import Card
from idsys.cards.numbers import new_card_number
from idsys.crypto import KeyRing, apikeys
from idsys.crypto.statuslist import verify_status_list
from idsys.db import db
from idsys.verification import services
from idsys.verification.models import PartnerKind, Scope
from idsys.verification.offline import check as offline_check
from tests.conftest import TODAY, login, register_partner, sample_profile

OPENAPI = json.loads(
    (Path(__file__).resolve().parents[2] / "idsys" / "verification" / "openapi.json").read_text()
)


def _validator(schema_ref: str) -> Draft202012Validator:
    resource = DRAFT202012.create_resource(OPENAPI)
    registry: Registry[Any] = Registry().with_resource("openapi.json", resource)
    return Draft202012Validator({"$ref": f"openapi.json{schema_ref}"}, registry=registry)


def conforms(response: Any, path: str = "/api/v1/verifications", method: str = "post") -> None:
    """The response's status is documented for the route, and its body matches the schema."""
    documented = OPENAPI["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (path, response.status_code)
    content = documented[str(response.status_code)].get("content", {})
    if "application/json" in content:
        schema = content["application/json"]["schema"]
        if "$ref" in schema:
            _validator("#" + schema["$ref"][1:]).validate(response.json)


@pytest.fixture
def partner(app: Flask, keys: KeyRing) -> Any:
    def make(scope: Scope = Scope.STATUS, quota: int = 100) -> str:
        with app.app_context():
            return register_partner(
                keys, name=f"Library {scope}", scope=scope, quota=quota, contact="desk"
            )

    return make


def _qr(app: Flask, keys: KeyRing, card_id: int) -> str:
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        from idsys.applications.models import Applicant

        applicant = db.session.get(Applicant, card.applicant_id)
        assert applicant is not None
        return cards.qr_text(
            keys, card, applicant, app.extensions["idsys.policy"], "https://id.example.org"
        )


def _post(client: FlaskClient, key: str | None, body: Any, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/verifications", json=body, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("scope", "fields"),
    [(Scope.STATUS, set()), (Scope.IDENTITY, {"holder"}), (Scope.PHOTO, {"holder", "photo"})],
)
def test_valid_card_reveals_only_what_the_scope_allows(
    app: Flask,
    client: FlaskClient,
    keys: KeyRing,
    make_card: Any,
    partner: Any,
    scope: Scope,
    fields: set[str],
) -> None:
    card_id, _ = make_card(printed=True)
    response = _post(client, partner(scope), {"qr": _qr(app, keys, card_id)})
    assert response.status_code == 200
    body = response.json
    assert body["result"] == "valid"
    assert set(body) - {"result", "card", "checked_at"} == fields
    if "holder" in fields:
        assert body["holder"]["full_name"] == sample_profile().full_name
    if "photo" in fields:
        assert body["photo"]["data"]
    conforms(response)


def test_number_and_date_of_birth(
    app: Flask, client: FlaskClient, make_card: Any, partner: Any
) -> None:
    card_id, _ = make_card(printed=True)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        number = card.number
    key = partner()
    right = _post(
        client, key, {"card_number": f"{number[:4]} {number[4:]}", "date_of_birth": "1988-02-29"}
    )
    assert right.json["result"] == "valid"
    wrong_dob = _post(client, key, {"card_number": number, "date_of_birth": "1988-03-01"})
    unknown = _post(
        client, key, {"card_number": "100000000009"[:11] + "0", "date_of_birth": "1988-02-29"}
    )
    assert wrong_dob.json["result"] == "not_found"
    # A wrong date of birth and a non-existent card are indistinguishable.
    assert unknown.status_code in {200, 422}
    for response in (right, wrong_dob):
        conforms(response)


def test_guessing_a_date_of_birth_for_a_number_is_cut_short(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, partner: Any
) -> None:
    """The revocation list names card numbers: dates of birth must not be found by trying them
    one after another. Misses count per number, across partners; once they are used up even
    the right date is refused (429, audited), while other numbers and QR scans are unaffected."""
    app.config["CARD_NUMBER_MISS_LIMIT"] = "3 per day"
    card_id, _ = make_card(printed=True)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        number = card.number
    first, second = partner(Scope.STATUS), partner(Scope.IDENTITY)
    guesses = [
        _post(client, key, {"card_number": number, "date_of_birth": f"1988-03-0{day}"})
        for key, day in ((first, 1), (second, 2), (first, 3), (second, 4))
    ]
    assert [g.json["result"] for g in guesses[:3]] == ["not_found"] * 3
    assert guesses[3].status_code == 429
    right = _post(client, first, {"card_number": number, "date_of_birth": "1988-02-29"})
    assert right.status_code == 429 and right.json["error"] == "too_many_requests"
    assert "QR" in right.json["message"]
    assert 3600 <= int(right.headers["Retry-After"]) <= 86400
    conforms(right)
    assert _post(client, first, {"qr": _qr(app, keys, card_id)}).json["result"] == "valid"
    unused = next(n for n in iter(new_card_number, None) if n != number)
    other = _post(client, first, {"card_number": unused, "date_of_birth": "1988-02-29"})
    assert other.json["result"] == "not_found"  # another number has its own count
    with app.app_context():
        refused = db.session.scalars(
            select(AuditIntake).where(AuditIntake.action == "verification.refused")
        ).all()
        assert [(r.target_type, r.detail) for r in refused] == [
            ("partner", "too_many_requests"),
            ("partner", "too_many_requests"),
        ]


def test_unprinted_unknown_and_erased_cards(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, partner: Any
) -> None:
    key = partner(Scope.PHOTO)
    card_id, _ = make_card(printed=False)
    qr = _qr(app, keys, card_id)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None and card.status == "pending_print"
        number, applicant_id = card.number, card.applicant_id
    # A card still in the print queue is not out in the world yet.
    assert _post(client, key, {"qr": qr}).json["result"] == "not_found"
    unused = next(n for n in iter(new_card_number, None) if n != number)
    unknown = _post(client, key, {"card_number": unused, "date_of_birth": "1988-02-29"})
    assert unknown.status_code == 200 and unknown.json["result"] == "not_found"
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        card.status = "active"
        erase_applicant(db.session, keys, SYSTEM, applicant_id)
        db.session.commit()
    # The holder's record was erased: the card answers revoked, and nothing about the person.
    erased = _post(client, key, {"qr": qr})
    assert erased.json == {**erased.json, "result": "revoked", "reason": "other"}
    assert not {"holder", "photo", "card"} & set(erased.json)
    conforms(erased)
    # Typed by hand, the number alone proves nothing (the date of birth to match it is gone):
    # any date answers as an unknown number does, so the number cannot be probed.
    for born in ("1988-02-29", "1970-01-01"):
        typed = _post(client, key, {"card_number": number, "date_of_birth": born})
        assert typed.json["result"] == "not_found"
        conforms(typed)
    # Offline verifiers hear the same: the card is on the signed revocation list, as "other".
    listing = client.get("/api/v1/status-list", headers={"Authorization": f"Bearer {key}"})
    offline = offline_check(qr, client.get("/.well-known/jwks.json").json, listing.data)
    assert (offline.result, offline.reason, offline.revocation) == ("revoked", "other", "checked")


@pytest.mark.parametrize(
    "body",
    [
        {"qr": 12},
        {"qr": "x", "extra": 1},
        {"card_number": "123", "date_of_birth": "1990-01-01"},
        {"card_number": "123456789012", "date_of_birth": "1990-02-30"},
    ],
)
def test_the_key_is_checked_before_the_request(client: FlaskClient, body: Any) -> None:
    # Without a valid key nobody learns even whether their request was well formed.
    response = _post(client, "idsys_aaaaaaaa_" + "b" * 43, body)
    assert response.status_code == 401 and response.json["error"] == "invalid_api_key"
    conforms(response)


def test_revoked_expired_and_invalid(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, partner: Any
) -> None:
    card_id, _ = make_card(printed=True)
    qr = _qr(app, keys, card_id)
    key = partner(Scope.IDENTITY)
    tampered = qr[:-3] + ("A" if qr[-3] != "A" else "B") + qr[-2:]
    invalid = _post(client, key, {"qr": tampered})
    assert invalid.json["result"] == "invalid" and invalid.json["reason"] in {
        "bad_signature",
        "malformed",
    }
    assert "holder" not in invalid.json
    garbage = _post(client, key, {"qr": "not a card at all"})
    assert garbage.json == {**garbage.json, "result": "invalid", "reason": "malformed"}
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        card.expires_on = TODAY - timedelta(days=1)
        db.session.commit()
    expired = _post(client, key, {"qr": qr})
    assert expired.json["result"] == "expired"
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        cards.revoke(db.session, keys, SYSTEM, card, cards.RevocationReason.STOLEN)
        db.session.commit()
    revoked = _post(client, key, {"qr": qr})
    assert revoked.json == {**revoked.json, "result": "revoked", "reason": "stolen"}
    assert "holder" not in revoked.json and "card" not in revoked.json
    for response in (invalid, garbage, expired, revoked):
        conforms(response)


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"json": [1, 2]}, 400, "invalid_body"),
        ({"json": {"qr": "x", "extra": 1}}, 400, "unknown_field"),
        ({"json": {}}, 400, "invalid_body"),
        ({"json": {"qr": "x", "card_number": "1"}}, 400, "invalid_body"),
        ({"json": {"qr": 12}}, 422, "invalid_qr"),
        ({"json": {"qr": "x" * 5000}}, 422, "invalid_qr"),
        (
            {"json": {"card_number": "123", "date_of_birth": "1990-01-01"}},
            422,
            "invalid_card_number",
        ),
        (
            {"json": {"card_number": "123456789012", "date_of_birth": "1990-02-30"}},
            422,
            "invalid_date",
        ),
        ({"json": {"card_number": 5, "date_of_birth": None}}, 422, "invalid_body"),
        (
            {"json": {"card_number": "123456789012", "date_of_birth": "1991-W15-5"}},
            422,
            "invalid_date",
        ),
        (
            {"json": {"card_number": " " * 100 + "123456789012", "date_of_birth": "1990-01-01"}},
            422,
            "invalid_card_number",
        ),
        (
            {"data": '{"qr": "x", "qr": "y"}', "content_type": "application/json"},
            400,
            "invalid_json",
        ),
        (
            {"data": "qr=x", "content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        ({"data": "x" * 9000, "content_type": "application/json"}, 413, "body_too_large"),
    ],
)
def test_bad_requests_get_stable_json_errors(
    app: Flask, client: FlaskClient, partner: Any, kwargs: dict[str, Any], status: int, code: str
) -> None:
    key = partner()
    response = client.post(
        "/api/v1/verifications", headers={"Authorization": f"Bearer {key}"}, **kwargs
    )
    assert response.status_code == status
    assert response.json["error"] == code
    conforms(response)
    # Audited as a refusal of this partner's request, with its code (and nothing it sent).
    with app.app_context():
        rows = db.session.scalars(select(AuditIntake)).all()
        assert [(r.action, r.target_type, r.outcome, r.detail) for r in rows] == [
            ("verification.refused", "partner", "denied", code)
        ]


def test_keys_are_checked_and_revocable(
    app: Flask, client: FlaskClient, keys: KeyRing, partner: Any
) -> None:
    key = partner()
    for bad in (None, "nonsense", key[:-1] + ("A" if key[-1] != "A" else "B")):
        response = _post(client, bad, {"qr": "x"})
        assert response.status_code == 401 and response.json["error"] == "invalid_api_key"
        conforms(response)
    assert _post(client, key, {"qr": "x"}).status_code == 200
    with app.app_context():
        # The secret may itself hold "_" (base64url): split as the service does.
        parts = apikeys.split_key(key)
        assert parts is not None
        prefix, secret = parts
        stored = services.key_by_prefix(db.session, prefix)
        assert stored is not None
        assert secret not in stored.digest
        assert stored.digest == apikeys.digest(secret)
        services.revoke_key(db.session, keys, SYSTEM, stored)
        db.session.commit()
    assert _post(client, key, {"qr": "x"}).status_code == 401


def test_a_staff_sign_in_neither_opens_the_api_nor_is_kept_alive_by_it(
    client: FlaskClient, partner: Any, make_user: Any
) -> None:
    """The scanner page may run in a browser that is also signed in as staff."""
    key = partner()
    assert login(client, make_user(Role.CLERK)).status_code == 302
    refused = _post(client, None, {"qr": "x"})
    assert refused.status_code == 401 and refused.json["error"] == "invalid_api_key"
    answered = _post(client, key, {"qr": "x"})
    assert answered.status_code == 200
    # The session's idle clock was not read or moved: no cookie is sent back.
    assert "Set-Cookie" not in answered.headers and "Set-Cookie" not in refused.headers


def test_disabled_partner_gets_403(
    app: Flask, client: FlaskClient, keys: KeyRing, partner: Any
) -> None:
    key = partner()
    with app.app_context():
        stored = services.key_by_prefix(db.session, key.split("_")[1])
        assert stored is not None
        services.set_enabled(db.session, keys, SYSTEM, stored.partner, False)
        db.session.commit()
    response = _post(client, key, {"qr": "x"})
    assert response.status_code == 403 and response.json["error"] == "partner_disabled"
    conforms(response)


def test_daily_quota(client: FlaskClient, partner: Any) -> None:
    key = partner(quota=3)
    codes = [_post(client, key, {"qr": "x"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    last = _post(client, key, {"qr": "x"})
    assert last.json["error"] == "daily_quota_exceeded"
    # Until the city's next midnight: at most a day, at least a second.
    assert 1 <= int(last.headers["Retry-After"]) <= 25 * 3600
    conforms(last)


def test_rate_limit_per_key(app_factory: Any, keys: KeyRing) -> None:
    app = app_factory(PARTNER_RATE_LIMIT="2 per minute")
    with app.app_context():
        key = register_partner(keys, name="Bank", kind=PartnerKind.BANK)
    client = app.test_client()
    codes = [_post(client, key, {"qr": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = _post(client, key, {"qr": "x"})
    assert response.is_json and response.json["error"] == "too_many_requests"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "X-RateLimit-Remaining" not in response.headers  # one storage call per request
    conforms(response)
    # The status list has the same limit, counted on its own: checks did not use it up.
    headers = {"Authorization": f"Bearer {key}"}
    lists = [client.get("/api/v1/status-list", headers=headers) for _ in range(3)]
    assert [r.status_code for r in lists] == [200, 200, 429]
    assert 1 <= int(lists[-1].headers["Retry-After"]) <= 60
    conforms(lists[-1], "/api/v1/status-list", "get")


def test_wrong_secrets_under_a_partners_prefix_do_not_use_up_its_limit(
    app_factory: Any, keys: KeyRing
) -> None:
    """The prefix is public (audit rows, admin pages): a stranger sending made-up secrets under
    it has a limit of its own, and the partner's key keeps its whole allowance."""
    app = app_factory(PARTNER_RATE_LIMIT="3 per minute")
    with app.app_context():
        key = register_partner(keys, name="Bank", kind=PartnerKind.BANK)
    forged = f"idsys_{key.split('_')[1]}_" + "c" * 43
    client = app.test_client()
    stranger = [_post(client, forged, {"qr": "x"}).status_code for _ in range(4)]
    assert stranger == [401, 401, 401, 429]
    assert [_post(client, key, {"qr": "x"}).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_made_up_keys_are_limited_per_address(app_factory: Any) -> None:
    """Each made-up key would have a fresh bucket of its own: refusals for a bad key also count
    per address, and past that limit nothing more is read or audited."""
    limited = app_factory(PARTNER_KEY_FAILURE_LIMIT="5 per minute")
    client = limited.test_client()
    codes = []
    for number in range(8):
        made_up = f"idsys_{number:08d}_" + "b" * 43
        codes.append(_post(client, made_up, {"qr": "x"}))
    assert [r.status_code for r in codes] == [401] * 5 + [429] * 3
    assert codes[-1].json["error"] == "too_many_requests"
    assert 1 <= int(codes[-1].headers["Retry-After"]) <= 60
    conforms(codes[-1])
    # Another address is not affected.
    other = _post(client, "idsys_99999999_" + "b" * 43, {"qr": "x"},
                  environ_base={"REMOTE_ADDR": "198.51.100.7"})  # fmt: skip
    assert other.status_code == 401
    with limited.app_context():
        rows = db.session.scalars(select(AuditIntake)).all()
        assert [r.detail for r in rows] == ["invalid_api_key"] * 6


def test_every_call_is_audited_without_the_qr_text(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, partner: Any
) -> None:
    card_id, _ = make_card(printed=True)
    qr = _qr(app, keys, card_id)
    _post(client, partner(Scope.PHOTO), {"qr": qr})
    _post(client, "idsys_aaaaaaaa_" + "b" * 43, {"qr": qr})
    with app.app_context():
        pending = db.session.scalars(select(AuditIntake)).all()
        assert [(r.action, r.target_id) for r in pending] == [
            ("verification.check", str(card_id)),
            ("verification.refused", None),
        ]
        assert seal_all(db.session, keys) == 2
        assert db.session.scalars(select(AuditIntake)).all() == []
        assert verify_chain(db.session, keys).ok
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("verification.%"))
            .order_by(AuditEvent.seq)
        ).all()
        assert [(e.action, e.target_id, e.outcome) for e in events] == [
            ("verification.check", str(card_id), "success"),
            ("verification.refused", None, "denied"),
        ]
        assert events[0].detail is not None and events[0].detail.endswith(";valid")
        dump = repr(db.session.execute(text("SELECT * FROM audit_events")).all())
    assert qr[:20] not in dump and "Minh Khai" not in dump


def test_status_list_and_offline_check(
    app: Flask, client: FlaskClient, keys: KeyRing, make_card: Any, partner: Any
) -> None:
    card_id, _ = make_card(printed=True)
    qr = _qr(app, keys, card_id)
    with app.app_context():
        card = db.session.get(Card, card_id)
        assert card is not None
        cards.revoke(db.session, keys, SYSTEM, card, cards.RevocationReason.FRAUD)
        db.session.commit()
    key = partner()
    assert client.get("/api/v1/status-list").status_code == 401
    response = client.get("/api/v1/status-list", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/cose")
    jwks = client.get("/.well-known/jwks.json").json
    from idsys.crypto.jwk import parse_jwk_set

    listing = verify_status_list(response.data, parse_jwk_set(jwks))
    assert listing.sequence == 1 and len(listing) == 1
    result = offline_check(qr, jwks, response.data)
    assert result.result == "revoked" and result.reason == "other"  # fraud shows as "other"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    # Signed afresh (issue time) on every request: no validator could stand for its bytes.
    assert "ETag" not in response.headers
    key_set = client.get("/.well-known/jwks.json")
    assert key_set.headers["Cache-Control"] == "public, max-age=3600"
    assert key_set.headers["Access-Control-Allow-Origin"] == "*"
    # Both fetches are audited: the refused one, and which list the partner was given.
    with app.app_context():
        rows = db.session.scalars(select(AuditIntake).order_by(AuditIntake.id)).all()
        assert [(r.action, r.target_type, r.detail) for r in rows] == [
            ("verification.refused", None, "invalid_api_key"),
            ("verification.status_list", "partner", "sequence=1"),
        ]


def test_a_method_not_allowed_names_the_allowed_ones(client: FlaskClient) -> None:
    for method, path, allowed in (
        ("put", "/api/v1/verifications", "POST"),
        ("delete", "/api/v1/status-list", "GET"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 405 and response.json["error"] == "not_allowed"
        assert allowed in response.headers["Allow"].split(", ")


def test_openapi_is_served_and_covers_every_api_route(app: Flask, client: FlaskClient) -> None:
    served = client.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json == OPENAPI
    assert OPENAPI["openapi"].startswith("3.1")
    routes = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/.well-known/"))
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in OPENAPI["paths"].items() for method in ops}
    assert routes == documented
    Draft202012Validator.check_schema(OPENAPI["components"]["schemas"]["VerificationResult"])


def test_partner_admin_pages(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    from tests.conftest import csrf_token

    signed_in(Role.ADMIN)
    token = csrf_token(client, "/admin/partners/new")
    page = client.post(
        "/admin/partners/new",
        data={
            "csrf_token": token,
            "name": "Queens Public Library",
            "kind": "library",
            "contact": "circulation",
            "scope": "status",
            "daily_quota": "2000",
        },
    )
    body = page.get_data(as_text=True)
    assert "shown only once" in body and "idsys_" in body
    bad = client.post(
        "/admin/partners/new",
        data={
            "csrf_token": token,
            "name": "X",
            "kind": "library",
            "scope": "everything",
            "daily_quota": "-5",
        },
    )
    assert bad.status_code == 400
    listing = client.get("/admin/partners/").get_data(as_text=True)
    assert "Queens Public Library" in listing
