"""Residents' pages (public: status, pre-application, slip) and the counter's claim of a code.

Public pages say nothing about anyone beyond what the visitor typed: the status page answers a
miss of any kind with one generic message, and the slip is shown only to the browser that
filled in the pre-application (its code is kept in that browser's signed session).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import qrcode
import qrcode.image.svg
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from idsys.applications.forms import ConfirmActionForm, profile_from_form
from idsys.applications.profile import (
    InvalidProfile,
)
from idsys.applications.reference import InvalidReference
from idsys.applications.reference import display as display_reference
from idsys.applications.reference import normalise as normalise_reference
from idsys.auth.access import public, roles_required
from idsys.auth.models import Role
from idsys.auth.services import actor_of
from idsys.db import db
from idsys.extensions import keyring, limiter, policy
from idsys.i18n import missing_catalogues
from idsys.policy import Category, DocumentType, Policy, local_date
from idsys.residents import services
from idsys.residents.forms import (
    ClaimForm,
    PreApplicationCodeForm,
    PreApplicationForm,
    StatusForm,
)

bp = Blueprint("residents", __name__, template_folder="templates")
counter_bp = Blueprint(
    "pre_applications", __name__, url_prefix="/intake/pre-applications", template_folder="templates"
)

COUNTER = (Role.CLERK, Role.SUPERVISOR)
SLIP_KEY = "pre_application_code"
# Defaults; each can be changed in the app configuration (tests use small numbers).
STATUS_LIMIT_PER_CLIENT = "20 per minute"
STATUS_LIMIT_PER_REFERENCE = "10 per hour"  # failed look-ups only: guessing a date of birth
PRE_APPLICATION_LIMIT = "10 per hour"  # pre-applications made from one address
# Where each profile rule's message is shown.
PROFILE_FIELD = {"address": "line1", "languages": "language1"}


@bp.record_once
def _check_catalogues(state: Any) -> None:
    """Compiled catalogues are a build step: production refuses to start without them rather
    than quietly show residents English; development warns."""
    from idsys import StartupError

    missing = missing_catalogues(tuple(state.app.config["LANGUAGES"]))
    if not missing:
        return
    problem = (
        f"the translation catalogues are not compiled ({', '.join(missing)}): run "
        "`make translations` (or `pybabel compile -d idsys/translations`)"
    )
    if state.app.config.get("ENV_NAME") == "production":
        raise StartupError(f"idsys will not start: {problem}.")
    state.app.logger.warning("%s; pages will be shown in English.", problem)


def _language() -> str:
    return str(get_locale() or "en")


def _today() -> date:
    return local_date(policy(), datetime.now(UTC))


def _qr_svg(text: str) -> Markup:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return Markup(svg)  # noqa: S704  (drawn by qrcode from our own code, no user markup)


def _config_limit(name: str, default: str) -> str:
    return str(current_app.config.get(name) or default)


def _status_limit_per_client() -> str:
    return _config_limit("RESIDENT_STATUS_LIMIT_PER_CLIENT", STATUS_LIMIT_PER_CLIENT)


def _status_limit_per_reference() -> str:
    return _config_limit("RESIDENT_STATUS_LIMIT_PER_REFERENCE", STATUS_LIMIT_PER_REFERENCE)


def _pre_application_limit() -> str:
    return _config_limit("RESIDENT_PRE_APPLICATION_LIMIT", PRE_APPLICATION_LIMIT)


def _reference_key() -> str:
    """The rate-limit key of the reference typed: guesses at one person's date of birth from
    many addresses still meet one limit."""
    try:
        return "status-reference:" + normalise_reference(request.form.get("reference", ""))
    except InvalidReference:
        return "status-reference:malformed"  # never counted: no look-up happens


def _missed(response: Response) -> bool:
    return bool(g.get("status_missed"))


def _created(response: Response) -> bool:
    return response.status_code == 302


def _documents_by_category(rules: Policy) -> dict[str, list[DocumentType]]:
    """Identity documents first (a document proving both is listed there), then residence."""
    groups: dict[str, list[DocumentType]] = {"identity": [], "residency": []}
    for document in rules.documents:
        key = "residency" if document.category is Category.RESIDENCY else "identity"
        groups[key].append(document)
    return groups


def _document_notes(rules: Policy, document: DocumentType) -> str:
    """What one document gives and needs, as the resident's checklist shows it."""
    notes = []
    if document.identity_points:
        notes.append(
            ngettext("%(num)d identity point", "%(num)d identity points", document.identity_points)
        )
    if document.residency_points:
        notes.append(
            ngettext(
                "%(num)d residence point", "%(num)d residence points", document.residency_points
            )
        )
    if rules.requirements.photo_document and document.shows_photo:
        notes.append(_("shows your photo"))
    if rules.requirements.date_of_birth_document and document.shows_date_of_birth:
        notes.append(_("shows your date of birth"))
    if document.expiry_date_required:
        notes.append(_("must not be expired"))
    if document.recency_window_days:
        notes.append(
            ngettext(
                "at most %(num)d day old", "at most %(num)d days old", document.recency_window_days
            )
        )
    if document.covers_all_when_address_matches:
        notes.append(_("enough on its own if it shows your address in the city"))
    return " · ".join(notes)


def _pickup(rules: Policy, language: str) -> tuple[str, str] | None:
    if rules.pickup is None:
        return None
    return rules.pickup.place.get(language), rules.pickup.hours.get(language)


# -- public pages --------------------------------------------------------------------------------


@bp.get("/start")
@public
def start() -> Any:
    return render_template("residents/start.html", programme=policy().name(_language()))


@bp.route("/status", methods=["GET", "POST"])
@limiter.limit(_status_limit_per_client, methods=["POST"])
@limiter.limit(
    _status_limit_per_reference, key_func=_reference_key, methods=["POST"], deduct_when=_missed
)
@public
def status() -> Any:
    form = StatusForm()
    answer = None
    missed = False
    code = 200
    if form.validate_on_submit():
        answer = services.look_up_status(
            db.session,
            keyring(),
            policy(),
            form.reference.data or "",
            form.date_of_birth.data or date.min,
        )
        db.session.commit()  # the audit row, hit or miss
        missed = answer is None
        g.status_missed = missed
    elif request.method == "POST":
        code = 400
    language = _language()
    return render_template(
        "residents/status.html",
        form=form,
        answer=answer,
        missed=missed,
        programme=policy().name(language),
        pickup=_pickup(policy(), language),
    ), code


@bp.route("/apply", methods=["GET", "POST"])
@limiter.limit(_pre_application_limit, methods=["POST"], deduct_when=_created)
@public
def apply() -> Any:
    rules, language = policy(), _language()
    form = PreApplicationForm()
    form.documents.choices = [(d.code, d.label(language)) for d in rules.documents]
    code = 200
    if form.validate_on_submit():
        data = services.PreApplicationData(
            profile=profile_from_form(form),
            has_caretaker=bool(form.has_caretaker.data),
            documents=tuple(form.documents.data or ()),
        )
        try:
            row = services.create_pre_application(
                db.session, keyring(), rules, data, today=_today()
            )
        except InvalidProfile as exc:
            db.session.rollback()
            for key, message in exc.messages(_).items():
                getattr(form, PROFILE_FIELD.get(key, key)).errors.append(message)
        except services.ResidentError:
            db.session.rollback()
            form.documents.errors.append(_("Choose documents from the list."))
        else:
            db.session.commit()
            session[SLIP_KEY] = row.code
            return redirect(url_for("residents.slip"))
    if request.method == "POST":
        code = 400
    return render_template(
        "residents/apply.html",
        form=form,
        groups=_documents_by_category(rules),
        boxes={option.data: option for option in form.documents},
        notes={d.code: _document_notes(rules, d) for d in rules.documents},
        requirements=rules.requirements,
        caretaker_below=rules.age.caretaker_required_below,
        programme=rules.name(language),
        days=rules.pre_application_days,
    ), code


@bp.get("/apply/slip")
@public
def slip() -> Any:
    code = session.get(SLIP_KEY)
    if not isinstance(code, str):
        return redirect(url_for("residents.apply"))
    rules, language = policy(), _language()
    try:
        row = services.find_pre_application(db.session, rules, code, today=_today())
    except (InvalidReference, services.PreApplicationNotFound):
        session.pop(SLIP_KEY, None)
        flash(_("This pre-application was used at the counter or has expired."), "info")
        return redirect(url_for("residents.apply"))
    data = services.read_pre_application(keyring(), row)
    shown = display_reference(row.code)
    documents = [d for c in data.documents if (d := rules.document(c)) is not None]
    return render_template(
        "residents/slip.html",
        code=shown,
        qr=_qr_svg(shown),
        expires=services.expires_on(rules, row.created_at),
        documents=documents,
        summary=services.plan_summary(rules, data.documents),
        programme=rules.name(language),
        pickup=_pickup(rules, language),
        language=language,
        finish=ConfirmActionForm(),
    )


@bp.post("/apply/finish")
@public
def finish() -> Any:
    """Forget the slip in this browser: on a shared computer the next person must not see it."""
    if ConfirmActionForm().validate_on_submit():
        session.pop(SLIP_KEY, None)
        flash(_("Done. This browser no longer shows your pre-application."), "success")
    return redirect(url_for("residents.start"))


# -- the counter -------------------------------------------------------------------------------


def _not_found_message() -> str:
    return str(
        _(
            "No pre-application has this code: it was already used at the counter or has "
            "expired. Take the application in the usual way."
        )
    )


@counter_bp.get("/")
@roles_required(*COUNTER)
def find() -> Any:
    form = PreApplicationCodeForm(request.args)
    rules, language = policy(), _language()
    found = None
    code = 200
    if "code" in request.args:
        if form.validate():
            try:
                row, data = services.open_pre_application(
                    db.session,
                    keyring(),
                    actor_of(current_user),
                    rules,
                    form.code.data or "",
                    today=_today(),
                )
            except services.PreApplicationNotFound:
                form.code.errors = [_not_found_message()]
                code = 404
            else:
                db.session.commit()  # the audit row: a clerk read someone's details
                found = {
                    "code": display_reference(row.code),
                    "data": data,
                    "documents": [
                        d.label(language) for c in data.documents if (d := rules.document(c))
                    ],
                    "expires": services.expires_on(rules, row.created_at),
                }
        else:
            code = 400
    return render_template(
        "residents/counter_find.html",
        form=form,
        found=found,
        claim=ClaimForm(code=found["code"]) if found else None,
    ), code


@counter_bp.post("/claim")
@roles_required(*COUNTER)
def claim() -> Any:
    form = ClaimForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Enter the code again."), "error")
        return redirect(url_for("pre_applications.find"))
    rules, language = policy(), _language()
    try:
        application, data = services.claim_pre_application(
            db.session,
            keyring(),
            actor_of(current_user),
            rules,
            form.code.data or "",
            today=_today(),
        )
    except (InvalidReference, services.PreApplicationNotFound):
        db.session.rollback()
        flash(_not_found_message(), "error")
        return redirect(url_for("pre_applications.find"))
    except InvalidProfile:
        db.session.rollback()
        flash(
            _("The details in this pre-application are no longer valid. Enter them again."), "error"
        )
        return redirect(url_for("pre_applications.find"))
    db.session.commit()
    planned = [(c, d.label(language) if (d := rules.document(c)) else c) for c in data.documents]
    return render_template(
        "residents/claimed.html",
        application=application,
        ref=display_reference(application.reference),
        planned=planned,
    )
