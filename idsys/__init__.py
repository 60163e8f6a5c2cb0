"""idsys: municipal identification card issuance.

``create_app()`` builds the Flask application from the configuration named by ``IDSYS_ENV``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import Config, ConfigError, get_config
from idsys.crypto import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    KeyPurpose,
    KeyRing,
    KeyRingError,
    ensure_secret_file,
)
from idsys.policy import PolicyError, load_policy

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_KEYS = tuple(KeyPurpose)


class StartupError(RuntimeError):
    """idsys refuses to start; the message says why and what to do."""


def _key_provider(config: Config, instance: Path) -> KeyProvider:
    if config.KEY_PROVIDER == "env":
        if not config.KEYS_JSON:
            raise StartupError("IDSYS_KEY_PROVIDER=env but IDSYS_KEYS is empty.")
        return EnvKeyProvider(config.KEYS_JSON)
    path = Path(config.KEY_FILE) if config.KEY_FILE else instance / "keyring.json"
    return FileKeyProvider(path, strict_permissions=not config.GENERATE_MISSING_SECRETS)


def load_keyring(config: Config, instance: Path) -> KeyRing:
    """Open the key ring or refuse to start: idsys never runs without its keys."""
    provider = _key_provider(config, instance)
    try:
        return KeyRing.open(
            provider, generate_missing=config.GENERATE_MISSING_SECRETS, required=REQUIRED_KEYS
        )
    except KeyRingError as exc:
        raise StartupError(f"idsys will not start: {exc}") from None


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``overrides`` replace settings after the environment is read (tests)."""
    # Imported here so that the offline verifier and other plain tools in this package can be
    # used without Flask installed or loaded.
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    try:
        config = get_config(config_name)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    settings = config.as_dict()
    settings.update(overrides or {})
    instance = Path(settings.get("INSTANCE_PATH") or ROOT / "instance").resolve()

    app = Flask(
        __name__,
        instance_path=str(instance),
        static_folder=str(ROOT / "static"),
        template_folder="templates",
    )
    app.config.update(settings)
    app.config["ENV_NAME"] = config.ENV_NAME

    if config.GENERATE_MISSING_SECRETS:
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = ensure_secret_file(instance / "secret_key")
        if not app.config.get("DATABASE_URL"):
            database = instance / "idsys.sqlite3"
            # Created here, owner-only, before SQLite would create it with the default umask.
            os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
            app.config["DATABASE_URL"] = f"sqlite:///{database}"
    for needed in ("SECRET_KEY", "DATABASE_URL"):
        if not app.config.get(needed):
            raise StartupError(f"idsys will not start: IDSYS_{needed} is not set.")

    if overrides and "KEYRING" in overrides:
        keys: KeyRing = overrides["KEYRING"]
    else:
        keys = load_keyring(config, instance)
    app.extensions["idsys.keyring"] = keys
    try:
        app.extensions["idsys.policy"] = load_policy(app.config["POLICY"])
    except PolicyError as exc:
        raise StartupError(f"idsys will not start: invalid jurisdiction policy: {exc}") from None

    from config import normalise_database_url
    from idsys.db import db

    app.config["DATABASE_URL"] = normalise_database_url(app.config["DATABASE_URL"])
    db.init_app(app, app.config["DATABASE_URL"])
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"

    if app.config["PROXY_COUNT"]:
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count
        )

    from idsys import cli, web

    web.init_url_map(app)
    _init_extensions(app)
    _register_blueprints(app)
    web.init_app(app)
    cli.init_app(app)

    from idsys.auth.access import check_all_declared

    check_all_declared(app)
    return app


def _init_extensions(app: Flask) -> None:
    from idsys.db import db
    from idsys.extensions import babel, csrf, limiter, login_manager, migrate
    from idsys.i18n import select_locale

    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from idsys.applications.views import bp as applicants_admin_bp
    from idsys.applications.views import intake_bp, review_bp
    from idsys.audit.views import bp as audit_bp
    from idsys.auth.views import admin_bp
    from idsys.auth.views import bp as auth_bp
    from idsys.cards.views import bp as cards_bp
    from idsys.cards.views import keys_bp
    from idsys.core.views import bp as core_bp
    from idsys.reports.views import bp as reports_bp
    from idsys.residents.views import bp as residents_bp
    from idsys.residents.views import counter_bp as pre_applications_bp
    from idsys.verification.views import admin_bp as partners_bp
    from idsys.verification.views import api_bp, scanner_bp

    for blueprint in (
        core_bp,
        auth_bp,
        admin_bp,
        audit_bp,
        applicants_admin_bp,
        intake_bp,
        review_bp,
        cards_bp,
        keys_bp,
        api_bp,
        scanner_bp,
        partners_bp,
        residents_bp,
        pre_applications_bp,
        reports_bp,
    ):
        app.register_blueprint(blueprint)
