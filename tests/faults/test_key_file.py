"""gunicorn started without a readable key ring refuses to serve: a non-zero exit, a message
that names the file and the problem, and nothing listening. Never a plaintext fallback, and no
key ring generated in its place.

Root reads any file whatever its mode, so when the tests run as root the "mode 000" case runs
the server without the capabilities that bypass file permissions (``setpriv``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from idsys import ROOT
from idsys.crypto import KeyRing
from idsys.i18n import missing_catalogues
from tests.servers import free_port, gunicorn_command, server_env

# Root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH is refused a file like anyone else.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _refused(env: dict[str, str], port: int, unprivileged: bool) -> str:
    command = gunicorn_command(port, 2)
    if unprivileged:
        command = [*UNPRIVILEGED, *command]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0, result.stderr[-2000:]
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))  # nothing was left serving
    return result.stderr


@pytest.mark.parametrize("fault", ["missing", "directory", "mode 000"])
def test_gunicorn_refuses_to_start_without_a_readable_key_file(
    fault: str, keys: KeyRing, tmp_path: Path
) -> None:
    missing = missing_catalogues(("es", "fr", "ht", "pt"))
    if missing:  # production refuses to start without them; `make test` compiles them first
        pytest.skip(f"translation catalogues not compiled for {', '.join(missing)}")
    unprivileged = False
    key_file = tmp_path / "keyring.json"
    if fault == "directory":
        key_file.mkdir()  # reading it fails, even as root
    elif fault == "mode 000":
        shutil.copyfile(keys.provider.path, key_file)  # type: ignore[attr-defined]
        key_file.chmod(0o000)
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("root reads a mode-000 file, and setpriv (util-linux) is missing")
            unprivileged = True
    env = server_env("sqlite:///:memory:", key_file, tmp_path / "instance")

    message = _refused(env, free_port(), unprivileged)

    expected = {
        "missing": "does not exist",
        "directory": "cannot be read",
        "mode 000": "cannot be read",
    }[fault]
    # Said plainly on a line of its own, not buried in a traceback.
    said = [line for line in message.splitlines() if line.startswith("idsys will not start")]
    assert said, message[-2000:]
    assert str(key_file) in said[0], said
    assert expected in said[0], said
    if fault == "missing":
        assert "never falls back" in message
        assert not key_file.exists()  # nothing generated in production
