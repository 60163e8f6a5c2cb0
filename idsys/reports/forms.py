"""The statistics page's date-range filter."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional


class ReportDateField(DateField):
    """A date field whose "not a date" message is ours, so it is translated and says what to
    type."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(
                str(_l("Enter a date as YYYY-MM-DD, for example 2026-01-31."))
            ) from None


class PeriodForm(FlaskForm):
    """Sent with GET: it only chooses what to show, so it needs no CSRF token."""

    class Meta:
        csrf = False

    start = ReportDateField(
        _l("From"), validators=[Optional()], render_kw={"placeholder": "YYYY-MM-DD"}
    )
    end = ReportDateField(
        _l("To"), validators=[Optional()], render_kw={"placeholder": "YYYY-MM-DD"}
    )
