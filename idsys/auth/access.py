"""Who may reach which view. Every view declares it; the app refuses to start otherwise.

Enforcement is central (a ``before_request`` hook) and deny-by-default, so a forgotten check
cannot open a page: the declaration only says who is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from idsys.auth.models import Role

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTR = "_idsys_access"


@dataclass(frozen=True)
class Access:
    public: bool
    roles: frozenset[Role]
    # Pages a signed-in user may open before finishing set-up (new password, TOTP enrolment).
    during_setup: bool = False
    # Opened by a partner's API key, which the view checks; the staff sign-in plays no part.
    api_key: bool = False

    def describe(self) -> str:
        if self.api_key:
            return "api key"
        if self.public:
            return "public"
        return ",".join(sorted(r.value for r in self.roles))


def _declare(view: F, access: Access) -> F:
    setattr(view, ACCESS_ATTR, access)
    return view


def public(view: F) -> F:
    """Anyone, signed in or not (login page, health check, public key set)."""
    return _declare(view, Access(public=True, roles=frozenset()))


def api_key_required(view: F) -> F:
    """Partners, by the API key the view itself checks (the partner API). The staff sign-in is
    not consulted: a browser that is also signed in gains nothing by it, and its session is
    neither read nor kept alive by these calls."""
    return _declare(view, Access(public=True, roles=frozenset(), api_key=True))


def roles_required(*roles: Role, during_setup: bool = False) -> Callable[[F], F]:
    """Signed-in staff holding one of ``roles``."""
    if not roles:
        raise ValueError("roles_required needs at least one role; use @public for open views")

    def decorator(view: F) -> F:
        return _declare(view, Access(False, frozenset(roles), during_setup))

    return decorator


ALL_STAFF = (Role.CLERK, Role.SUPERVISOR, Role.ADMIN)


def access_of(view: Callable[..., Any]) -> Access | None:
    return getattr(view, ACCESS_ATTR, None)


def undeclared_endpoints(app: Flask) -> list[str]:
    return sorted(
        endpoint for endpoint, view in app.view_functions.items() if access_of(view) is None
    )


def check_all_declared(app: Flask) -> None:
    """Called at the end of create_app: a route without a declared audience stops start-up."""
    missing = undeclared_endpoints(app)
    if missing:
        raise RuntimeError(
            "these views do not declare who may use them (@public or @roles_required): "
            + ", ".join(missing)
        )
