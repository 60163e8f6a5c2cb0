"""A batch's PDF rendering: a dead one is recognised and can be started again, a running one is
not started twice, a replaced one steps aside, and no partial PDF outlives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from idsys.audit.services import SYSTEM
from idsys.auth.models import Role
from idsys.cards import services
from idsys.cards.models import PrintBatch
from idsys.cards.services import RenderState
from idsys.cards.views import _render_job
from idsys.db import db
from tests.conftest import csrf_token, login

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def _batch(**render: Any) -> PrintBatch:
    return PrintBatch(status="released", released_by=1, render_done=0, **render)


@pytest.mark.parametrize(
    ("render", "state"),
    [
        ({}, RenderState.NONE),
        ({"render_started_at": NOW - timedelta(seconds=5)}, RenderState.RUNNING),
        (
            {"render_started_at": NOW - timedelta(hours=1), "render_beat_at": NOW},
            RenderState.RUNNING,
        ),
        # Two minutes without a heartbeat is still running; a second more is not.
        (
            {
                "render_started_at": NOW - timedelta(hours=1),
                "render_beat_at": NOW - timedelta(minutes=2),
            },
            RenderState.RUNNING,
        ),
        (
            {
                "render_started_at": NOW - timedelta(hours=1),
                "render_beat_at": NOW - timedelta(minutes=2, seconds=1),
            },
            RenderState.STALLED,
        ),
        # Started before heartbeats existed (upgraded mid-rendering), long ago.
        ({"render_started_at": NOW - timedelta(minutes=10)}, RenderState.STALLED),
        # SQLite gives back naive times: they are UTC.
        (
            {"render_started_at": (NOW - timedelta(minutes=3)).replace(tzinfo=None)},
            RenderState.STALLED,
        ),
        (
            {"render_started_at": NOW - timedelta(minutes=10), "render_finished_at": NOW},
            RenderState.FINISHED,
        ),
        (
            {"render_started_at": NOW - timedelta(minutes=10), "render_error": "disk full"},
            RenderState.FAILED,
        ),
    ],
)
def test_render_state(render: dict[str, Any], state: RenderState) -> None:
    assert services.render_state(_batch(**render), NOW) is state


def _spool(app: Flask) -> Path:
    spool = Path(app.instance_path) / "print-spool"
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    return spool


def _set_render(app: Flask, batch_id: int, started: datetime, beat: datetime) -> None:
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        batch.render_layout = "card_printer"
        batch.render_started_at, batch.render_beat_at = started, beat
        batch.render_done = 0
        db.session.commit()


def test_a_dead_rendering_can_be_started_again(app: Flask, make_card: Any, make_user: Any) -> None:
    _, batch_id = make_card()
    now = datetime.now(UTC)
    _set_render(app, batch_id, now - timedelta(minutes=10), now - timedelta(minutes=9))
    partial = _spool(app) / f".batch-{batch_id}-k1ll3d.pdf"
    partial.write_bytes(b"%PDF-1.4 half a card")
    clerk = app.test_client()
    login(clerk, make_user(Role.CLERK))
    url = f"/cards/batches/{batch_id}"
    page = clerk.get(url).get_data(as_text=True)
    assert "Preparing the PDF stopped after 0 of 1 cards" in page
    assert 'http-equiv="refresh"' not in page
    assert "disabled" not in page.split("Prepare PDF")[0].rsplit("<button", 1)[1]
    assert clerk.get(f"{url}/progress").json["stalled"] is True
    token = csrf_token(clerk, url)
    clerk.post(f"{url}/render", data={"csrf_token": token, "layout": "card_printer"})
    progress = clerk.get(f"{url}/progress").json
    assert progress == {"done": 1, "total": 1, "finished": True, "stalled": False, "error": None}
    assert not partial.exists(), "the partial PDF of the dead rendering is deleted"
    assert (_spool(app) / f"batch-{batch_id}-card_printer.pdf").exists()


def test_a_running_rendering_is_not_started_twice(
    app: Flask, make_card: Any, make_user: Any
) -> None:
    _, batch_id = make_card()
    now = datetime.now(UTC)
    _set_render(app, batch_id, now - timedelta(seconds=30), now - timedelta(seconds=1))
    clerk = app.test_client()
    login(clerk, make_user(Role.CLERK))
    url = f"/cards/batches/{batch_id}"
    page = clerk.get(url).get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "Preparing the PDF: 0 of 1 cards." in page
    token = csrf_token(clerk, url)
    answer = clerk.post(
        f"{url}/render",
        data={"csrf_token": token, "layout": "sheet_a4"},
        follow_redirects=True,
    )
    assert "already being prepared" in answer.get_data(as_text=True)
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        assert batch.render_layout == "card_printer" and batch.render_finished_at is None
    assert not list(_spool(app).glob(f"batch-{batch_id}-*.pdf"))


def test_a_replaced_rendering_leaves_the_batch_alone(app: Flask, make_card: Any) -> None:
    _, batch_id = make_card()
    now = datetime.now(UTC)
    _set_render(app, batch_id, now, now)
    # A job started a minute earlier, since replaced, gets the database back only now.
    _render_job(app, batch_id, "card_printer", now - timedelta(minutes=1))
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        assert batch.render_finished_at is None and batch.render_error is None
        assert batch.render_done == 0
    assert not list(_spool(app).glob(f"*batch-{batch_id}-*.pdf"))


def test_printing_deletes_partial_files_too(app: Flask, keys: Any, make_card: Any) -> None:
    _, batch_id = make_card()
    partial = _spool(app) / f".batch-{batch_id}-k1ll3d.pdf"
    partial.write_bytes(b"%PDF-1.4 half a card")
    other = _spool(app) / f".batch-{batch_id + 10}-k1ll3d.pdf"
    other.write_bytes(b"%PDF-1.4 another batch")
    with app.app_context():
        batch = db.session.get(PrintBatch, batch_id)
        assert batch is not None
        services.mark_batch_printed(db.session, keys, SYSTEM, batch, _spool(app))
        db.session.commit()
    assert not partial.exists()
    assert other.exists(), "another batch's rendering is not touched"
