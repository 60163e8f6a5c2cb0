"""Counter intake (clerks), the review queue (supervisors) and erasure (admins).

Intake is one screen per step: details, documents, photo, review. Each step saves what it has, so
going back and forth loses nothing; the evaluation is recomputed from the stored documents.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from idsys.applications import services
from idsys.applications.forms import (
    ApplicantLookupForm,
    ConfirmActionForm,
    DecisionForm,
    DocumentForm,
    EraseForm,
    FindForm,
    PhotoForm,
    ProfileForm,
    StartForm,
    SubmitForm,
    profile_from_form,
)
from idsys.applications.models import (
    Applicant,
    Application,
    ApplicationKind,
    ApplicationStatus,
)
from idsys.applications.photos import PhotoError
from idsys.applications.profile import ApplicantProfile, InvalidProfile
from idsys.applications.reference import InvalidReference
from idsys.applications.reference import display as display_reference
from idsys.auth.access import roles_required
from idsys.auth.models import Role
from idsys.auth.services import actor_of
from idsys.cards.fonts import unsupported_characters
from idsys.cards.pdf import name_fits
from idsys.crypto import random_token
from idsys.db import db
from idsys.extensions import keyring, policy
from idsys.i18n import N_
from idsys.policy import PresentedDocument, local_date

bp = Blueprint(
    "applicants_admin", __name__, url_prefix="/admin/applicants", template_folder="templates"
)
intake_bp = Blueprint("intake", __name__, url_prefix="/intake", template_folder="templates")
review_bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")

COUNTER = (Role.CLERK, Role.SUPERVISOR)
STEPS = (
    ("intake.profile", N_("Details")),
    ("intake.documents", N_("Documents")),
    ("intake.photo", N_("Photo")),
    ("intake.review", N_("Review and submit")),
)
# Where each profile rule's message is shown.
PROFILE_FIELD = {"address": "line1", "languages": "language1"}


def _today() -> date:
    return local_date(policy(), datetime.now(UTC))


def _language() -> str:
    return str(get_locale() or "en")


def _load(reference: str) -> Application:
    try:
        return services.get_application(db.session, reference)
    except (InvalidReference, services.ApplicationNotFound):
        abort(404)


def _load_with_applicant(reference: str) -> tuple[Application, Applicant | None]:
    application = _load(reference)
    return application, services.applicant_of(db.session, application)


def _details_first(application: Application) -> Any:
    """Steps after the first need the applicant: send the clerk back to the details."""
    flash(_("Enter the applicant's details first."), "info")
    return redirect(url_for("intake.profile", reference=application.reference))


def _context(application: Application, step: str) -> dict[str, Any]:
    return {
        "application": application,
        "ref": display_reference(application.reference),
        "steps": STEPS,
        "step": step,
        "editable": application.status == "draft",
    }


# -- admin: erasure ----------------------------------------------------------------------------


@bp.route("/erase", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def erase_lookup() -> Any:
    form = ApplicantLookupForm()
    if form.validate_on_submit():
        try:
            applicant = services.get_applicant(db.session, (form.applicant_id.data or "").strip())
        except services.ApplicantNotFound as exc:
            form.applicant_id.errors.append(str(exc))
        else:
            return redirect(url_for("applicants_admin.erase", applicant_id=applicant.id))
    return render_template("applications/erase_lookup.html", form=form)


@bp.route("/<uuid:applicant_id>/erase", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def erase(applicant_id: uuid.UUID) -> Any:
    try:
        applicant = services.get_applicant(db.session, applicant_id)
    except services.ApplicantNotFound:
        abort(404)
    form = EraseForm()
    if applicant.erased:
        return render_template("applications/erase.html", applicant=applicant, form=None)
    if form.validate_on_submit():
        if (form.confirm.data or "").strip() != "ERASE":
            form.confirm.errors.append(_("Type the word ERASE in capitals to confirm."))
        else:
            services.erase_applicant(db.session, keyring(), actor_of(current_user), applicant.id)
            db.session.commit()
            flash(
                _("The applicant's data was destroyed. The erasure is in the audit trail."),
                "success",
            )
            return redirect(url_for("applicants_admin.erase", applicant_id=applicant.id))
    return render_template("applications/erase.html", applicant=applicant, form=form)


# -- intake --------------------------------------------------------------------------------------


@intake_bp.get("/")
@roles_required(*COUNTER)
def start() -> Any:
    form = StartForm(intake_token=random_token(24))
    drafts = services.open_drafts(db.session, current_user.id)
    return render_template(
        "applications/start.html",
        form=form,
        drafts=drafts,
        find=FindForm(request.args),
        display=display_reference,
    )


@intake_bp.post("/start")
@roles_required(*COUNTER)
def begin() -> Any:
    form = StartForm()
    if not form.validate_on_submit():
        flash(_("Choose the type of application."), "error")
        return redirect(url_for("intake.start"))
    application = services.start_application(
        db.session,
        keyring(),
        actor_of(current_user),
        kind=ApplicationKind(form.kind.data),
        intake_token=form.intake_token.data or "",
        policy_id=policy().id,
    )
    db.session.commit()
    return redirect(url_for("intake.profile", reference=application.reference))


@intake_bp.get("/find")
@roles_required(*COUNTER)
def find() -> Any:
    form = FindForm(request.args)
    if form.validate():
        try:
            application = services.get_application(db.session, form.reference.data or "")
        except (InvalidReference, services.ApplicationNotFound) as exc:
            form.reference.errors = [str(exc)]
        else:
            if application.status == "draft":
                return redirect(url_for("intake.profile", reference=application.reference))
            return redirect(url_for("intake.review", reference=application.reference))
    drafts = services.open_drafts(db.session, current_user.id)
    return render_template(
        "applications/start.html",
        form=StartForm(intake_token=random_token(24)),
        drafts=drafts,
        find=form,
        display=display_reference,
    ), 404


def _fill_profile_form(form: ProfileForm, profile: ApplicantProfile, caretaker: bool) -> None:
    form.given_names.data = profile.given_names
    form.family_names.data = profile.family_names
    form.date_of_birth.data = profile.date_of_birth
    form.address_kind.data = profile.address_kind.value
    for name in ("line1", "line2", "city", "postal_code", "care_of"):
        getattr(form, name).data = getattr(profile.address, name)
    for name in ("phone", "email", "emergency_contact_name", "emergency_contact_phone"):
        getattr(form, name).data = getattr(profile, name)
    form.gender.data = profile.gender or ""
    form.language1.data = profile.languages[0] if profile.languages else ""
    form.language2.data = profile.languages[1] if len(profile.languages) > 1 else ""
    form.veteran.data = profile.veteran
    form.has_caretaker.data = caretaker


@intake_bp.route("/<reference>/details", methods=["GET", "POST"])
@roles_required(*COUNTER)
def profile(reference: str) -> Any:
    application = _load(reference)
    form = ProfileForm()
    applicant = services.applicant_of(db.session, application)
    if request.method == "GET" and applicant is not None and not applicant.erased:
        _fill_profile_form(
            form, services.read_profile(keyring(), applicant), application.has_caretaker
        )
    if request.method == "POST" and application.status != "draft":
        flash(str(services.NotEditable(application.status)), "error")
    elif form.validate_on_submit() and _printable(form):
        try:
            services.save_profile(
                db.session,
                keyring(),
                actor_of(current_user),
                application,
                profile_from_form(form),
                has_caretaker=bool(form.has_caretaker.data),
                today=_today(),
            )
        except InvalidProfile as exc:
            db.session.rollback()
            for key, message in exc.messages(_).items():
                getattr(form, PROFILE_FIELD.get(key, key)).errors.append(message)
        else:
            db.session.commit()
            return redirect(url_for("intake.documents", reference=application.reference))
    status = 400 if form.errors else 200
    return render_template(
        "applications/profile.html", form=form, **_context(application, "intake.profile")
    ), status


def _printable(form: ProfileForm) -> bool:
    """The card printer must draw the name exactly: refuse it now rather than print boxes."""
    name = " ".join(p for p in (form.given_names.data, form.family_names.data) if p)
    missing = unsupported_characters(name)
    if missing:
        form.given_names.errors.append(
            _(
                "These characters cannot be printed on the card: %(chars)s. Enter the name in the "
                "Latin letters printed on the identity document (for example the passport's "
                "machine-readable line).",
                chars=" ".join(missing[:5]),
            )
        )
        return False
    if name and not name_fits(name):
        form.given_names.errors.append(
            _(
                "This name is too long to print on the card even in small type. Enter it as on the "
                "identity document, without extra names."
            )
        )
        return False
    return True


def _evaluation(application: Application) -> Any:
    return services.evaluate_application(
        db.session, keyring(), application, policy(), _today(), translate=_, language=_language()
    )


def _duplicate_warning(application: Application) -> bool:
    applicant = services.applicant_of(db.session, application)
    if applicant is None or applicant.erased:
        return False
    person = services.read_profile(keyring(), applicant)
    return bool(
        services.find_duplicates(
            db.session,
            keyring(),
            person.given_names,
            person.family_names,
            person.date_of_birth,
            exclude=applicant.id,
            limit=1,
        )
    )


def _document_choices() -> list[tuple[str, str]]:
    language = _language()
    return [(d.code, d.label(language)) for d in policy().documents]


@intake_bp.route("/<reference>/documents", methods=["GET", "POST"])
@roles_required(*COUNTER)
def documents(reference: str) -> Any:
    application, applicant = _load_with_applicant(reference)
    if applicant is None:
        return _details_first(application)
    form = DocumentForm()
    form.code.choices = [("", "—"), *_document_choices()]
    status = 200
    if request.method == "POST":
        if application.status != "draft":
            flash(str(services.NotEditable(application.status)), "error")
        elif form.validate_on_submit():
            document = PresentedDocument(
                code=form.code.data or "",
                issue_date=form.issue_date.data,
                expiry_date=form.expiry_date.data,
                resident_since=form.resident_since.data,
                name_matches=form.name_matches.data == "yes",
                address_matches=form.address_matches.data == "yes",
            )
            try:
                services.add_document(
                    db.session,
                    keyring(),
                    actor_of(current_user),
                    application,
                    policy(),
                    document,
                    seen=int(form.seen.data) if form.seen.data else None,
                )
            except services.AlreadySent:
                db.session.rollback()
                flash(
                    _(
                        "The list of documents changed after this form was opened (was it sent "
                        "twice?), so nothing was added. Check the list, and add the document "
                        "again if it is missing."
                    ),
                    "info",
                )
                return redirect(url_for("intake.documents", reference=application.reference))
            except services.IntakeError as exc:
                db.session.rollback()
                form.code.errors.append(str(exc))
                status = 400
            else:
                db.session.commit()
                return redirect(
                    url_for(
                        "intake.documents", reference=application.reference, _anchor="evaluation"
                    )
                )
        else:
            status = 400
    labels = dict(_document_choices())
    form.seen.data = str(len(application.documents))
    return render_template(
        "applications/documents.html",
        form=form,
        decision=_evaluation(application),
        labels=labels,
        duplicate=_duplicate_warning(application),
        remove_form=ConfirmActionForm(),
        **_context(application, "intake.documents"),
    ), status


@intake_bp.post("/<reference>/documents/<int:document_id>/remove")
@roles_required(*COUNTER)
def remove_document(reference: str, document_id: int) -> Any:
    application = _load(reference)
    if ConfirmActionForm().validate_on_submit():
        try:
            services.remove_document(
                db.session, keyring(), actor_of(current_user), application, document_id
            )
        except services.IntakeError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
    return redirect(url_for("intake.documents", reference=application.reference))


@intake_bp.route("/<reference>/photo", methods=["GET", "POST"])
@roles_required(*COUNTER)
def photo(reference: str) -> Any:
    application, applicant = _load_with_applicant(reference)
    if applicant is None:
        return _details_first(application)
    form = PhotoForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.save_photo(
                db.session,
                keyring(),
                actor_of(current_user),
                application,
                form.photo.data.read(11 * 1024 * 1024),
            )
        except (PhotoError, services.IntakeError) as exc:
            db.session.rollback()
            form.photo.errors.append(str(exc))
            status = 400
        else:
            db.session.commit()
            return redirect(url_for("intake.review", reference=application.reference))
    elif request.method == "POST":
        status = 400
    return render_template(
        "applications/photo.html",
        form=form,
        has_photo=applicant.photo_ct is not None,
        **_context(application, "intake.photo"),
    ), status


@intake_bp.get("/<reference>/photo.jpg")
@roles_required(*COUNTER)
def photo_image(reference: str) -> Any:
    application = _load(reference)
    applicant = services.applicant_of(db.session, application)
    image = (
        services.read_photo(keyring(), applicant) if applicant and not applicant.erased else None
    )
    if image is None:
        abort(404)
    return Response(image, mimetype="image/jpeg")


@intake_bp.route("/<reference>/review", methods=["GET", "POST"])
@roles_required(*COUNTER)
def review(reference: str) -> Any:
    application, applicant = _load_with_applicant(reference)
    if applicant is None:
        return _details_first(application)
    form = SubmitForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.submit_application(
                db.session,
                keyring(),
                actor_of(current_user),
                application,
                policy(),
                _today(),
                justification=form.justification.data or "",
            )
        except services.IntakeError as exc:
            db.session.rollback()
            form.justification.errors.append(str(exc))
            status = 400
        else:
            db.session.commit()
            return redirect(url_for("intake.submitted", reference=application.reference))
    person = None if applicant.erased else services.read_profile(keyring(), applicant)
    return render_template(
        "applications/review.html",
        form=form,
        person=person,
        decision=_evaluation(application),
        labels=dict(_document_choices()),
        duplicate=_duplicate_warning(application),
        has_photo=applicant.photo_ct is not None,
        **_context(application, "intake.review"),
    ), status


@intake_bp.get("/<reference>/submitted")
@roles_required(*COUNTER)
def submitted(reference: str) -> Any:
    application = _load(reference)
    return render_template("applications/submitted.html", **_context(application, ""))


@intake_bp.route("/<reference>/withdraw", methods=["GET", "POST"])
@roles_required(*COUNTER)
def withdraw(reference: str) -> Any:
    application = _load(reference)
    form = ConfirmActionForm()
    if form.validate_on_submit():
        try:
            services.withdraw_application(
                db.session, keyring(), actor_of(current_user), application
            )
        except services.IntakeError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "Application %(ref)s was withdrawn.",
                    ref=display_reference(application.reference),
                ),
                "success",
            )
        return redirect(url_for("intake.start"))
    return render_template("applications/withdraw.html", form=form, **_context(application, ""))


# -- supervisor review ---------------------------------------------------------------------------


@review_bp.get("/")
@roles_required(Role.SUPERVISOR)
def queue() -> Any:
    return render_template(
        "applications/queue.html", rows=services.review_queue(db.session), display=display_reference
    )


@review_bp.route("/<reference>", methods=["GET", "POST"])
@roles_required(Role.SUPERVISOR)
def decide(reference: str) -> Any:
    application = _load(reference)
    applicant = services.applicant_of(db.session, application)
    if applicant is None or application.status == ApplicationStatus.DRAFT.value:
        abort(404)
    form = DecisionForm()
    form.approve_codes.choices = [(k, _(v)) for k, v in services.APPROVE_CODES.items()]
    form.reject_codes.choices = [(k, _(v)) for k, v in services.REJECT_CODES.items()]
    status = 200
    if form.validate_on_submit():
        approve = form.decision.data == "approve"
        codes = (form.approve_codes.data if approve else form.reject_codes.data) or []
        try:
            services.decide_application(
                db.session,
                keyring(),
                actor_of(current_user),
                application,
                policy(),
                _today(),
                approve=approve,
                codes=list(codes),
                justification=form.justification.data or "",
            )
        except services.IntakeError as exc:
            db.session.rollback()
            form.decision.errors.append(str(exc))
            status = 400
        else:
            db.session.commit()
            flash(
                _(
                    "Application %(ref)s: %(status)s.",
                    ref=display_reference(application.reference),
                    status=_(application.status),
                ),
                "success",
            )
            return redirect(url_for("review.queue"))
    elif request.method == "POST":
        status = 400
    person = None if applicant.erased else services.read_profile(keyring(), applicant)
    duplicates = (
        []
        if person is None
        else services.find_duplicates(
            db.session,
            keyring(),
            person.given_names,
            person.family_names,
            person.date_of_birth,
            exclude=applicant.id,
        )
    )
    return render_template(
        "applications/decide.html",
        form=form,
        person=person,
        duplicates=duplicates,
        decision=_evaluation(application) if application.documents else None,
        note=services.read_override_note(keyring(), db.session, application),
        labels=dict(_document_choices()),
        has_photo=applicant.photo_ct is not None,
        **_context(application, ""),
    ), status
