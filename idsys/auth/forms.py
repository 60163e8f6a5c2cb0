"""Staff account forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from idsys.auth.models import DEFAULT_SITE, Role

# Role labels are translated where shown (listed for extraction in idsys.i18n.ENUM_MESSAGES).
ROLE_CHOICES = [SelectChoice(r.value, _l(r.label)) for r in Role]


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class TotpForm(FlaskForm):
    code = StringField(
        _l("6-digit code"),
        validators=[
            DataRequired(),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password", "autofocus": True},
    )
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=12, max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


def _site_field() -> StringField:
    """The enrolment site code; the statistics count each application at its clerk's site."""
    return StringField(
        _l("Enrolment site"),
        default=DEFAULT_SITE,
        filters=[lambda value: (value or "").strip().lower()],
        validators=[
            DataRequired(),
            Length(max=32),
            Regexp(
                r"^[a-z0-9][a-z0-9-]*$",
                message=_l("Lower-case letters, digits and dashes only, e.g. north-library."),
            ),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class StaffCreateForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(min=3, max=64),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                message=_l("Letters, digits, dot, dash or underscore only."),
            ),
        ],
        render_kw={"autofocus": True, "autocomplete": "off"},
    )
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    site = _site_field()


class StaffEditForm(FlaskForm):
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    site = _site_field()


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected 'yes, do it' for a confirmed action."""
