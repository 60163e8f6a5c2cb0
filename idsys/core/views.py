"""The front door: home page per role, language choice and the health check."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idsys.auth.access import ALL_STAFF, public, roles_required
from idsys.db import db
from idsys.web import safe_next

bp = Blueprint("core", __name__, template_folder="templates")


@bp.get("/")
@public
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    # The public front door is the residents' (status, pre-application); it links staff sign-in.
    return redirect(url_for("residents.start"))


@bp.get("/home")
@roles_required(*ALL_STAFF)
def home() -> Any:
    return render_template("core/home.html")


@bp.post("/language")
@public
def set_language() -> Any:
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("core.index"))


@bp.get("/healthz")
@public
def healthz() -> Any:
    """For load balancers: 200 when the database answers, 503 with a plain reason otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.error("health check: database unreachable: %s", type(exc).__name__)
        body = {
            "status": "unavailable",
            "database": "unreachable",
            "message": "The database cannot be reached; requests will fail until it returns.",
        }
        return jsonify(body), 503
    return jsonify({"status": "ok", "database": "ok"}), 200
