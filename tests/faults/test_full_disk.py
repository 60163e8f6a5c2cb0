"""The disk fills up while a batch PDF is written: the clerk reads a clear error that names the
disk, no partial PDF is left under the real name, and the batch renders once space is back.

ENOSPC is real: the render runs in a child process with a private mount namespace
(``unshare -m``) in which the print spool is a 16 KiB tmpfs, far smaller than the PDF. The
database is a SQLite file both processes open, so the child sees the batch the test released.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from idsys import ROOT
from idsys.cards.models import PrintBatch
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import PASSWORD, build_app, csrf_token, migrate_to_head
from tests.faults.support import approved_applications, make_staff, release

# Runs inside the namespace, where the spool is the tiny tmpfs: the clerk's render, then the page.
CHILD = r"""
import json, os, sys
from pathlib import Path
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing
from tests.conftest import PASSWORD, build_app, csrf_token

url, instance, key_file, batch, username = sys.argv[1:6]
provider = FileKeyProvider(Path(key_file), strict_permissions=True)
keys = KeyRing.open(provider, generate_missing=False, required=tuple(KeyPurpose))
app = build_app(url, Path(instance), keys)
client = app.test_client()
login = {"csrf_token": csrf_token(client, "/login"), "username": username, "password": PASSWORD}
assert client.post("/login", data=login).status_code == 302
token = csrf_token(client, f"/cards/batches/{batch}")
form = {"csrf_token": token, "layout": "card_printer"}
rendered = client.post(f"/cards/batches/{batch}/render", data=form)
page = client.get(f"/cards/batches/{batch}")
spool = Path(instance) / "print-spool"
print(json.dumps({
    "render": rendered.status_code,
    "status": page.status_code,
    "page": page.get_data(as_text=True),
    "spool": sorted(os.listdir(spool)),
    "free": os.statvfs(spool).f_bavail * os.statvfs(spool).f_frsize,
}))
"""


def _namespace() -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: no private tmpfs to fill")
    # As root a private mount namespace; otherwise a user namespace maps us to root inside it.
    command = ["unshare", "-m", "--propagation", "private"]
    if os.geteuid() != 0:
        command.insert(1, "-r")
    probe = subprocess.run([*command, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace here: {probe.stderr.strip()}")
    return command


def test_full_disk_while_writing_the_pdf(keys: KeyRing, tmp_path: Path) -> None:
    namespace = _namespace()
    url = f"sqlite:///{tmp_path / 'idsys.sqlite3'}"
    instance = tmp_path / "instance"
    app = build_app(url, instance, keys)
    migrate_to_head(app)
    staff = make_staff(app, keys)
    approved_applications(app, keys, staff, 3)
    batch_id = release(app, keys, staff)
    spool = instance / "print-spool"
    spool.mkdir(mode=0o700, parents=True)

    child = subprocess.run(
        [
            *namespace,
            "sh",
            "-c",
            'mount -t tmpfs -o size=16k,mode=0700 idsys-full "$0" && exec "$@"',
            str(spool),
            sys.executable,
            "-c",
            CHILD,
            url,
            str(instance),
            str(keys.provider.path),  # type: ignore[attr-defined]
            str(batch_id),
            staff.clerk,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["free"] < 64 * 1024, "the spool was not the tiny tmpfs"
    assert seen["render"] == 302
    assert seen["status"] == 200
    assert "No space left on device" in seen["page"]
    assert "Free disk space on the server and render again" in seen["page"]
    assert 'role="alert"' in seen["page"]
    assert seen["spool"] == [], "a partial or temporary PDF was left behind"
    assert "Prepare PDF" in seen["page"]  # the clerk can render again
    assert "/download/" not in seen["page"]
    assert os.listdir(spool) == []  # the real disk under the mount: nothing either

    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        assert batch.status == "released"
        assert batch.render_finished_at is None
        assert {item.card.status for item in batch.items} == {"pending_print"}
        db.session.rollback()

    # Space is back (outside the namespace the spool is the ordinary disk): render again.
    client = app.test_client()
    login = {"csrf_token": csrf_token(client, "/login"), "username": staff.clerk}
    assert client.post("/login", data={**login, "password": PASSWORD}).status_code == 302
    token = csrf_token(client, f"/cards/batches/{batch_id}")
    rendered = client.post(
        f"/cards/batches/{batch_id}/render", data={"csrf_token": token, "layout": "card_printer"}
    )
    assert rendered.status_code == 302
    page = client.get(f"/cards/batches/{batch_id}").get_data(as_text=True)
    assert "No space left" not in page
    assert f"/cards/batches/{batch_id}/download/card_printer" in page
    assert os.listdir(spool) == [f"batch-{batch_id}-card_printer.pdf"]
    assert (spool / f"batch-{batch_id}-card_printer.pdf").read_bytes().startswith(b"%PDF")
    app.extensions["idsys.db"].engine.dispose()
