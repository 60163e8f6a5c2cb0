"""Sign-in, second factor, own password, and the admin pages for staff accounts."""

from __future__ import annotations

import time
from typing import Any

import qrcode
import qrcode.image.svg
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup

from idsys.audit.services import Actor, record
from idsys.auth import services
from idsys.auth.access import ALL_STAFF, public, roles_required
from idsys.auth.forms import (
    ChangePasswordForm,
    ConfirmForm,
    LoginForm,
    StaffCreateForm,
    StaffEditForm,
    TotpForm,
)
from idsys.auth.models import Role, StaffUser
from idsys.crypto.totp import provisioning_uri
from idsys.db import db
from idsys.extensions import keyring, limiter
from idsys.i18n import N_
from idsys.web import safe_next

bp = Blueprint("auth", __name__, template_folder="templates")
admin_bp = Blueprint(
    "staff_admin", __name__, url_prefix="/admin/staff", template_folder="templates"
)

PENDING_SECONDS = 300  # time allowed between the password step and the TOTP step


def _policy() -> services.LoginPolicy:
    cfg = current_app.config
    return services.LoginPolicy(
        cfg["LOGIN_LOCK_THRESHOLD"], cfg["LOGIN_LOCK_BASE"], cfg["LOGIN_LOCK_MAX"]
    )


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _finish_login(user: StaffUser) -> Any:
    next_url = safe_next(session.get("pending_next"))
    for key in ("pending_uid", "pending_ver", "pending_at", "pending_next"):
        session.pop(key, None)
    session["seen"] = time.time()
    login_user(user)
    return redirect(next_url or url_for("core.home"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.check_password(
                db.session,
                keyring(),
                form.username.data or "",
                form.password.data or "",
                policy=_policy(),
            )
        except services.InvalidCredentials as exc:
            db.session.commit()  # keep the failure count and the audit row
            form.password.errors.append(str(exc))
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        session.clear()  # a fresh session on sign-in: no fixation
        if user.totp_enabled:
            session.update(
                pending_uid=user.id,
                pending_ver=user.session_version,
                pending_at=time.time(),
                pending_next=request.args.get("next"),
            )
            return redirect(url_for("auth.login_totp"))
        session["pending_next"] = request.args.get("next")
        return _finish_login(user)
    return render_template("auth/login.html", form=form)


def _pending_user() -> StaffUser | None:
    uid, ver, at = session.get("pending_uid"), session.get("pending_ver"), session.get("pending_at")
    if not isinstance(uid, int) or not isinstance(at, int | float):
        return None
    if time.time() - at > PENDING_SECONDS:
        return None
    user = db.session.get(StaffUser, uid)
    if user is None or user.session_version != ver or not user.is_enabled:
        return None
    return user


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login_totp() -> Any:
    user = _pending_user()
    if user is None:
        flash(_("Sign in again: the sign-in took too long or was not started."), "info")
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            services.check_totp(db.session, keyring(), user, form.code.data or "", policy=_policy())
        except services.AuthError as exc:
            db.session.commit()
            form.code.errors.append(str(exc))
            return render_template("auth/login_totp.html", form=form), 401
        db.session.commit()
        return _finish_login(user)
    return render_template("auth/login_totp.html", form=form)


@bp.post("/logout")
@roles_required(*ALL_STAFF, during_setup=True)
def logout() -> Any:
    record(
        db.session,
        keyring(),
        services.actor_of(current_user),
        "auth.logout",
        target_type="staff",
        target_id=current_user.id,
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required(*ALL_STAFF, during_setup=True)
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user: StaffUser = current_user._get_current_object()
        try:
            services.change_own_password(
                db.session, keyring(), user, form.current.data or "", form.new.data or ""
            )
        except services.WrongCurrentPassword as exc:
            db.session.commit()
            form.current.errors.append(str(exc))
        except services.WeakPassword as exc:
            db.session.rollback()
            form.new.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Your password was changed."), "success")
            return redirect(url_for("core.home"))
    return render_template("auth/change_password.html", form=form)


def _qr_svg(data: str) -> Markup:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return Markup(svg)  # noqa: S704  (generated by qrcode from our own URI, no user markup)


@bp.route("/account/totp", methods=["GET", "POST"])
@roles_required(*ALL_STAFF, during_setup=True)
def totp_enrol() -> Any:
    user: StaffUser = current_user._get_current_object()
    form = TotpForm()
    secret = session.get("totp_secret")
    if request.method == "GET" or not isinstance(secret, str):
        secret = services.start_totp_enrolment()
        session["totp_secret"] = secret
    elif form.validate_on_submit():
        try:
            services.confirm_totp_enrolment(
                db.session, keyring(), user, secret, form.code.data or ""
            )
        except services.InvalidTotpCode as exc:
            form.code.errors.append(str(exc))
        else:
            db.session.commit()
            session.pop("totp_secret", None)
            flash(
                _("Two-step sign-in is on. You will need your app's code at each sign-in."),
                "success",
            )
            return redirect(url_for("core.home"))
    uri = provisioning_uri(secret, user.username, "idsys")
    return render_template(
        "auth/totp_enrol.html", form=form, qr=_qr_svg(uri), secret=secret, already=user.totp_enabled
    )


# -- administration of staff accounts ------------------------------------------------------


def _staff_or_404(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _admin_actor() -> Actor:
    return services.actor_of(current_user)


@admin_bp.get("/")
@roles_required(Role.ADMIN)
def staff_list() -> Any:
    return render_template(
        "auth/staff_list.html", staff=services.list_staff(db.session), is_locked=services.is_locked
    )


@admin_bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def staff_create() -> Any:
    form = StaffCreateForm()
    if form.validate_on_submit():
        try:
            user, password = services.create_user(
                db.session,
                keyring(),
                _admin_actor(),
                username=form.username.data or "",
                display_name=form.display_name.data or "",
                role=Role(form.role.data),
                site=form.site.data or "",
            )
        except services.InvalidSite as exc:
            db.session.rollback()
            form.site.errors.append(str(exc))
        except (services.UsernameTaken, services.InvalidUsername) as exc:
            db.session.rollback()
            form.username.errors.append(str(exc))
        else:
            db.session.commit()
            return render_template(
                "auth/one_time_password.html", user=user, password=password, created=True
            )
    return render_template("auth/staff_create.html", form=form)


@admin_bp.route("/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def staff_detail(user_id: int) -> Any:
    user = _staff_or_404(user_id)
    form = StaffEditForm(obj=user)
    if form.validate_on_submit():
        actor = _admin_actor()
        try:
            services.update_display_name(
                db.session, keyring(), actor, user, form.display_name.data or ""
            )
            services.change_role(db.session, keyring(), actor, user, Role(form.role.data))
            services.change_site(db.session, keyring(), actor, user, form.site.data or "")
        except services.InvalidSite as exc:
            db.session.rollback()
            form.site.errors.append(str(exc))
        except services.AuthError as exc:
            db.session.rollback()
            form.role.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("staff_admin.staff_detail", user_id=user.id))
    return render_template(
        "auth/staff_detail.html",
        user=user,
        form=form,
        locked=services.is_locked(user),
        actions=ACTIONS,
    )


# Each confirmed action: (button label, confirmation question, what happens, service call).
ACTIONS: dict[str, tuple[str, str, str]] = {
    "disable": (
        N_("Disable account"),
        N_("Disable this account?"),
        N_("The person is signed out at once and cannot sign in until re-enabled."),
    ),
    "enable": (
        N_("Enable account"),
        N_("Enable this account?"),
        N_("The person can sign in again."),
    ),
    "reset-password": (
        N_("Reset password"),
        N_("Reset this person's password?"),
        N_("A one-time password is shown once; all their sessions end."),
    ),
    "unlock": (
        N_("Unlock"),
        N_("Unlock this account?"),
        N_("Failed sign-in attempts are forgotten."),
    ),
    "reset-totp": (
        N_("Reset two-step sign-in"),
        N_("Reset this person's two-step sign-in?"),
        N_("Use when their phone is lost; they enrol a new app at next sign-in."),
    ),
}


@admin_bp.route("/<int:user_id>/<action>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def staff_action(user_id: int, action: str) -> Any:
    if action not in ACTIONS:
        abort(404)
    user = _staff_or_404(user_id)
    form = ConfirmForm()
    label, question, consequence = ACTIONS[action]
    if form.validate_on_submit():
        actor, keys = _admin_actor(), keyring()
        try:
            password = None
            if action == "disable":
                services.set_enabled(db.session, keys, actor, user, False)
            elif action == "enable":
                services.set_enabled(db.session, keys, actor, user, True)
            elif action == "reset-password":
                password = services.reset_password(db.session, keys, actor, user)
            elif action == "unlock":
                services.unlock(db.session, keys, actor, user)
            else:
                services.reset_totp(db.session, keys, actor, user)
        except services.AuthError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("staff_admin.staff_detail", user_id=user.id))
        db.session.commit()
        if password is not None:
            return render_template(
                "auth/one_time_password.html", user=user, password=password, created=False
            )
        flash(_("Done: %(action)s.", action=_(label)), "success")
        return redirect(url_for("staff_admin.staff_detail", user_id=user.id))
    return render_template(
        "auth/confirm.html",
        user=user,
        form=form,
        label=_(label),
        question=_(question),
        consequence=_(consequence),
    )
