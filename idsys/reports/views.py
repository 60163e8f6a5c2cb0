"""The statistics page and its CSV download (admins and supervisors).

Both parse the date range, ask the service for the suppressed figures and show or send them; the
view commits because the service may have stored the counts of months that closed since the last
visit.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from markupsafe import Markup

from idsys.auth.access import roles_required
from idsys.auth.models import Role
from idsys.db import db
from idsys.extensions import policy
from idsys.policy import local_date
from idsys.reports import charts, services
from idsys.reports.forms import PeriodForm

bp = Blueprint("reports", __name__, url_prefix="/statistics", template_folder="templates")

STATISTICS = (Role.ADMIN, Role.SUPERVISOR)


def _period(form: PeriodForm, now: datetime) -> services.Period | None:
    """The chosen whole months, or None with the problem set on its field."""
    if not form.validate():
        return None
    today = local_date(policy(), now)
    try:
        period = services.make_period(form.start.data, form.end.data, today)
    except services.InvalidPeriod as exc:
        field = form.start if exc.field == "start" else form.end
        field.errors = [*field.errors, _(exc.message, **exc.params)]
        return None
    if form.start.data is None:
        form.start.data = period.first
    if form.end.data is None:
        form.end.data = min(period.end, today)
    return period


def _number(value: int) -> str:
    return str(format_decimal(value))


def _chart(figure: services.Figure) -> Markup:
    table = figure.table
    description = _("The same figures are in the table below.")

    def point(row: int, col: int) -> charts.Point:
        return charts.Point(table.cell(row, col), table.marker((row, col)))

    if figure.chart == "bars":
        points = [point(i, 0) for i in range(table.rows)]
        return charts.bars(
            figure.key, figure.title, description, figure.row_labels, points, _number
        )
    series = [
        charts.Series(label, tuple(point(i, j) for i in range(table.rows)))
        for j, label in enumerate(figure.col_labels)
    ]
    return charts.columns(figure.key, figure.title, description, figure.row_labels, series, _number)


@bp.get("/")
@roles_required(*STATISTICS)
def dashboard() -> Any:
    form = PeriodForm(request.args)
    now = datetime.now(UTC)
    period = _period(form, now)
    if period is None:
        return render_template("reports/dashboard.html", form=form, board=None), 400
    board = services.dashboard(db.session, policy(), period, now=now, translate=_)
    db.session.commit()
    return render_template(
        "reports/dashboard.html",
        form=form,
        board=board,
        charts={figure.key: _chart(figure) for figure in board.figures},
        number=_number,
        ongoing=period.last == services.month_start(local_date(policy(), now)),
        period_args={"start": period.first.isoformat(), "end": period.end.isoformat()},
    )


@bp.get("/figures.csv")
@roles_required(*STATISTICS)
def download() -> Any:
    form = PeriodForm(request.args)
    now = datetime.now(UTC)
    period = _period(form, now)
    if period is None:
        # The page says what is wrong, next to the field.
        start, end = request.args.get("start", ""), request.args.get("end", "")
        return redirect(url_for("reports.dashboard", start=start, end=end))
    board = services.dashboard(db.session, policy(), period, now=now)
    db.session.commit()
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(services.csv_rows(board))
    name = f"idsys-statistics-{period.first:%Y-%m}-to-{period.last:%Y-%m}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
