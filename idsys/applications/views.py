"""Admin: erasing an applicant (crypto-shredding), with an explicit confirmation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from idsys.applications import services
from idsys.applications.forms import ApplicantLookupForm, EraseForm
from idsys.auth.access import roles_required
from idsys.auth.models import Role
from idsys.auth.services import actor_of
from idsys.db import db
from idsys.extensions import keyring

bp = Blueprint(
    "applicants_admin", __name__, url_prefix="/admin/applicants", template_folder="templates"
)


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
def erase(applicant_id: Any) -> Any:
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
