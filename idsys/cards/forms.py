"""Forms for print batches and card actions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectMultipleField
from wtforms.validators import DataRequired
from wtforms.widgets import CheckboxInput, ListWidget


class ReleaseForm(FlaskForm):
    applications = SelectMultipleField(
        _l("Applications to print"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class RenderForm(FlaskForm):
    layout = RadioField(
        _l("Printer"),
        choices=[
            SelectChoice("card_printer", _l("Card printer (one card per page, duplex)")),
            SelectChoice("sheet_letter", _l("Sheet printer, Letter (8 per sheet, crop marks)")),
            SelectChoice("sheet_a4", _l("Sheet printer, A4 (8 per sheet, crop marks)")),
        ],
        default="card_printer",
        validators=[DataRequired()],
    )


class HandOverForm(FlaskForm):
    delivery = RadioField(
        _l("How the card reached the person"),
        choices=[
            SelectChoice("pickup", _l("Handed over in person")),
            SelectChoice("mail", _l("Mailed")),
        ],
        default="pickup",
        validators=[DataRequired()],
    )


class ReportForm(FlaskForm):
    reason = RadioField(
        _l("What happened to the card?"),
        choices=[
            SelectChoice("lost", _l("Lost")),
            SelectChoice("stolen", _l("Stolen")),
            SelectChoice("damaged", _l("Damaged")),
        ],
        validators=[DataRequired(message=_l("Choose what happened."))],
    )


class ConfirmForm(FlaskForm):
    """CSRF-protected confirmation for renew, reprint, revoke and printed."""
