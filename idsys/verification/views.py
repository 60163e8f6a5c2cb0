"""The partner API (JSON, API keys), its OpenAPI document, the scanner page and partner admin."""

from __future__ import annotations

import json
import re
import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from limits import RateLimitItem
from limits import parse as parse_limit

from idsys.auth.access import api_key_required, public, roles_required
from idsys.auth.models import Role
from idsys.auth.services import actor_of
from idsys.cards.numbers import normalise as normalise_card_number
from idsys.crypto import apikeys
from idsys.db import db
from idsys.extensions import client_address, csrf, keyring, limiter, policy
from idsys.policy import local_date
from idsys.verification import services
from idsys.verification.forms import (
    AccessForm,
    KeyActionForm,
    KeyIssueForm,
    PartnerEditForm,
    PartnerForm,
)
from idsys.verification.models import Partner, PartnerKind, Scope
from idsys.web import retry_later

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
scanner_bp = Blueprint("scanner", __name__, template_folder="templates")
admin_bp = Blueprint(
    "partners", __name__, url_prefix="/admin/partners", template_folder="templates"
)
csrf.exempt(api_bp)  # authenticated by API key in a header, never by a cookie

OPENAPI = Path(__file__).with_name("openapi.json")
MAX_BODY = 8 * 1024
BODY_FIELDS = {"qr", "card_number", "date_of_birth"}
Rejected = services.RequestRejected
CARD_NUMBER_TEXT = re.compile(r"[0-9 -]{12,20}")  # as the OpenAPI document's pattern
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NUMBER_LOCKED = (
    "Too many checks of this card number with a date of birth that did not match. Scan the "
    "card's QR code instead, or try again later."
)


def api_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": code, "message": message})
    response.status_code = status
    return response


def _api_key() -> str | None:
    """The bearer token, the only way the OpenAPI document describes to send a key."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _limit_key() -> str:
    """Rate limits count per API key as presented (its prefix and a digest of its secret, so that
    wrong secrets sent under a partner's public prefix do not use up that partner's limit), or
    per address without a well-formed key."""
    parts = apikeys.split_key(_api_key() or "")
    if parts is None:
        return f"ip:{client_address()}"
    return f"key:{parts[0]}:{apikeys.digest(parts[1])[:16]}"


@lru_cache(maxsize=8)
def _parsed_limit(text: str) -> RateLimitItem:
    return parse_limit(text)


def _limit_reset(setting: str, *identity: str, count: bool = True) -> int | None:
    """Count this request against the limit in config ``setting`` for ``identity`` (with
    ``count=False`` only look whether it is used up), through Flask-Limiter's own storage and
    strategy; None while within it, else the seconds until it admits a request again. For the
    limits that depend on what the view found, which a decorator cannot know in advance."""
    limit = _parsed_limit(current_app.config[setting])
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    identifiers = [*([prefix] if prefix else []), *identity]
    strategy = limiter.limiter
    if (strategy.hit if count else strategy.test)(limit, *identifiers):
        return None
    reset_at = strategy.get_window_stats(limit, *identifiers).reset_time
    return max(1, int(reset_at - clock.time()))


def _limited_per_key(view: Callable[[], Any]) -> Callable[[], Any]:
    """Count each request against its key's limit (PARTNER_RATE_LIMIT, one bucket per key and
    route) before the view runs; a 429 with Retry-After once it is used up.

    Through Flask-Limiter's own strategy and storage, as its decorator would, but not through
    that decorator: it resolves the route's limits afresh on every request, which cost a
    partner API call as much CPU as its Redis round trip (bench/README.md).
    """

    @wraps(view)
    def limited() -> Any:
        wait = _limit_reset("PARTNER_RATE_LIMIT", _limit_key(), str(request.endpoint))
        return view() if wait is None else retry_later(429, wait)

    return limited


def _today() -> date:
    return local_date(policy(), datetime.now(UTC))


def _seconds_to_midnight() -> int:
    """Until the daily quotas start again: midnight on the city's clock."""
    now = datetime.now(UTC).astimezone(policy().tzinfo)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), now.tzinfo)
    return max(1, int((midnight - now).total_seconds()))


def _parse_body() -> dict[str, Any] | Rejected:
    too_large = Rejected(413, "body_too_large", f"The request body is limited to {MAX_BODY} bytes.")
    if (request.content_length or 0) > MAX_BODY:
        return too_large
    if request.mimetype != "application/json":
        return Rejected(415, "unsupported_media_type", "Send the request as application/json.")
    raw = request.stream.read(MAX_BODY + 1)  # a chunked body has no length to refuse early
    if len(raw) > MAX_BODY:
        return too_large
    try:
        body = json.loads(raw, object_pairs_hook=_without_repeated_names)
    except (ValueError, RecursionError):
        return Rejected(400, "invalid_json", "The request body is not valid JSON (each name once).")
    if not isinstance(body, dict):
        return Rejected(400, "invalid_body", "The request body must be a JSON object.")
    unknown = set(body) - BODY_FIELDS
    if unknown:
        return Rejected(400, "unknown_field", "Unknown field: " + ", ".join(sorted(unknown))[:80])
    has_qr = "qr" in body
    has_number = "card_number" in body or "date_of_birth" in body
    if has_qr == has_number:
        return Rejected(400, "invalid_body", "Send either qr, or card_number and date_of_birth.")
    return body


def _without_repeated_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are unique: with a name twice, the two readers of one request
    (a proxy that checks it, and this API) could each take a different value."""
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ValueError("a name appears twice")
    return body


def _validate(
    body: dict[str, Any],
) -> services.QrCheck | services.NumberCheck | Rejected:
    """What to check; 422 for values of the wrong shape."""
    if "qr" in body:
        qr = body["qr"]
        if not isinstance(qr, str) or not qr.strip() or len(qr) > 4096:
            return Rejected(422, "invalid_qr", "qr must be the scanned text (1 to 4096 chars).")
        return services.QrCheck(qr)
    number, born = body.get("card_number"), body.get("date_of_birth")
    if not isinstance(number, str) or not isinstance(born, str):
        return Rejected(422, "invalid_body", "card_number and date_of_birth must be strings.")
    if not CARD_NUMBER_TEXT.fullmatch(number):
        return Rejected(
            422, "invalid_card_number", "card_number must be 12 digits (spaces allowed)."
        )
    try:
        # fromisoformat alone would also take week dates and other ISO forms.
        birth = date.fromisoformat(born) if ISO_DATE.fullmatch(born) else None
    except ValueError:
        birth = None
    if birth is None:
        return Rejected(422, "invalid_date", "date_of_birth must be a date as YYYY-MM-DD.")
    return services.NumberCheck(number, birth)


def _refuse(exc: services.PartnerError) -> Response:
    """Roll back whatever the request did, audit the refusal (with the partner, when the key was
    good), answer with its JSON error. Past the address's limit of refused keys the answer is a
    429, not audited, as any rate-limited request."""
    session = db.session
    session.rollback()
    if isinstance(exc, services.AuthFailed):
        # Made-up keys would each get a fresh per-key bucket, and every refusal is audited: they
        # count per address too, and past that limit are answered as rate-limited, unaudited.
        wait = _limit_reset("PARTNER_KEY_FAILURE_LIMIT", "partner-key-failures", client_address())
        if wait is not None:
            return retry_later(429, wait)
    services.audit_refusal(session, keyring(), exc.partner, exc.code)
    session.commit()
    return api_error(exc.status, exc.code, str(exc))


@api_bp.post("/verifications")
@api_key_required
@_limited_per_key
def verifications() -> Any:
    """Verify a scanned QR, or a card number with the holder's date of birth."""
    session, keys = db.session, keyring()
    body = _parse_body()
    check = body if isinstance(body, Rejected) else _validate(body)
    if isinstance(check, Rejected):
        # A malformed request is answered only to a partner: the key is checked first.
        try:
            check.partner = services.authenticate(session, _api_key())
        except services.PartnerError as exc:
            return _refuse(exc)
        return _refuse(check)
    today = _today()
    try:
        partner, outcome = services.verify(session, keys, _api_key(), check, today=today)
    except services.PartnerError as exc:
        return _refuse(exc)
    if isinstance(check, services.NumberCheck):
        # Guessing a holder's date of birth for a known number (the revocation list names
        # numbers): misses count per number, across partners, and once they are used up even
        # the right date is refused until the window passes.
        wait = _limit_reset(
            "CARD_NUMBER_MISS_LIMIT",
            "card-number-misses",
            normalise_card_number(check.number),
            count=outcome.result == "not_found",
        )
        if wait is not None:
            refused = _refuse(Rejected(429, "too_many_requests", NUMBER_LOCKED, partner))
            refused.headers["Retry-After"] = str(wait)
            return refused
    try:
        services.record_check(session, keys, partner, outcome, today)
    except services.QuotaExceeded as exc:
        exc.partner = partner
        refused = _refuse(exc)
        refused.headers["Retry-After"] = str(_seconds_to_midnight())
        return refused
    body_out = outcome.as_json()
    body_out["checked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return jsonify(body_out)


@api_bp.get("/status-list")
@api_key_required
@_limited_per_key
def status_list() -> Any:
    """The signed list of revoked cards, for verifiers that work offline between syncs."""
    session, keys = db.session, keyring()
    try:
        partner = services.authenticate(session, _api_key())
    except services.PartnerError as exc:
        return _refuse(exc)
    data, sequence = services.status_list(
        session, keys, issuer=current_app.config["ISSUER"], today=_today()
    )
    services.audit_status_list(session, keys, partner, sequence)
    session.commit()
    response = Response(data, mimetype="application/cose")
    response.headers["Content-Type"] = 'application/cose; cose-type="cose-sign1"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@api_bp.get("/openapi.json")
@public
def openapi() -> Any:
    return Response(OPENAPI.read_bytes(), mimetype="application/json")


@scanner_bp.get("/scan")
@public  # the page holds no data; it calls the API with the partner's key
def scan() -> Any:
    return render_template("verification/scan.html")


# -- admin ------------------------------------------------------------------------------------


def _partner_or_404(partner_id: int) -> Partner:
    partner = services.get_partner(db.session, partner_id)
    if partner is None:
        abort(404)
    return partner


def _message(exc: services.PartnerError) -> str:
    """An error for the admin's page, in the page's language."""
    return str(_(exc.message, **exc.params))


@admin_bp.get("/")
@roles_required(Role.ADMIN)
def partner_list() -> Any:
    today = _today()
    live = services.live_key_counts(db.session)
    rows = [
        (p, services.usage_today(db.session, p, today), live.get(p.id, 0))
        for p in services.list_partners(db.session)
    ]
    return render_template("verification/partners.html", rows=rows)


@admin_bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def partner_create() -> Any:
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            partner, key = services.create_partner(
                db.session,
                keyring(),
                actor_of(current_user),
                name=form.name.data or "",
                kind=PartnerKind(form.kind.data),
                contact=form.contact.data or "",
                scope=Scope(form.scope.data),
                daily_quota=form.daily_quota.data or 0,
            )
        except services.PartnerError as exc:
            db.session.rollback()
            form.name.errors.append(_message(exc))
        else:
            db.session.commit()
            return render_template("verification/key.html", partner=partner, key=key)
    return render_template("verification/partner_new.html", form=form), (
        400 if form.errors else 200
    )


@admin_bp.route("/<int:partner_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def partner_detail(partner_id: int) -> Any:
    partner = _partner_or_404(partner_id)
    form = PartnerEditForm(obj=partner)
    if form.validate_on_submit():
        try:
            changed = services.update_partner(
                db.session,
                keyring(),
                actor_of(current_user),
                partner,
                scope=Scope(form.scope.data),
                daily_quota=form.daily_quota.data or 0,
                contact=form.contact.data or "",
            )
        except services.PartnerError as exc:
            db.session.rollback()
            form.daily_quota.errors.append(_message(exc))
        else:
            db.session.commit()
            if changed:
                flash(_("Partner saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("partners.partner_detail", partner_id=partner.id))
    issue = KeyIssueForm(newest_key=services.newest_key_id(db.session, partner))
    return render_template(
        "verification/partner.html",
        partner=partner,
        form=form,
        issue=issue,
        max_live_keys=services.MAX_LIVE_KEYS,
        usage=services.usage_today(db.session, partner, _today()),
    ), (400 if form.errors else 200)


@admin_bp.post("/<int:partner_id>/keys")
@roles_required(Role.ADMIN)
def key_issue(partner_id: int) -> Any:
    partner = _partner_or_404(partner_id)
    form = KeyIssueForm()
    if not form.validate_on_submit():
        # Not sent from the partner's page as drawn (its key state is missing or altered).
        flash(
            _("Nothing was issued: open the partner's page again and issue the key there."), "error"
        )
        return redirect(url_for("partners.partner_detail", partner_id=partner.id))
    try:
        key = services.issue_key(
            db.session,
            keyring(),
            actor_of(current_user),
            partner,
            newest_seen=form.newest_key.data,
        )
    except services.PartnerError as exc:
        db.session.rollback()
        flash(_message(exc), "error")
        return redirect(url_for("partners.partner_detail", partner_id=partner.id))
    db.session.commit()
    return render_template("verification/key.html", partner=partner, key=key)


@admin_bp.route("/<int:partner_id>/keys/<prefix>/revoke", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def key_revoke(partner_id: int, prefix: str) -> Any:
    partner = _partner_or_404(partner_id)
    key = services.key_by_prefix(db.session, prefix)
    if key is None or key.partner_id != partner.id:
        abort(404)
    form = KeyActionForm()
    if form.validate_on_submit():
        try:
            services.revoke_key(db.session, keyring(), actor_of(current_user), key)
        except services.KeyAlreadyRevoked as exc:
            db.session.rollback()
            flash(_message(exc), "info")
        else:
            db.session.commit()
            flash(_("Key %(prefix)s revoked: it stops working at once.", prefix=prefix), "success")
        return redirect(url_for("partners.partner_detail", partner_id=partner.id))
    return render_template(
        "verification/revoke.html",
        partner=partner,
        key=key,
        form=form,
        last=services.is_last_live_key(db.session, key),
    )


@admin_bp.route("/<int:partner_id>/access", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def partner_access(partner_id: int) -> Any:
    """Enable or disable a partner's access, after a confirmation page. The page offers the
    opposite of the current state; the form names the state it asks for, so that sending it
    twice (or after someone else's change) never switches back."""
    partner = _partner_or_404(partner_id)
    form = AccessForm(target="disabled" if partner.is_enabled else "enabled")
    if form.validate_on_submit():
        enable = form.target.data == "enabled"
        changed = services.set_enabled(
            db.session, keyring(), actor_of(current_user), partner, enable
        )
        db.session.commit()
        if not changed:
            flash(
                _("This partner's access was already enabled; nothing was changed.")
                if enable
                else _("This partner's access was already disabled; nothing was changed."),
                "info",
            )
        elif enable:
            flash(_("Access enabled: the partner's live keys work again."), "success")
        else:
            flash(
                _("Access disabled: every request with this partner's keys is refused."),
                "success",
            )
        return redirect(url_for("partners.partner_detail", partner_id=partner.id))
    return render_template(
        "verification/partner_access.html",
        partner=partner,
        form=form,
        enable=not partner.is_enabled,
    ), (400 if form.errors else 200)
