"""Flask extensions, created unbound and attached to the app in ``create_app``."""

from __future__ import annotations

from typing import cast

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from idsys.crypto import KeyRing
from idsys.policy import Policy


def client_address() -> str:
    # ProxyFix (IDSYS_PROXY_COUNT) has already replaced remote_addr with the client's address.
    return request.remote_addr or "unknown"


csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
babel = Babel()
limiter = Limiter(key_func=client_address)


def keyring() -> KeyRing:
    """The app's key ring (loaded once at start-up)."""
    return cast(KeyRing, current_app.extensions["idsys.keyring"])


def policy() -> Policy:
    """The jurisdiction policy chosen by IDSYS_POLICY (validated at start-up)."""
    return cast(Policy, current_app.extensions["idsys.policy"])
