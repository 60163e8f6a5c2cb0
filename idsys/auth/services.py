"""Staff account logic: creation, sign-in with back-off, TOTP, password and role changes.

Every function takes the session and the key ring explicitly, flushes but never commits (the view
decides), raises a named error the view can show, and audits what it did with ids only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idsys.audit.services import SYSTEM, Actor, Outcome, record
from idsys.auth.models import DEFAULT_SITE, Role, StaffUser
from idsys.crypto import (
    DecryptionError,
    KeyPurpose,
    KeyRing,
    hash_password,
    needs_rehash,
    random_below,
    verify_password,
)
from idsys.crypto.totp import accept_code, new_totp_secret

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# Enrolment site codes: short, and safe in a URL, a CSV cell and an audit detail.
SITE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256  # argon2 hashes any length; the cap keeps a huge body from costing CPU
# No 0/O, 1/I/L: one-time passwords are read off a screen and typed by someone else.
_OTP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class AuthError(Exception):
    """Base class; ``str(error)`` is a message fit to show the person who caused it."""


class InvalidCredentials(AuthError):
    def __init__(self) -> None:
        super().__init__(
            "Sign-in failed. Check the username and password. After repeated failures an "
            "account is locked for a few minutes; an administrator can unlock it."
        )


class InvalidTotpCode(AuthError):
    def __init__(self) -> None:
        super().__init__("That code is not valid. Enter the current 6-digit code from your app.")


class InvalidUsername(AuthError):
    def __init__(self) -> None:
        super().__init__(
            "Usernames are 3 to 64 characters: lower-case letters, digits, dot, dash or "
            "underscore, starting with a letter or digit."
        )


class InvalidSite(AuthError):
    def __init__(self) -> None:
        super().__init__(
            "Site codes are 1 to 32 characters: lower-case letters, digits or dashes, "
            "starting with a letter or digit (for example north-library)."
        )


class UsernameTaken(AuthError):
    def __init__(self, username: str) -> None:
        super().__init__(f"The username {username!r} is already in use.")


class WeakPassword(AuthError):
    pass


class WrongCurrentPassword(AuthError):
    def __init__(self) -> None:
        super().__init__("The current password is not correct.")


class LastAdminError(AuthError):
    def __init__(self) -> None:
        super().__init__(
            "This is the last enabled admin account; create or enable another admin first."
        )


class SelfLockoutError(AuthError):
    def __init__(self) -> None:
        super().__init__("You cannot disable your own account or remove your own admin role.")


def actor_of(user: StaffUser) -> Actor:
    return Actor(user.id, user.role)


def normalise_username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidUsername()
    return username


def normalise_site(raw: str) -> str:
    site = raw.strip().lower()
    if not SITE_RE.match(site):
        raise InvalidSite()
    return site


def check_password_strength(password: str, username: str) -> None:
    """Refuse passwords that are short, absurdly long, or built on the username."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"Use at least {MIN_PASSWORD} characters; a short phrase works well.")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"Use at most {MAX_PASSWORD} characters.")
    if username and username.lower() in password.lower():
        raise WeakPassword("The password must not contain the username.")
    if len(set(password)) < 5:
        raise WeakPassword("The password repeats too few different characters.")


def one_time_password() -> str:
    """16 characters from a 31-letter alphabet (about 79 bits), grouped for reading aloud."""
    chars = "".join(_OTP_ALPHABET[random_below(len(_OTP_ALPHABET))] for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def get_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalars(
        select(StaffUser).where(StaffUser.username == username.strip().lower())
    ).one_or_none()


def list_staff(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


def create_user(
    session: Session,
    keys: KeyRing,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str | None = None,
    site: str = DEFAULT_SITE,
) -> tuple[StaffUser, str | None]:
    """Create an account. Without ``password`` a one-time password is generated and returned;
    the user must replace it at first sign-in."""
    username = normalise_username(username)
    site = normalise_site(site)
    if get_by_username(session, username) is not None:
        raise UsernameTaken(username)
    generated = None
    if password is None:
        generated = password = one_time_password()
    else:
        check_password_strength(password, username)
    user = StaffUser(
        username=username,
        display_name=display_name.strip() or username,
        role=role.value,
        site=site,
        password_hash=hash_password(password),
        must_change_password=True,
        is_enabled=True,
        failed_logins=0,
        session_version=1,
    )
    session.add(user)
    session.flush()
    record(
        session,
        keys,
        actor,
        "staff.create",
        target_type="staff",
        target_id=user.id,
        detail=f"role={role.value}",
    )
    return user, generated


def ensure_first_admin(session: Session, keys: KeyRing) -> tuple[StaffUser, str] | None:
    """Create the first admin when there is no staff account at all; None if any exists."""
    if session.scalar(select(func.count()).select_from(StaffUser)):
        return None
    user, password = create_user(
        session,
        keys,
        SYSTEM,
        username="admin",
        display_name="First administrator",
        role=Role.ADMIN,
    )
    assert password is not None  # noqa: S101  (generated because none was given)
    return user, password


@dataclass(frozen=True)
class LoginPolicy:
    lock_threshold: int = 5
    lock_base: timedelta = timedelta(minutes=1)
    lock_max: timedelta = timedelta(hours=1)

    def lock_for(self, failures: int) -> timedelta | None:
        """Back-off doubles with each failure past the threshold, up to ``lock_max``."""
        if failures < self.lock_threshold:
            return None
        doublings = min(failures - self.lock_threshold, 16)
        return min(self.lock_base * (1 << doublings), self.lock_max)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _register_failure(
    session: Session,
    keys: KeyRing,
    user: StaffUser,
    policy: LoginPolicy,
    now: datetime,
    detail: str,
) -> None:
    user.failed_logins += 1
    lock = policy.lock_for(user.failed_logins)
    if lock is not None:
        user.locked_until = now + lock
        detail = f"{detail}+locked"
    record(
        session,
        keys,
        actor_of(user),
        "auth.login",
        outcome=Outcome.FAILURE,
        target_type="staff",
        target_id=user.id,
        detail=detail,
    )


def check_password(
    session: Session,
    keys: KeyRing,
    username: str,
    password: str,
    *,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> StaffUser:
    """First sign-in step. Returns the user when the password is right and the account usable.

    Every failure raises the same InvalidCredentials so that nobody learns which usernames
    exist or which accounts are locked; the audit trail records the precise reason.
    """
    now = now or datetime.now(UTC)
    user = get_by_username(session, username) if len(username) <= 64 else None
    if user is None:
        verify_password(None, password[:MAX_PASSWORD])  # same cost as a real check
        record(session, keys, SYSTEM, "auth.login", outcome=Outcome.FAILURE, detail="unknown_user")
        raise InvalidCredentials()
    locked_until = _utc(user.locked_until)
    if locked_until is not None and now < locked_until:
        verify_password(None, password[:MAX_PASSWORD])
        record(
            session,
            keys,
            actor_of(user),
            "auth.login",
            outcome=Outcome.FAILURE,
            target_type="staff",
            target_id=user.id,
            detail="locked",
        )
        raise InvalidCredentials()
    if len(password) > MAX_PASSWORD or not verify_password(user.password_hash, password):
        _register_failure(session, keys, user, policy, now, "bad_password")
        raise InvalidCredentials()
    if not user.is_enabled:
        record(
            session,
            keys,
            actor_of(user),
            "auth.login",
            outcome=Outcome.FAILURE,
            target_type="staff",
            target_id=user.id,
            detail="disabled",
        )
        raise InvalidCredentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if not user.totp_enabled:
        complete_login(session, keys, user, now=now)
    return user


def complete_login(session: Session, keys: KeyRing, user: StaffUser, *, now: datetime) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    record(
        session,
        keys,
        actor_of(user),
        "auth.login",
        target_type="staff",
        target_id=user.id,
        detail="totp" if user.totp_enabled else "password",
    )


def _totp_aad(user: StaffUser) -> bytes:
    return f"staff-totp|{user.id}".encode()


def _totp_secret(keys: KeyRing, user: StaffUser) -> str:
    if user.totp_secret_sealed is None or user.totp_key_id is None:
        raise InvalidTotpCode()
    try:
        return keys.open_sealed(
            KeyPurpose.TOTP, user.totp_key_id, user.totp_secret_sealed, _totp_aad(user)
        ).decode()
    except DecryptionError:
        raise InvalidTotpCode() from None


def check_totp(
    session: Session,
    keys: KeyRing,
    user: StaffUser,
    code: str,
    *,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> None:
    """Second sign-in step; a wrong code counts as a failed sign-in for the back-off."""
    now = now or datetime.now(UTC)
    locked_until = _utc(user.locked_until)
    if locked_until is not None and now < locked_until:
        raise InvalidCredentials()
    step = accept_code(_totp_secret(keys, user), code, user.totp_last_step, at=now.timestamp())
    if step is None:
        _register_failure(session, keys, user, policy, now, "bad_totp")
        raise InvalidTotpCode()
    user.totp_last_step = step
    complete_login(session, keys, user, now=now)


def start_totp_enrolment() -> str:
    """A new secret, held in the signed session until the user proves their app has it."""
    return new_totp_secret()


def confirm_totp_enrolment(
    session: Session,
    keys: KeyRing,
    user: StaffUser,
    secret: str,
    code: str,
    now: datetime | None = None,
) -> None:
    now = now or datetime.now(UTC)
    step = accept_code(secret, code, None, at=now.timestamp())
    if step is None:
        raise InvalidTotpCode()
    kid, sealed = keys.seal(KeyPurpose.TOTP, secret.encode(), _totp_aad(user))
    user.totp_secret_sealed = sealed
    user.totp_key_id = kid
    user.totp_last_step = step
    record(
        session, keys, actor_of(user), "staff.totp_enrol", target_type="staff", target_id=user.id
    )


def change_own_password(
    session: Session, keys: KeyRing, user: StaffUser, current: str, new: str
) -> None:
    if not verify_password(user.password_hash, current[:MAX_PASSWORD]):
        record(
            session,
            keys,
            actor_of(user),
            "staff.password_change",
            outcome=Outcome.FAILURE,
            target_type="staff",
            target_id=user.id,
            detail="wrong_current",
        )
        raise WrongCurrentPassword()
    if current == new:
        raise WeakPassword("Choose a password different from the current one.")
    check_password_strength(new, user.username)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    record(
        session,
        keys,
        actor_of(user),
        "staff.password_change",
        target_type="staff",
        target_id=user.id,
    )


def _enabled_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffUser)
            .where(StaffUser.role == Role.ADMIN.value, StaffUser.is_enabled.is_(True))
        )
        or 0
    )


def reset_password(session: Session, keys: KeyRing, actor: Actor, user: StaffUser) -> str:
    """Replace the password with a one-time one, end the user's sessions, clear any lock."""
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    user.session_version += 1
    record(session, keys, actor, "staff.password_reset", target_type="staff", target_id=user.id)
    return password


def set_enabled(
    session: Session, keys: KeyRing, actor: Actor, user: StaffUser, enabled: bool
) -> None:
    if user.is_enabled == enabled:
        return
    if not enabled:
        if actor.id == user.id:
            raise SelfLockoutError()
        if user.role == Role.ADMIN.value and _enabled_admins(session) <= 1:
            raise LastAdminError()
        user.session_version += 1
    user.is_enabled = enabled
    record(
        session,
        keys,
        actor,
        "staff.enable" if enabled else "staff.disable",
        target_type="staff",
        target_id=user.id,
    )


def change_role(session: Session, keys: KeyRing, actor: Actor, user: StaffUser, role: Role) -> None:
    if user.role == role.value:
        return
    if user.role == Role.ADMIN.value:
        if actor.id == user.id:
            raise SelfLockoutError()
        if user.is_enabled and _enabled_admins(session) <= 1:
            raise LastAdminError()
    old = user.role
    user.role = role.value
    user.session_version += 1
    record(
        session,
        keys,
        actor,
        "staff.role_change",
        target_type="staff",
        target_id=user.id,
        detail=f"{old}->{role.value}",
    )


def update_display_name(
    session: Session, keys: KeyRing, actor: Actor, user: StaffUser, display_name: str
) -> None:
    display_name = display_name.strip()
    if display_name and display_name != user.display_name:
        user.display_name = display_name
        record(session, keys, actor, "staff.update", target_type="staff", target_id=user.id)


def change_site(session: Session, keys: KeyRing, actor: Actor, user: StaffUser, site: str) -> None:
    """Move an account to another enrolment site; applications it started keep theirs."""
    site = normalise_site(site)
    if site != user.site:
        user.site = site
        record(
            session,
            keys,
            actor,
            "staff.site_change",
            target_type="staff",
            target_id=user.id,
            detail=f"site={site}",
        )


def unlock(session: Session, keys: KeyRing, actor: Actor, user: StaffUser) -> None:
    user.failed_logins = 0
    user.locked_until = None
    record(session, keys, actor, "staff.unlock", target_type="staff", target_id=user.id)


def reset_totp(session: Session, keys: KeyRing, actor: Actor, user: StaffUser) -> None:
    """Forget the second factor (lost phone); the user enrols again at next sign-in."""
    user.totp_secret_sealed = None
    user.totp_key_id = None
    user.totp_last_step = None
    user.session_version += 1
    record(session, keys, actor, "staff.totp_reset", target_type="staff", target_id=user.id)


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    locked_until = _utc(user.locked_until)
    return locked_until is not None and (now or datetime.now(UTC)) < locked_until
