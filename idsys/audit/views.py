"""The audit trail for admins: recent events and an on-demand chain check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from idsys.audit.services import recent_events, verify_chain
from idsys.auth.access import roles_required
from idsys.auth.forms import ConfirmForm
from idsys.auth.models import Role
from idsys.db import db
from idsys.extensions import keyring

bp = Blueprint("audit", __name__, url_prefix="/admin/audit", template_folder="templates")
PAGE = 100


@bp.get("/")
@roles_required(Role.ADMIN)
def events() -> Any:
    before = request.args.get("before", type=int)
    rows = recent_events(db.session, limit=PAGE, before=before)
    older = rows[-1].seq if len(rows) == PAGE else None
    return render_template(
        "audit/events.html", rows=rows, older=older, report=None, form=ConfirmForm()
    )


@bp.post("/verify")
@roles_required(Role.ADMIN)
def verify() -> Any:
    form = ConfirmForm()
    report = verify_chain(db.session, keyring()) if form.validate_on_submit() else None
    rows = recent_events(db.session, limit=PAGE)
    older = rows[-1].seq if len(rows) == PAGE else None
    return render_template("audit/events.html", rows=rows, older=older, report=report, form=form)
