"""Configuration classes for idsys.

Every secret and every URL comes from an ``IDSYS_*`` environment variable (the README lists them
all). The development configuration generates what is missing into the instance folder so that
``make run`` works on a fresh machine; the production configuration refuses to start instead,
because a city must never run on generated or default secrets, nor fall back to plaintext.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message tells the operator what to set."""


# Sealing more often than this only adds transactions; an hour is the longest an auditor should
# wait to find a verification in the chain.
MIN_SEAL_INTERVAL, MAX_SEAL_INTERVAL = 0.05, 3600.0


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}.")


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; got {value!r}.") from None


def _env_seal_interval(name: str, default: float) -> float:
    value = _env(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds != 0 and not MIN_SEAL_INTERVAL <= seconds <= MAX_SEAL_INTERVAL:
        raise ConfigError(
            f"{name} must be a number of seconds from {MIN_SEAL_INTERVAL} to "
            f"{MAX_SEAL_INTERVAL:.0f}, or 0 to leave sealing to `flask idsys audit-seal "
            f"--every`; got {value!r}."
        )
    return seconds


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs, as operators write them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Setting:
    """One documented environment variable; the README table is checked against this list."""

    name: str
    help: str
    required_in_production: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("IDSYS_ENV", "development (default for `make run`), test or production."),
    Setting(
        "IDSYS_SECRET_KEY",
        "Signs session cookies and CSRF tokens; at least 32 random characters.",
        required_in_production=True,
    ),
    Setting(
        "IDSYS_DATABASE_URL",
        "SQLAlchemy URL, e.g. postgresql://idsys@db/idsys. Development default: SQLite file in "
        "the instance folder.",
        required_in_production=True,
    ),
    Setting(
        "IDSYS_RATELIMIT_STORAGE_URI",
        "Rate-limit storage shared by all workers, e.g. redis://cache:6379/0. Development "
        "default: memory://.",
        required_in_production=True,
    ),
    Setting(
        "IDSYS_KEY_PROVIDER",
        "Where the key ring comes from: file (IDSYS_KEY_FILE) or env (IDSYS_KEYS).",
        required_in_production=True,
    ),
    Setting(
        "IDSYS_KEY_FILE",
        "Key ring file for the file provider (mode 0600). Development default: "
        "instance/keyring.json, generated on first run.",
    ),
    Setting("IDSYS_KEYS", "The key ring as JSON text, for the env provider."),
    Setting(
        "IDSYS_REQUIRE_TOTP",
        "Require a TOTP second factor for supervisors and admins. Default: on in production, "
        "off in development.",
    ),
    Setting(
        "IDSYS_POLICY",
        "Jurisdiction policy: a shipped name (mexico_city, new_york) or a TOML file path. "
        "Default: mexico_city.",
    ),
    Setting(
        "IDSYS_ISSUER",
        "The issuer written into every card's signed QR (the city's short URL, e.g. "
        "https://id.city.gov: the QR grows with it). Development: https://id.example.org.",
        required_in_production=True,
    ),
    Setting(
        "IDSYS_INSTANCE_PATH", "Instance folder (database, generated keys). Default: instance/."
    ),
    Setting("IDSYS_PROXY_COUNT", "How many reverse proxies sit in front of the app (default 0)."),
    Setting(
        "IDSYS_SESSION_IDLE_MINUTES",
        "Staff sessions end after this many idle minutes (default 30): counters are shared.",
    ),
    Setting(
        "IDSYS_PARTNER_RATE_LIMIT",
        "Requests per API key, e.g. '120 per minute' (the default); daily quotas are per partner.",
    ),
    Setting(
        "IDSYS_AUDIT_SEAL_INTERVAL",
        "Seconds between the seals of partner-verification audit events by each server process "
        "(default 2). 0 turns the server's sealers off: run `flask idsys audit-seal --every "
        "0.25` as a service of its own instead, which keeps the work off the request workers.",
    ),
    Setting(
        "IDSYS_TEST_DATABASE_URL",
        "Tests only: run the suite on this PostgreSQL database instead of SQLite files.",
    ),
    Setting("IDSYS_TEST_REDIS_URL", "Tests only: Redis for the rate-limit storage tests."),
)


class Config:
    """Settings shared by every environment, read from the environment when instantiated."""

    ENV_NAME: ClassVar[str] = "base"
    GENERATE_MISSING_SECRETS: ClassVar[bool] = False
    DEFAULT_REQUIRE_TOTP: ClassVar[bool] = True
    DEFAULT_RATELIMIT_STORAGE_URI: ClassVar[str | None] = None
    DEFAULT_KEY_PROVIDER: ClassVar[str | None] = None

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "idsys_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=10)  # a long counter shift
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024  # a photo upload is the largest legitimate body

    # Retry-After is sent with each 429 (idsys.web); X-RateLimit-* on every response would cost
    # every request a second call to the limit storage.
    RATELIMIT_HEADERS_ENABLED = False
    # A Redis that stops answering fails the request in seconds, as a StorageError (answered
    # 503 by idsys.web), instead of holding the worker until the system gives up on the socket.
    RATELIMIT_STORAGE_OPTIONS: ClassVar[dict[str, float | bool]] = {
        "socket_connect_timeout": 2.0,
        "socket_timeout": 2.0,
        "wrap_exceptions": True,
    }
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_RATE_LIMIT = "20 per minute"
    PARTNER_RATE_LIMIT = "120 per minute"  # per API key; a busy circulation desk needs ~1/s
    # Partner API requests refused for their key, per client address: random keys would each
    # get a fresh per-key bucket, and every refusal writes an audit row.
    PARTNER_KEY_FAILURE_LIMIT = "20 per minute"
    # Number-and-date-of-birth checks that missed, per card number across partners: the date of
    # birth must not be found by trying one after another.
    CARD_NUMBER_MISS_LIMIT = "5 per day"

    LOGIN_LOCK_THRESHOLD = 5
    LOGIN_LOCK_BASE = timedelta(minutes=1)
    LOGIN_LOCK_MAX = timedelta(hours=1)

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES: ClassVar[tuple[str, ...]] = ("en", "es", "fr", "ht", "pt")

    HSTS = True
    # Large batches render in a background thread; tests render inline to observe the result.
    CARD_RENDER_INLINE = False
    # Seconds between seals of high-volume audit events into the chain (0: only on demand).
    AUDIT_SEAL_INTERVAL = 2.0
    TESTING = False
    DEBUG = False

    def __init__(self) -> None:
        self.SECRET_KEY: str | None = _env("IDSYS_SECRET_KEY")
        self.DATABASE_URL: str | None = _env("IDSYS_DATABASE_URL")
        self.RATELIMIT_STORAGE_URI: str | None = (
            _env("IDSYS_RATELIMIT_STORAGE_URI") or self.DEFAULT_RATELIMIT_STORAGE_URI
        )
        self.KEY_PROVIDER: str | None = _env("IDSYS_KEY_PROVIDER") or self.DEFAULT_KEY_PROVIDER
        self.KEY_FILE: str | None = _env("IDSYS_KEY_FILE")
        self.KEYS_JSON: str | None = _env("IDSYS_KEYS")
        self.INSTANCE_PATH: str | None = _env("IDSYS_INSTANCE_PATH")
        self.POLICY: str = _env("IDSYS_POLICY") or "mexico_city"
        self.ISSUER: str = _env("IDSYS_ISSUER") or "https://id.example.org"
        self.REQUIRE_TOTP: bool = _env_bool("IDSYS_REQUIRE_TOTP", self.DEFAULT_REQUIRE_TOTP)
        self.PROXY_COUNT: int = _env_int("IDSYS_PROXY_COUNT", 0)
        self.SESSION_IDLE_TIMEOUT = timedelta(minutes=_env_int("IDSYS_SESSION_IDLE_MINUTES", 30))
        self.AUDIT_SEAL_INTERVAL = _env_seal_interval(
            "IDSYS_AUDIT_SEAL_INTERVAL", type(self).AUDIT_SEAL_INTERVAL
        )
        partner_limit = _env("IDSYS_PARTNER_RATE_LIMIT")
        if partner_limit:
            self.PARTNER_RATE_LIMIT = partner_limit

    def as_dict(self) -> dict[str, Any]:
        """The upper-case settings, for ``app.config.update``."""
        return {key: getattr(self, key) for key in dir(self) if key.isupper()}

    def validate(self) -> None:
        """Raise ConfigError when something the environment must provide is absent."""


class DevelopmentConfig(Config):
    """`make run`: SQLite and generated keys in the instance folder, no HTTPS."""

    ENV_NAME: ClassVar[str] = "development"
    GENERATE_MISSING_SECRETS: ClassVar[bool] = True
    DEFAULT_REQUIRE_TOTP: ClassVar[bool] = False
    DEFAULT_RATELIMIT_STORAGE_URI: ClassVar[str | None] = "memory://"
    DEFAULT_KEY_PROVIDER: ClassVar[str | None] = "file"
    SESSION_COOKIE_SECURE = False
    HSTS = False


class TestConfig(DevelopmentConfig):
    """The test suite: like development; the tests choose the database and instance folder."""

    ENV_NAME: ClassVar[str] = "test"
    TESTING = True
    CARD_RENDER_INLINE = True
    AUDIT_SEAL_INTERVAL = 0.0
    DEFAULT_REQUIRE_TOTP: ClassVar[bool] = False
    # Tests that exercise the limiter set their own limit; others must not trip a shared one.
    LOGIN_RATE_LIMIT = "1000 per minute"
    PARTNER_RATE_LIMIT = "100000 per minute"
    PARTNER_KEY_FAILURE_LIMIT = "100000 per minute"
    CARD_NUMBER_MISS_LIMIT = "100000 per day"


class ProductionConfig(Config):
    """Behind a reverse proxy with PostgreSQL and Redis; refuses to start without its secrets."""

    ENV_NAME: ClassVar[str] = "production"
    SESSION_COOKIE_NAME = "__Host-idsys_session"

    def validate(self) -> None:
        missing = [s for s in SETTINGS if s.required_in_production and not _env(s.name)]
        problems = [f"  {s.name}: {s.help}" for s in missing]
        secret = self.SECRET_KEY
        if secret is not None and len(secret) < 32:
            problems.append("  IDSYS_SECRET_KEY: must be at least 32 characters long.")
        provider = self.KEY_PROVIDER
        if provider == "file" and not self.KEY_FILE:
            problems.append("  IDSYS_KEY_FILE: the file key provider needs the key ring's path.")
        elif provider == "env" and not self.KEYS_JSON:
            problems.append("  IDSYS_KEYS: the env key provider needs the key ring as JSON.")
        elif provider not in {None, "file", "env"}:
            problems.append(
                f"  IDSYS_KEY_PROVIDER: unknown provider {provider!r}; use file or env."
            )
        if problems:
            raise ConfigError(
                "idsys will not start in production: these settings are missing or invalid:\n"
                + "\n".join(problems)
                + "\nSee README.md, 'Configuration'. Nothing was started and no data was touched."
            )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> Config:
    """Return the configuration named by ``name`` or ``IDSYS_ENV`` (default development)."""
    chosen = name or _env("IDSYS_ENV") or "development"
    try:
        cls = CONFIGS[chosen]
    except KeyError:
        raise ConfigError(
            f"IDSYS_ENV={chosen!r} is not known; use one of {', '.join(CONFIGS)}."
        ) from None
    config = cls()
    config.validate()
    return config
