"""A background thread per server process that seals waiting audit events into the chain.

Every process runs one; the chain head's row lock makes concurrent sealers take turns, and
`FOR UPDATE SKIP LOCKED` keeps two of them from sealing the same rows.
"""

from __future__ import annotations

import threading
import time

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idsys.audit.services import seal_all
from idsys.db import db

_started: set[int] = set()
_lock = threading.Lock()


def _run(app: Flask, interval: float) -> None:
    while True:
        time.sleep(interval)
        with app.app_context():
            try:
                seal_all(db.session, app.extensions["idsys.keyring"])
            except SQLAlchemyError:
                db.session.rollback()
                app.logger.warning("audit sealer: database unavailable; will retry")


def start(app: Flask) -> None:
    """Start this process's sealer once (on the first request, so CLI commands start none)."""
    if id(app) in _started:
        return
    interval = float(app.config.get("AUDIT_SEAL_INTERVAL") or 0)
    if interval <= 0:
        return
    with _lock:
        if id(app) in _started:
            return
        _started.add(id(app))
    threading.Thread(target=_run, args=(app, interval), name="audit-sealer", daemon=True).start()
