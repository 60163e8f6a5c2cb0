"""Sealing waiting audit events into the chain, on a timer.

By default every server process runs a background thread for it; the chain head's row lock makes
concurrent sealers take turns, and `FOR UPDATE SKIP LOCKED` keeps two of them from sealing the
same rows. A busy deployment can instead set ``IDSYS_AUDIT_SEAL_INTERVAL=0`` and run
``flask idsys audit-seal --every SECONDS`` as a service of its own: each seal is a burst of work,
and inside a request worker that burst delays the requests the worker serves (bench/README.md).
"""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idsys.audit.services import seal_all
from idsys.db import db

_started: set[int] = set()
_lock = threading.Lock()


def seal_every(app: Flask, interval: float, stop: threading.Event) -> int:
    """Seal what is waiting every ``interval`` seconds until ``stop`` is set; returns how many
    events were sealed. A database that does not answer is logged and tried again next time:
    the waiting rows keep their MACs meanwhile."""
    total = 0
    while not stop.wait(interval):
        with app.app_context():
            try:
                total += seal_all(db.session, app.extensions["idsys.keyring"])
            except SQLAlchemyError:
                db.session.rollback()
                app.logger.warning("audit sealer: database unavailable; will retry")
    return total


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
    threading.Thread(
        target=seal_every,
        args=(app, interval, threading.Event()),
        name="audit-sealer",
        daemon=True,
    ).start()
