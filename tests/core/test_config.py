"""Start-up: production refuses to run without its secrets and keys; development generates them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from config import SETTINGS, get_config, normalise_database_url
from idsys import ROOT, StartupError, create_app
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing

PRODUCTION_VARS = {
    "IDSYS_SECRET_KEY": "s" * 40,
    "IDSYS_DATABASE_URL": "sqlite:///:memory:",
    "IDSYS_RATELIMIT_STORAGE_URI": "memory://",
    "IDSYS_KEY_PROVIDER": "file",
    "IDSYS_ISSUER": "https://id.example.org",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("IDSYS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_refuses_without_secrets(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(StartupError) as info:
        create_app("production")
    message = str(info.value)
    assert "will not start in production" in message
    for name in (
        "IDSYS_SECRET_KEY",
        "IDSYS_DATABASE_URL",
        "IDSYS_RATELIMIT_STORAGE_URI",
        "IDSYS_KEY_PROVIDER",
        "IDSYS_ISSUER",
    ):
        assert name in message


@pytest.mark.parametrize("missing", sorted(PRODUCTION_VARS))
def test_production_names_the_one_missing_secret(
    clean_env: pytest.MonkeyPatch, missing: str, tmp_path: Path
) -> None:
    for name, value in PRODUCTION_VARS.items():
        if name != missing:
            clean_env.setenv(name, value)
    clean_env.setenv("IDSYS_KEY_FILE", str(tmp_path / "keyring.json"))
    with pytest.raises(StartupError, match=missing):
        create_app("production")


def test_production_refuses_a_short_secret_key(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION_VARS.items():
        clean_env.setenv(name, value)
    clean_env.setenv("IDSYS_SECRET_KEY", "short")
    with pytest.raises(StartupError, match="at least 32 characters"):
        create_app("production")


def _production_env(env: pytest.MonkeyPatch, key_file: Path) -> None:
    for name, value in PRODUCTION_VARS.items():
        env.setenv(name, value)
    env.setenv("IDSYS_KEY_FILE", str(key_file))


def test_production_refuses_a_missing_key_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(clean_env, tmp_path / "absent.json")
    with pytest.raises(StartupError, match=r"absent.json does not exist.*never falls back"):
        create_app("production")
    assert not (tmp_path / "absent.json").exists()  # nothing generated in production


def test_production_refuses_an_unreadable_key_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keyring.json"
    key_file.mkdir()  # a directory where the file should be: reading it fails
    _production_env(clean_env, key_file)
    with pytest.raises(StartupError, match="cannot be read"):
        create_app("production")


def test_production_refuses_a_world_readable_key_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keyring.json"
    KeyRing.open(
        FileKeyProvider(key_file, strict_permissions=True),
        generate_missing=True,
        required=tuple(KeyPurpose),
    )
    key_file.chmod(0o644)
    _production_env(clean_env, key_file)
    with pytest.raises(StartupError, match="readable by other accounts"):
        create_app("production")


def test_production_refuses_an_incomplete_key_ring(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keyring.json"
    KeyRing.open(
        FileKeyProvider(key_file, strict_permissions=True),
        generate_missing=True,
        required=[KeyPurpose.KEK],
    )
    _production_env(clean_env, key_file)
    with pytest.raises(StartupError, match="has no key for: blind-index, audit, totp, signing"):
        create_app("production")


def test_production_starts_with_everything_set(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keyring.json"
    result = subprocess.run(
        [sys.executable, "-m", "idsys.crypto", "init-keyring", str(key_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    _production_env(clean_env, key_file)
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REQUIRE_TOTP"] is True


def test_wsgi_defaults_to_production_and_refuses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSYS_")}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert "will not start in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_generates_secrets_owner_only(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    clean_env.setenv("IDSYS_INSTANCE_PATH", str(instance))
    app = create_app("development")
    for name in ("secret_key", "keyring.json", "idsys.sqlite3"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name
    again = create_app("development")  # a second start reuses what the first made
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert [e.kid for e in again.extensions["idsys.keyring"].entries] == [
        e.kid for e in app.extensions["idsys.keyring"].entries
    ]


def test_unknown_environment_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDSYS_ENV", "staging")
    with pytest.raises(StartupError, match="'staging' is not known"):
        create_app()


def test_bad_boolean_setting(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDSYS_REQUIRE_TOTP", "maybe")
    with pytest.raises(StartupError, match="IDSYS_REQUIRE_TOTP must be one of"):
        create_app("development")


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("0.25", 0.25), (" 30 ", 30.0)])
def test_seal_interval_setting(clean_env: pytest.MonkeyPatch, value: str, seconds: float) -> None:
    clean_env.setenv("IDSYS_AUDIT_SEAL_INTERVAL", value)
    assert seconds == get_config("development").AUDIT_SEAL_INTERVAL


@pytest.mark.parametrize("value", ["-1", "0.01", "7200", "nan", "inf", "two"])
def test_bad_seal_interval_stops_start_up(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("IDSYS_AUDIT_SEAL_INTERVAL", value)
    with pytest.raises(StartupError, match="IDSYS_AUDIT_SEAL_INTERVAL must be a number of"):
        create_app("development")


def test_postgres_urls_use_psycopg() -> None:
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name


def test_development_config_defaults(clean_env: pytest.MonkeyPatch) -> None:
    config = get_config("development")
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.REQUIRE_TOTP is False
    assert config.SESSION_COOKIE_SECURE is False
    assert config.AUDIT_SEAL_INTERVAL == 2.0  # a sealer in each server process


def test_invalid_policy_stops_start_up(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "city.toml"
    broken.write_text("[meta]\nid = 'x'\n")
    clean_env.setenv("IDSYS_INSTANCE_PATH", str(tmp_path / "instance"))
    clean_env.setenv("IDSYS_POLICY", str(broken))
    with pytest.raises(StartupError, match=r"invalid jurisdiction policy: .*city.toml"):
        create_app("development")
    clean_env.setenv("IDSYS_POLICY", "atlantis")
    with pytest.raises(StartupError, match="atlantis"):
        create_app("development")
    clean_env.setenv("IDSYS_POLICY", "new_york")
    assert create_app("development").extensions["idsys.policy"].id == "new_york"
