"""PostgreSQL stops in the middle of issuing a batch: no card is half-issued, and the batch
resumes once the database is back.

The test starts a PostgreSQL server of its own (initdb into a temporary folder) and stops it
with ``pg_ctl stop -m immediate`` (the way a crash or a power cut would) at the moment the first
card has been inserted, or the first card of the PDF rendered: a real interruption inside an open
transaction, not a simulated one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from idsys.applications.models import Application
from idsys.cards import services as cards
from idsys.cards.models import BatchItem, Card, PrintBatch
from idsys.crypto import KeyRing
from idsys.db import db
from tests.conftest import PASSWORD, build_app, csrf_token, migrate_to_head, register_partner
from tests.faults.support import (
    ScratchPostgres,
    Staff,
    approved_applications,
    make_staff,
    release,
    scratch_postgres,
)

CARDS = 3


@pytest.fixture
def server() -> Iterator[ScratchPostgres]:
    pg = scratch_postgres()
    try:
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def setup(server: ScratchPostgres, keys: KeyRing, tmp_path: Path) -> Iterator[tuple[Flask, Staff]]:
    app = build_app(server.create_database(), tmp_path / "instance", keys)
    migrate_to_head(app)
    staff = make_staff(app, keys)
    approved_applications(app, keys, staff, CARDS)
    yield app, staff
    app.extensions["idsys.db"].engine.dispose()


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _stop_after(app: Flask, server: ScratchPostgres, statement: str, **then: Any) -> list[bool]:
    """Stop the server right after the first ``statement`` ran, inside its transaction.

    With ``restart_after`` seconds, start it again from another thread, as an operator would.
    """
    stopped: list[bool] = []

    def after(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if stopped or not sql.lstrip().upper().startswith(statement):
            return
        stopped.append(True)
        server.stop("immediate")
        if "restart_after" in then:
            threading.Timer(then["restart_after"], server.start).start()

    event.listen(app.extensions["idsys.db"].engine, "after_cursor_execute", after)
    return stopped


def _consistent(app: Flask) -> dict[str, int]:
    """The invariants of issuance; returns the counts for the caller's expectations."""
    with app.app_context():
        session = db.session
        card_ids = set(session.scalars(select(Card.id)))
        batched = set(session.scalars(select(BatchItem.card_id)))
        assert card_ids <= batched, f"cards outside any batch: {card_ids - batched}"
        empty = session.scalars(
            select(PrintBatch.id).where(~PrintBatch.items.any())  # a batch with no card
        ).all()
        assert not empty, f"empty batches: {empty}"
        ready = {a.id for a in cards.ready_to_release(session)}
        carded = set(session.scalars(select(Card.application_id)))
        assert not ready & carded, "an application has a card but is still offered for release"
        approved = session.scalar(select(func.count()).select_from(Application)) or 0
        assert len(ready) + len(carded) == approved, "an approved application went missing"
        counts = {
            "cards": len(card_ids),
            "batches": len(set(session.scalars(select(PrintBatch.id)))),
        }
        session.rollback()
        return counts


def test_release_interrupted_by_the_database_stopping_issues_nothing_then_resumes(
    server: ScratchPostgres, setup: tuple[Flask, Staff]
) -> None:
    app, staff = setup
    client = _signed_in(app, staff.supervisor)
    page = client.get("/cards/").get_data(as_text=True)
    ids = re.findall(r'name="applications" type="checkbox" value="(\d+)"', page)
    assert len(ids) == CARDS, page
    token = csrf_token(client, "/cards/")
    stopped = _stop_after(app, server, "INSERT INTO CARDS")

    response = client.post("/cards/release", data={"csrf_token": token, "applications": ids})

    assert stopped, "the server was never stopped: the release inserted no card"
    assert response.status_code == 503, response.status_code
    assert "temporarily unavailable" in response.get_data(as_text=True)
    server.start()
    assert _consistent(app) == {"cards": 0, "batches": 0}

    # The same release, once the database is back: every card issued, in one batch.
    token = csrf_token(client, "/cards/")
    response = client.post("/cards/release", data={"csrf_token": token, "applications": ids})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _consistent(app) == {"cards": CARDS, "batches": 1}


def test_rendering_interrupted_by_the_database_stopping_resumes_when_it_returns(
    server: ScratchPostgres, setup: tuple[Flask, Staff], keys: KeyRing
) -> None:
    app, staff = setup
    batch_id = release(app, keys, staff)
    client = _signed_in(app, staff.clerk)
    token = csrf_token(client, f"/cards/batches/{batch_id}")
    # The first progress commit (one card rendered) is followed by the stop; the server comes
    # back 3 seconds later, while the render job is waiting for it.
    stopped = _stop_after(app, server, "UPDATE PRINT_BATCHES SET RENDER_DONE", restart_after=3.0)

    response = client.post(
        f"/cards/batches/{batch_id}/render", data={"csrf_token": token, "layout": "card_printer"}
    )

    assert stopped
    assert response.status_code == 302
    assert _consistent(app) == {"cards": CARDS, "batches": 1}
    page = client.get(f"/cards/batches/{batch_id}").get_data(as_text=True)
    assert "Preparing the PDF" not in page
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        assert batch.status == "released"
        assert batch.render_error is None, batch.render_error
        assert batch.render_finished_at is not None
        assert batch.render_done == CARDS
        statuses = {item.card.status for item in batch.items}
        assert statuses == {"pending_print"}
    pdf = client.get(f"/cards/batches/{batch_id}/download/card_printer")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")
    assert pdf.data.count(b"/Type /Page\n") + pdf.data.count(b"/Type /Page ") >= 2 * CARDS


def test_partner_api_answers_503_while_the_database_is_stopped(
    server: ScratchPostgres, setup: tuple[Flask, Staff], keys: KeyRing
) -> None:
    app, _ = setup
    with app.app_context():
        key = register_partner(keys)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    server.stop("immediate")
    down = client.post("/api/v1/verifications", json={"qr": "NOT-A-CARD"}, headers=headers)
    assert down.status_code == 503
    assert down.is_json and set(down.json or {}) == {"error", "message"}  # the documented Error
    server.start()
    back = client.post("/api/v1/verifications", json={"qr": "NOT-A-CARD"}, headers=headers)
    assert back.status_code == 200
    assert (back.json or {})["result"] == "invalid"
