"""Request hooks shared by every page: access enforcement, idle sign-out, security headers,
and friendly error pages (JSON for the API)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from gunicorn.http.errors import NoMoreData, ParseException
from limits.errors import StorageError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import IntegerConverter

from idsys.audit import sealer
from idsys.audit.services import Outcome, record
from idsys.auth.access import ACCESS_ATTR, Access, access_of
from idsys.auth.models import Role, StaffUser
from idsys.db import MAX_ROW_ID, db
from idsys.extensions import keyring, limiter, login_manager
from idsys.i18n import LANGUAGE_NAMES, N_

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

ERROR_TEXT: dict[int, tuple[str, str]] = {
    400: (N_("Bad request"), N_("The request could not be understood. Go back and try again.")),
    401: (N_("Sign-in needed"), N_("Sign in to continue.")),
    403: (N_("Not allowed"), N_("Your account does not have access to this page.")),
    404: (
        N_("Page not found"),
        N_("There is no page at this address. Check the address or go back."),
    ),
    405: (N_("Not allowed"), N_("This page cannot be used that way.")),
    413: (N_("Too large"), N_("What was sent is too large. Try a smaller file.")),
    415: (N_("Unsupported"), N_("That type of content is not accepted here.")),
    429: (
        N_("Too many requests"),
        N_("Too many attempts in a short time. Wait a minute, then try again."),
    ),
    500: (
        N_("Something went wrong"),
        N_(
            "An unexpected error happened; nothing was saved. "
            "Try again, and tell your supervisor if it happens again."
        ),
    ),
    503: (
        N_("Unavailable"),
        N_("The service is temporarily unavailable. Try again in a few minutes."),
    ),
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def error_response(code: int, message: str | None = None, error: str | None = None) -> Any:
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    message = message or _(text)
    if wants_json():
        body = {"error": error or title.lower().replace(" ", "_"), "message": message}
        return jsonify(body), code
    return render_template("error.html", code=code, title=_(title), message=message), code


def retry_later(code: int, seconds: int) -> Response:
    """The error page or JSON for ``code`` (429, 503), saying in Retry-After when to try again."""
    response = make_response(error_response(code))
    response.headers["Retry-After"] = str(seconds)
    return response


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: an open redirect would let a phishing link borrow our address."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _load_user(user_id: str) -> StaffUser | None:
    try:
        raw_id, raw_version = user_id.split(":", 1)
        user = db.session.get(StaffUser, int(raw_id))
        version = int(raw_version)
    except (ValueError, SQLAlchemyError):
        return None
    if user is None or not user.is_enabled or user.session_version != version:
        return None
    return user


def _unauthorized() -> Any:
    if wants_json():
        return error_response(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _access_for_request() -> Access | None:
    if request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    return access_of(view) if view is not None else None


def _idle_expired() -> bool:
    now = datetime.now(UTC).timestamp()
    last = session.get("seen")
    limit = current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
    session["seen"] = now
    return isinstance(last, int | float) and now - last > limit


def _enforce_access() -> Any:
    if request.endpoint is None:
        return None  # 404 or 405 follows
    access = _access_for_request()
    if access is None:
        abort(500)  # unreachable: create_app refuses undeclared views
    if access.api_key:
        return None  # the view checks the partner's key
    authenticated = bool(current_user.is_authenticated)
    if authenticated and _idle_expired():
        logout_user()
        session.clear()
        if access.public:
            return None
        flash(_("You were signed out after a period of inactivity."), "info")
        return login_manager.unauthorized()
    if access.public:
        return None
    if not authenticated:
        return login_manager.unauthorized()
    user: StaffUser = current_user._get_current_object()
    if not access.during_setup:
        if user.must_change_password:
            return redirect(url_for("auth.change_password"))
        if (
            current_app.config["REQUIRE_TOTP"]
            and user.role in (Role.SUPERVISOR.value, Role.ADMIN.value)
            and not user.totp_enabled
        ):
            return redirect(url_for("auth.totp_enrol"))
    if user.role_enum not in access.roles:
        record(
            db.session,
            keyring(),
            _actor(user),
            "access.denied",
            outcome=Outcome.DENIED,
            detail=request.endpoint[:64],
        )
        db.session.commit()
        return error_response(403)
    return None


def _actor(user: StaffUser) -> Any:
    from idsys.auth.services import actor_of

    return actor_of(user)


# Responses that say for themselves how long to keep them: static files, the published key set
# and the revocation list (signed, no personal data; offline verifiers may keep them a while).
OWN_CACHE_RULES = frozenset({"static", "keys.jwks", "api.status_list"})


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if current_app.config.get("HSTS"):
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if request.endpoint not in OWN_CACHE_RULES:
        # Pages hold personal data and counter computers are shared: never keep them in a cache.
        headers["Cache-Control"] = "no-store"
    return response


def _handle_http(exc: HTTPException) -> Any:
    if isinstance(exc, CSRFError):
        return error_response(
            400,
            _(
                "The form expired or was sent from another page. Reload the page and send it "
                "again; nothing was saved."
            ),
            error="csrf_failed",
        )
    if isinstance(exc, RateLimitExceeded):
        return retry_later(429, _retry_after(exc))
    code = exc.code or 500
    response = make_response(error_response(code))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # required with a 405
    return response


def _retry_after(exc: RateLimitExceeded) -> int:
    """Seconds until the breached limit admits a request again. Sent only with a 429: the
    X-RateLimit headers on every response would cost every request a second storage call."""
    current = limiter.current_limit
    if current is not None:
        return max(1, int(current.reset_at - time.time()))
    return exc.limit.limit.get_expiry()


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_nul() -> None:
    """No form or address has a use for a NUL character, and PostgreSQL cannot store one: refuse
    it here (400) rather than fail with a 500 when a view saves it."""
    values = request.args.listvalues()
    if request.method == "POST" and request.mimetype in FORM_TYPES:
        values = (*values, *request.form.listvalues())
    if any("\x00" in value for group in values for value in group):
        abort(400)


STORAGE_RETRY_AFTER = 30  # seconds: a restarting Redis is usually back within that


def _handle_unexpected(exc: Exception) -> Any:
    if isinstance(exc, ParseException | NoMoreData):
        # gunicorn reads the body only when the view asks for it, and raises its own errors for
        # a malformed or truncated chunked body: the client's fault, and nothing was done.
        db.session.rollback()
        return error_response(400)
    if isinstance(exc, StorageError):
        # The rate-limit store (Redis) is unreachable. Refuse rather than serve without limits:
        # they are what stops guessing card numbers and passwords. Raised here by the check
        # that runs before the view, so nothing was done.
        current_app.logger.error(
            "rate-limit storage unavailable on %s %s: %s",
            request.method,
            request.path,
            type(exc.storage_error).__name__,
        )
        db.session.rollback()
        return retry_later(503, STORAGE_RETRY_AFTER)
    if isinstance(exc, OperationalError):
        # The database stopped answering mid-request: its transaction is lost (nothing was saved).
        # Say so with a 503, rendered before the rollback, which would expire what the page
        # shows (the signed-in user) and send it back to the database that is not there.
        current_app.logger.error("database unavailable on %s %s", request.method, request.path)
        try:
            response = error_response(503)
        except SQLAlchemyError:
            response = Response(_(ERROR_TEXT[503][1]), 503, mimetype="text/plain")
        db.session.rollback()
        return response
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500)


def _uncounted_when_storage_fails(
    hook: Callable[[Response], Response],
) -> Callable[[Response], Response]:
    def after_view(response: Response) -> Response:
        try:
            return hook(response)
        except StorageError as exc:
            current_app.logger.error(
                "rate-limit storage unavailable after %s %s: this request was not counted: %s",
                request.method,
                request.path,
                type(exc.storage_error).__name__,
            )
            return response

    return after_view


def _tolerate_storage_errors_after_the_view(app: Flask) -> None:
    """Flask-Limiter counts conditional limits (``deduct_when``: pre-applications made, status
    look-ups missed) after the view, in an after-request hook. If Redis stops answering in
    between, the view's work is already committed: a 500 ("nothing was saved") would be untrue,
    and would drop the session with it (a resident's slip). The answer goes out; the request is
    logged as not counted. The check before the view still refuses with a 503."""
    if not app.config.get("RATELIMIT_ENABLED", True):
        return  # no limiter hooks to wrap
    hooks = app.after_request_funcs.setdefault(None, [])
    for index, hook in enumerate(hooks):
        if isinstance(hook, partial) and hook.args == (limiter,):
            hooks[index] = _uncounted_when_storage_fails(hook)
            return
    raise RuntimeError("Flask-Limiter's after-request hook is not where this version put it")


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in an address is a row id: a number no row can have matches no route (404)
    instead of reaching the database, which fails on it (a 500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def init_url_map(app: Flask) -> None:
    """Before any route is added: routes take their converters when they are registered."""
    app.url_map.converters["int"] = RowIdConverter


def init_app(app: Flask) -> None:
    # Flask's own static view needs a declared audience like every other view.
    setattr(app.view_functions["static"], ACCESS_ATTR, Access(public=True, roles=frozenset()))
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_enforce_access)
    app.before_request(_refuse_nul)

    @app.before_request
    def _start_sealer() -> None:
        sealer.start(app)

    app.after_request(_security_headers)
    _tolerate_storage_errors_after_the_view(app)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {
            "Role": Role,
            "languages": app.config["LANGUAGES"],
            "language_names": LANGUAGE_NAMES,
            # <html lang> and the language switcher need the page's language.
            "get_locale": get_locale,
        }
