"""A gunicorn worker killed (SIGKILL) while it sends a batch PDF: the client sees a broken
transfer, the master starts a new worker, the next download is complete and byte-identical to
the file, and the batch is untouched.

Runs on PostgreSQL (a scratch database) when IDSYS_TEST_DATABASE_URL is set, else on a SQLite
file; either way behind a real gunicorn with two workers.
"""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from idsys.cards import services as cards
from idsys.cards.labels import card_labels
from idsys.cards.models import Card, PrintBatch
from idsys.crypto import KeyRing
from idsys.db import db
from idsys.i18n import missing_catalogues
from tests.conftest import CSRF_RE, PASSWORD, PG_URL, build_app, migrate_to_head
from tests.faults.support import (
    approved_applications,
    make_staff,
    release,
    wait_until,
    worker_pids,
)
from tests.servers import ISSUER, free_port, scratch_database, server_env, start_gunicorn


def _send_buffer_max() -> int:
    """The most a TCP socket may queue for sending (Linux default 4 MiB)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 1024 * 1024


# The kernel keeps sending what a killed worker had queued: the PDF must be larger than that,
# with a margin. Cards with photos that do not compress weigh about 85 kB each in the PDF.
SEND_BUFFER = _send_buffer_max()
CARDS = math.ceil((SEND_BUFFER + 1_000_000) / 85_000)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'served.sqlite3'}"
        return
    with scratch_database(PG_URL, "idsys_faults") as url:
        yield url


class Browser:
    """Just enough of a browser: keeps the cookies the server sets (Secure ones too)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def request(self, method: str, path: str, form: str | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = self.headers()
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=form, headers=headers)
        response = conn.getresponse()
        body = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, body

    def sign_in(self, username: str) -> None:
        _, page = self.request("GET", "/login")
        match = CSRF_RE.search(page.decode())
        assert match, page[:500]
        form = urlencode(
            {
                "csrf_token": match.group(1) or match.group(2),
                "username": username,
                "password": PASSWORD,
            }
        )
        status, body = self.request("POST", "/login", form)
        assert status == 302, body[:500]


def _connection_inode(server_port: int, client_port: int) -> str:
    """The socket inode of the server side of our connection, from /proc/net/tcp."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return fields[9]
    raise AssertionError("the server side of the download connection was not found")


def _holder(pids: set[int], inode: str) -> int:
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the download connection")


def _batch_state(app: Any, batch_id: int) -> tuple[object, ...]:
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        statuses = tuple(db.session.scalars(select(Card.status).order_by(Card.id)))
        state = (batch.status, batch.printed_at, batch.render_done, batch.render_error, statuses)
        db.session.rollback()
        return state


def test_worker_killed_mid_download(keys: KeyRing, tmp_path: Path, database_url: str) -> None:
    missing = missing_catalogues(("es", "fr", "ht", "pt"))
    if missing:  # production refuses to start without them; `make test` compiles them first
        pytest.skip(f"translation catalogues not compiled for {', '.join(missing)}")
    instance = tmp_path / "instance"
    app = build_app(database_url, instance, keys)
    migrate_to_head(app)
    staff = make_staff(app, keys)
    approved_applications(app, keys, staff, CARDS, heavy_photos=True)
    batch_id = release(app, keys, staff)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        pdf = cards.render_batch_file(
            db.session,
            keys,
            batch,
            rules,
            issuer=ISSUER,
            labels=card_labels(rules),
            layout="card_printer",
            directory=instance / "print-spool",
        )
        db.session.rollback()
    expected = pdf.read_bytes()
    assert len(expected) > SEND_BUFFER, "the PDF must outgrow the socket's send buffer"
    before = _batch_state(app, batch_id)

    port = free_port()
    env = server_env(
        database_url,
        keys.provider.path,  # type: ignore[attr-defined]
        instance,
        IDSYS_REQUIRE_TOTP="0",  # the sign-in is not what is under test
    )
    server = start_gunicorn(env, port, 2, tmp_path / "gunicorn.err")
    try:
        browser = Browser(port)
        browser.sign_in(staff.clerk)
        path = f"/cards/batches/{batch_id}/download/card_printer"

        # A client with a tiny receive window, reading slowly: the worker is still sending.
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(30)
        client.connect(("127.0.0.1", port))
        cookie = browser.headers()["Cookie"]
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += client.recv(4096)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
        length = int(fields[b"content-length"])
        assert length == len(expected)
        victim = _holder(worker_pids(server.pid), _connection_inode(port, client.getsockname()[1]))
        os.kill(victim, signal.SIGKILL)
        try:
            while chunk := client.recv(65536):
                body += chunk
        except ConnectionResetError:
            pass
        client.close()
        assert len(body) < length, "the transfer should have been cut off"

        wait_until(
            lambda: len(pids := worker_pids(server.pid)) == 2 and victim not in pids,
            30,
            "gunicorn to replace the killed worker",
        )
        status, again = browser.request("GET", path)
        assert status == 200
        assert again == expected
        assert pdf.read_bytes() == expected
        assert _batch_state(app, batch_id) == before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        app.extensions["idsys.db"].engine.dispose()
