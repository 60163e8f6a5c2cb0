"""Forms of the applicant records domain (intake forms come with the counter screens)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class ApplicantLookupForm(FlaskForm):
    applicant_id = StringField(
        _l("Applicant id"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autofocus": True, "autocomplete": "off"},
    )


class EraseForm(FlaskForm):
    confirm = StringField(
        _l("Type ERASE to confirm"),
        validators=[DataRequired(), Length(max=16)],
        render_kw={"autocomplete": "off"},
    )
