"""Helpers for the fault tests: a PostgreSQL server of the test's own, gunicorn, and approved
applications made through the real services on any app (not only the fixture's)."""

from __future__ import annotations

import glob
import io
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from PIL import Image

from idsys.applications import services as applicants
from idsys.applications.models import ApplicationKind
from idsys.audit.services import Actor
from idsys.auth.models import Role
from idsys.cards import services as cards
from idsys.cards.labels import card_labels
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import (
    TODAY,
    add_staff,
    build_app,
    mexico_city_documents,
    migrate_to_head,
    photo_bytes,
    sample_profile,
)
from tests.servers import ISSUER, free_port

GIVEN_NAMES = ("Ana", "Luis", "Marta", "Tomás", "Inés", "Joaquín", "Rosa", "Pablo", "Elena", "Iker")


@contextmanager
def two_workers(database_url: str, keys: KeyRing, instance: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (two workers) on ``database_url``, migrated, each with connections of its own:
    the fixture database shares one connection, which cannot race itself."""
    apps: list[Flask] = []
    try:
        apps = [build_app(database_url, instance, keys) for _ in range(2)]
        migrate_to_head(apps[0])
        yield apps[0], apps[1]
    finally:
        for app in apps:
            app.extensions["idsys.db"].engine.dispose()


@contextmanager
def racing(second: Callable[[], object], what: str) -> Iterator[None]:
    """Run ``second`` in a thread while the caller holds what it needs (a lock, a row not yet
    committed), and check that it waits; the block releases it (commits), and on leaving the
    thread has finished."""
    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive(), what
    yield
    thread.join(timeout=30)
    assert not thread.is_alive(), f"still waiting after the release: {what}"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- a PostgreSQL server of the test's own ------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or in Debian's versioned folder (newest first)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


class ScratchPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free port: stopping it, even with
    ``-m immediate`` (as a crash would), harms no other database."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        # initdb refuses to run as root: the cluster belongs to the postgres account, in a folder
        # directly under the temporary directory (pytest's own folders are owner-only).
        self.root = Path(tempfile.mkdtemp(prefix="idsys-pg-"))
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{what} failed: {result.stdout}{result.stderr}{log}")

    def init(self) -> None:
        self._check(
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--no-sync", "--locale=C.UTF-8",
            ),
            "initdb",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._check(
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start",
            ),
            "pg_ctl start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._check(
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"),
            "pg_ctl stop",
        )

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"idsys_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def scratch_postgres() -> ScratchPostgres:
    """Start a new cluster, or skip where PostgreSQL's server programs are not installed."""
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("initdb/pg_ctl not installed (Debian package postgresql): no scratch server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres account to own a scratch cluster")
    server = ScratchPostgres(bindir)
    try:
        server.init()
        for attempt in range(3):
            try:
                server.start()
                break
            except AssertionError:
                if attempt == 2:
                    raise
                server.port = free_port()  # taken meanwhile by another test's server
    except BaseException:
        server.destroy()
        raise
    return server


# -- records made through the real services ----------------------------------------------------


@dataclass(frozen=True)
class Staff:
    clerk_id: int
    supervisor_id: int
    clerk: str = "clerk1"
    supervisor: str = "supervisor1"


def make_staff(app: Flask, keys: KeyRing) -> Staff:
    """A clerk and a supervisor with their own passwords (PASSWORD), ready to sign in."""
    with app.app_context():
        ids = []
        for name, role in (("clerk1", Role.CLERK), ("supervisor1", Role.SUPERVISOR)):
            user = add_staff(keys, name, role)
            db.session.flush()
            ids.append(user.id)
        db.session.commit()
        return Staff(ids[0], ids[1])


def noise_photo() -> bytes:
    """A photo that does not compress: batch PDFs of a few such cards weigh megabytes."""
    image = Image.frombytes("RGB", (480, 640), os.urandom(480 * 640 * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def approved_applications(
    app: Flask, keys: KeyRing, staff: Staff, count: int, *, heavy_photos: bool = False
) -> list[int]:
    """``count`` applications taken by the clerk and approved by the supervisor; their ids."""
    ids = []
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        clerk = Actor(staff.clerk_id, "clerk")
        supervisor = Actor(staff.supervisor_id, "supervisor")
        for index in range(count):
            application = applicants.start_application(
                db.session,
                keys,
                clerk,
                kind=ApplicationKind.NEW,
                intake_token=uuid.uuid4().hex,
                policy_id=rules.id,
            )
            profile = sample_profile(
                given_names=GIVEN_NAMES[index % len(GIVEN_NAMES)],
                family_names="Prueba " + "".join(chr(97 + int(d)) for d in str(index)),
                date_of_birth=date(1950 + index % 50, 1 + index % 12, 1 + index % 28),
            )
            applicants.save_profile(
                db.session, keys, clerk, application, profile, has_caretaker=False, today=TODAY
            )
            photo = noise_photo() if heavy_photos else photo_bytes()
            applicants.save_photo(db.session, keys, clerk, application, photo)
            for document in mexico_city_documents():
                applicants.add_document(db.session, keys, clerk, application, rules, document)
            applicants.submit_application(db.session, keys, clerk, application, rules, TODAY)
            applicants.decide_application(
                db.session,
                keys,
                supervisor,
                application,
                rules,
                TODAY,
                approve=True,
                codes=["rules_satisfied", "duplicate_checked"],
            )
            db.session.commit()
            ids.append(application.id)
    return ids


def release(app: Flask, keys: KeyRing, staff: Staff) -> int:
    """Release every approved application into one batch; its id."""
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        result = cards.release_batch(
            db.session,
            keys,
            Actor(staff.supervisor_id, "supervisor"),
            rules,
            today=TODAY,
            issuer=ISSUER,
            labels=card_labels(rules),
        )
        assert result.batch is not None, result.problems
        db.session.commit()
        return result.batch.id


# -- gunicorn ----------------------------------------------------------------------------------


def worker_pids(master: int) -> set[int]:
    """The master's child processes (gunicorn's workers), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == master and fields[0] != "Z":
            children.add(int(entry.name))
    return children


# -- HTML forms, read as a browser reads them --------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # input type (text, date, number, hidden, radio, checkbox, file...), select, textarea
    required: bool = False
    options: list[str] = dataclass_field(default_factory=list)  # select, radio, checkbox values
    multiple: bool = False
    default: list[str] = dataclass_field(default_factory=list)  # what a browser would send


@dataclass
class Form:
    action: str | None
    method: str
    enctype: str
    fields: dict[str, Field] = dataclass_field(default_factory=dict)

    def defaults(self) -> dict[str, list[str]]:
        """What pressing the submit button sends without typing anything."""
        return {name: list(f.default) for name, f in self.fields.items() if f.default}


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: Field | None = None
        self._option: str | None = None
        self._textarea: Field | None = None

    def _field(self, name: str, kind: str, attrs: dict[str, str | None]) -> Field:
        form = self.forms[-1]
        if name not in form.fields:
            form.fields[name] = Field(name, kind, required="required" in attrs)
        return form.fields[name]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                Form(
                    a.get("action"),
                    (a.get("method") or "get").lower(),
                    a.get("enctype") or "application/x-www-form-urlencoded",
                )
            )
            return
        if not self.forms or not a.get("name"):
            if tag == "option" and self._select is not None:
                self._option_tag(a)
            return
        name = a["name"] or ""
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in {"submit", "button", "reset", "image"}:
                return
            field = self._field(name, kind, a)
            value = a.get("value") or ("on" if kind in {"checkbox", "radio"} else "")
            if kind in {"checkbox", "radio"}:
                field.options.append(value)
                if "checked" in a:
                    field.default.append(value)
            elif kind != "file":
                field.default = [value]
        elif tag == "select":
            self._select = self._field(name, "select", a)
            self._select.multiple = "multiple" in a
        elif tag == "textarea":
            self._textarea = self._field(name, "textarea", a)
            self._textarea.default = [""]

    def _option_tag(self, a: dict[str, str | None]) -> None:
        assert self._select is not None
        value = a.get("value") or ""
        self._select.options.append(value)
        if "selected" in a or (not self._select.default and not self._select.multiple):
            if "selected" in a and not self._select.multiple:
                self._select.default = []
            self._select.default.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.default = [self._textarea.default[0] + data]


def parse_forms(page: str) -> list[Form]:
    """Every form on the page with its fields, as a browser would submit them."""
    parser = _FormParser()
    parser.feed(page)
    return parser.forms
