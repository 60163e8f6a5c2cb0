"""Print queue, batch PDFs, card lifecycle pages, and the public key set."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from idsys.applications import services as applications
from idsys.applications.models import Applicant
from idsys.applications.reference import InvalidReference
from idsys.applications.reference import display as display_reference
from idsys.auth.access import public, roles_required
from idsys.auth.models import Role
from idsys.auth.services import actor_of
from idsys.cards import services
from idsys.cards.forms import ConfirmForm, HandOverForm, ReleaseForm, RenderForm, ReportForm
from idsys.cards.labels import card_labels
from idsys.cards.models import Card, PrintBatch, RevocationReason
from idsys.cards.numbers import display as display_number
from idsys.db import db
from idsys.extensions import keyring, policy
from idsys.policy import can_renew, local_date

bp = Blueprint("cards", __name__, url_prefix="/cards", template_folder="templates")
keys_bp = Blueprint("keys", __name__)

COUNTER = (Role.CLERK, Role.SUPERVISOR)
# How long a PDF rendering waits for a database that stopped answering before it gives up.
DATABASE_WAIT = 300.0


def _today() -> Any:
    return local_date(policy(), datetime.now(UTC))


def _spool() -> Path:
    """Rendered batch PDFs hold personal data: owner-only, deleted once the batch is printed."""
    return Path(current_app.instance_path) / "print-spool"


def _batch_or_404(batch_id: int) -> PrintBatch:
    batch = db.session.get(PrintBatch, batch_id)
    if batch is None:
        abort(404)
    return batch


def _card_or_404(card_id: int) -> Card:
    card = db.session.get(Card, card_id)
    if card is None:
        abort(404)
    return card


@keys_bp.get("/.well-known/jwks.json")
@public
def jwks() -> Any:
    """The public keys that verify card QR codes, for any offline Claim 169 verifier."""
    response = jsonify(services.public_key_set(keyring()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/")
@roles_required(*COUNTER)
def queue() -> Any:
    ready = services.ready_to_release(db.session)
    form = ReleaseForm()
    form.applications.choices = [(a.id, display_reference(a.reference)) for a in ready]
    form.applications.data = [a.id for a in ready]
    return render_template(
        "cards/queue.html",
        ready=ready,
        form=form,
        batches=services.open_batches(db.session),
        display=display_reference,
        can_release=current_user.role == Role.SUPERVISOR.value,
    )


@bp.post("/release")
@roles_required(Role.SUPERVISOR)
def release() -> Any:
    form = ReleaseForm()
    form.applications.choices = [(a.id, a.reference) for a in services.ready_to_release(db.session)]
    if not form.validate_on_submit():
        flash(_("Choose at least one application to print."), "error")
        return redirect(url_for("cards.queue"))
    result = services.release_batch(
        db.session,
        keyring(),
        actor_of(current_user),
        policy(),
        today=_today(),
        issuer=current_app.config["ISSUER"],
        labels=card_labels(policy()),
        application_ids=list(form.applications.data or []),
    )
    db.session.commit()
    for reference, problem in result.problems:
        flash(
            _(
                "%(ref)s was not released: %(problem)s",
                ref=display_reference(reference),
                problem=problem,
            ),
            "error",
        )
    if result.batch is None:
        flash(_("Nothing was released."), "info")
        return redirect(url_for("cards.queue"))
    flash(
        _("Batch %(id)s released with %(n)s cards.", id=result.batch.id, n=len(result.batch.items)),
        "success",
    )
    return redirect(url_for("cards.batch", batch_id=result.batch.id))


@bp.get("/batches/<int:batch_id>")
@roles_required(*COUNTER)
def batch(batch_id: int) -> Any:
    item_batch = _batch_or_404(batch_id)
    files = {
        layout: (_spool() / f"batch-{batch_id}-{layout}.pdf").exists()
        for layout in services.LAYOUTS
    }
    state = services.render_state(item_batch, datetime.now(UTC))
    return render_template(
        "cards/batch.html",
        batch=item_batch,
        files=files,
        rendering=state is services.RenderState.RUNNING,
        stalled=state is services.RenderState.STALLED,
        form=RenderForm(),
        confirm=ConfirmForm(),
        display=display_number,
    )


@bp.get("/batches/<int:batch_id>/progress")
@roles_required(*COUNTER)
def batch_progress(batch_id: int) -> Any:
    item_batch = _batch_or_404(batch_id)
    state = services.render_state(item_batch, datetime.now(UTC))
    return jsonify(
        {
            "done": item_batch.render_done,
            "total": len(item_batch.items),
            "finished": item_batch.render_finished_at is not None,
            "stalled": state is services.RenderState.STALLED,
            "error": item_batch.render_error,
        }
    )


def _render_job(app: Flask, batch_id: int, layout: services.Layout, token: datetime) -> None:
    """Render in its own app context and session; progress is committed as it goes.

    When the database stops answering, the job waits for it (up to DATABASE_WAIT seconds) and
    renders the batch again from the start: the PDF only takes its real name once complete.
    """
    deadline = time.monotonic() + DATABASE_WAIT
    pause = 0.5
    with app.app_context():
        while True:
            try:
                _render_once(app, batch_id, layout, token)
                return
            except OperationalError:
                db.session.rollback()
                if time.monotonic() + pause > deadline:
                    app.logger.exception(
                        "rendering batch %s: the database did not return", batch_id
                    )
                    return
                app.logger.warning("rendering batch %s: database unavailable; retrying", batch_id)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)


def _render_once(app: Flask, batch_id: int, layout: services.Layout, token: datetime) -> None:
    """One attempt; it leaves the batch alone once a newer rendering has replaced it."""
    session = db.session
    item_batch = session.get(PrintBatch, batch_id)
    if item_batch is None or not services.render_is_current(session, batch_id, token):
        return

    def progress(done: int, _total: int) -> None:
        if not services.render_is_current(session, batch_id, token):
            raise services.RenderSuperseded()
        item_batch.render_done = done
        item_batch.render_beat_at = datetime.now(UTC)
        session.commit()

    try:
        services.render_batch_file(
            session,
            keyring(),
            item_batch,
            policy(),
            issuer=app.config["ISSUER"],
            labels=card_labels(policy()),
            layout=layout,
            directory=_spool(),
            progress=progress,
        )
    except services.RenderSuperseded:
        session.rollback()
        return
    except OSError as exc:
        session.rollback()
        if not services.render_is_current(session, batch_id, token):
            return
        item_batch.render_error = (
            f"The PDF could not be written ({exc.strerror or exc}). Free disk space on "
            "the server and render again; the batch is unchanged."
        )[:200]
    except OperationalError:
        raise  # the database is away: _render_job waits for it
    except Exception as exc:
        session.rollback()
        app.logger.exception("rendering batch %s failed", batch_id)
        if not services.render_is_current(session, batch_id, token):
            return
        item_batch.render_error = f"Rendering failed: {exc}"[:200]
    else:
        if not services.render_is_current(session, batch_id, token):
            return  # its file is complete, but the newer rendering's state is not its to set
        item_batch.render_finished_at = datetime.now(UTC)
    session.commit()


@bp.post("/batches/<int:batch_id>/render")
@roles_required(*COUNTER)
def render(batch_id: int) -> Any:
    item_batch = _batch_or_404(batch_id)
    form = RenderForm()
    if not form.validate_on_submit():
        abort(400)
    layout: services.Layout = form.layout.data
    try:
        token = services.start_render(item_batch, layout, _spool(), datetime.now(UTC))
    except services.RenderRunning:
        db.session.rollback()
        flash(_("This batch's PDF is already being prepared; it shows here when ready."), "info")
        return redirect(url_for("cards.batch", batch_id=batch_id))
    db.session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if current_app.config["CARD_RENDER_INLINE"]:
        _render_job(app, batch_id, layout, token)
    else:
        job = threading.Thread(target=_render_job, args=(app, batch_id, layout, token), daemon=True)
        job.start()
    return redirect(url_for("cards.batch", batch_id=batch_id))


@bp.get("/batches/<int:batch_id>/download/<layout>")
@roles_required(*COUNTER)
def download(batch_id: int, layout: str) -> Any:
    _batch_or_404(batch_id)
    if layout not in services.LAYOUTS:
        abort(404)
    path = _spool() / f"batch-{batch_id}-{layout}.pdf"
    if not path.exists():
        flash(_("Render the PDF first."), "info")
        return redirect(url_for("cards.batch", batch_id=batch_id))
    return send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"idsys-batch-{batch_id}-{layout}.pdf",
        max_age=0,
    )


@bp.post("/batches/<int:batch_id>/printed")
@roles_required(*COUNTER)
def printed(batch_id: int) -> Any:
    item_batch = _batch_or_404(batch_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.mark_batch_printed(
            db.session, keyring(), actor_of(current_user), item_batch, _spool()
        )
    except services.CardError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Batch %(id)s marked printed: its cards are now valid.", id=batch_id), "success")
    return redirect(url_for("cards.batch", batch_id=batch_id))


@bp.get("/history/<reference>")
@roles_required(*COUNTER)
def history_by_reference(reference: str) -> Any:
    try:
        application = applications.get_application(db.session, reference)
    except (InvalidReference, applications.ApplicationNotFound):
        abort(404)
    cards = (
        []
        if application.applicant_id is None
        else services.history(db.session, application.applicant_id)
    )
    if not cards:
        flash(_("No card has been issued for this person yet."), "info")
        return redirect(url_for("intake.review", reference=application.reference))
    return redirect(url_for("cards.card", card_id=cards[0].id))


@bp.get("/<int:card_id>")
@roles_required(*COUNTER)
def card(card_id: int) -> Any:
    item = _card_or_404(card_id)
    applicant = db.session.get(Applicant, item.applicant_id)
    person = None
    if applicant is not None and not applicant.erased:
        person = applications.read_profile(keyring(), applicant)
    today = _today()
    renewable = (
        item.status == "active"
        and item.expires_on is not None
        and can_renew(policy(), item.expires_on, today)
    )
    return render_template(
        "cards/card.html",
        card=item,
        person=person,
        today=today,
        renewable=renewable,
        history=services.history(db.session, item.applicant_id),
        display=display_number,
        hand_over=HandOverForm(),
        report=ReportForm(),
        confirm=ConfirmForm(),
    )


@bp.post("/<int:card_id>/<action>")
@roles_required(*COUNTER)
def card_action(card_id: int, action: str) -> Any:
    item = _card_or_404(card_id)
    actor, keys, rules = actor_of(current_user), keyring(), policy()
    target = item
    try:
        if action == "hand-over":
            form = HandOverForm()
            if not form.validate_on_submit():
                abort(400)
            services.hand_over(db.session, keys, actor, item, form.delivery.data)
            message = _("Hand-over recorded.")
        elif action == "report":
            report = ReportForm()
            if not report.validate_on_submit():
                flash(_("Choose what happened to the card."), "error")
                return redirect(url_for("cards.card", card_id=card_id))
            target = services.replace(
                db.session, keys, actor, rules, item, RevocationReason(report.reason.data), _today()
            )
            message = _("The card is revoked; a replacement is queued for printing.")
        elif action in {"renew", "reprint", "revoke-fraud"}:
            if not ConfirmForm().validate_on_submit():
                abort(400)
            if action == "renew":
                target = services.renew(db.session, keys, actor, rules, item, _today())
                message = _("Renewal queued for printing.")
            elif action == "reprint":
                reprint_batch = services.reprint(db.session, keys, actor, item)
                db.session.commit()
                return redirect(url_for("cards.batch", batch_id=reprint_batch.id))
            else:
                if current_user.role != Role.SUPERVISOR.value:
                    abort(403)
                services.revoke(db.session, keys, actor, item, RevocationReason.FRAUD)
                message = _("The card is revoked.")
        else:
            abort(404)
    except services.CardError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("cards.card", card_id=card_id))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("cards.card", card_id=target.id))
