"""A malformed or truncated chunked body under gunicorn: a 400, never a 500 with a traceback.

gunicorn reads a request body only when the view asks for it, and raises its own errors then;
the development server answers these before the app sees them, so only gunicorn shows them.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator

import pytest

from idsys.i18n import missing_catalogues
from tests.conftest import register_partner
from tests.servers import free_port, migrated_app, server_env, start_gunicorn

BODIES = {
    "bad chunk size": b"zz\r\n{}\r\n0\r\n\r\n",
    "chunk without its terminator": b"2\r\n{}XX",
    "cut short": b"10\r\n{",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A gunicorn serving a migrated SQLite database with one partner: (port, its API key)."""
    missing = missing_catalogues(("es", "fr", "ht", "pt"))
    if missing:  # production refuses to start without them; `make test` compiles them first
        pytest.skip(f"translation catalogues not compiled for {', '.join(missing)}")
    workdir = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{workdir / 'served.sqlite3'}"
    app, keys = migrated_app(url, workdir)
    with app.app_context():
        key = register_partner(keys)
    app.extensions["idsys.db"].engine.dispose()
    port = free_port()
    env = server_env(url, workdir / "keyring.json", workdir / "instance")
    server = start_gunicorn(env, port, 1, workdir / "gunicorn.err")
    try:
        yield port, key
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert "Traceback" not in (workdir / "gunicorn.err").read_text()


def _send(port: int, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, close our side, read the whole answer."""
    request = head.replace("\n", "\r\n").encode() + b"\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    top, _, content = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, content


@pytest.mark.parametrize("fault", sorted(BODIES))
def test_partner_api_answers_400_json(served: tuple[int, str], fault: str) -> None:
    status, headers, content = _send(
        served[0],
        "POST /api/v1/verifications HTTP/1.1\nHost: x\nContent-Type: application/json\n"
        f"Authorization: Bearer idsys_aaaaaaaa_{'b' * 43}\nTransfer-Encoding: chunked\n"
        "Connection: close\n",
        BODIES[fault],
    )
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert json.loads(content)["error"] == "bad_request"


@pytest.mark.parametrize("fault", sorted(BODIES))
def test_form_answers_400_page(served: tuple[int, str], fault: str) -> None:
    status, headers, content = _send(
        served[0],
        "POST /login HTTP/1.1\nHost: x\nContent-Type: application/x-www-form-urlencoded\n"
        "Transfer-Encoding: chunked\nConnection: close\n",
        BODIES[fault],
    )
    assert status == 400
    assert headers["Content-Type"].startswith("text/html")
    assert b"could not be understood" in content
