"""Admin forms for the partner registry."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from idsys.verification.models import PartnerKind, Scope

SCOPE_CHOICES = [
    SelectChoice(Scope.STATUS.value, _l("Status only (valid, expired, revoked)")),
    SelectChoice(Scope.IDENTITY.value, _l("Status, name and date of birth")),
    SelectChoice(Scope.PHOTO.value, _l("Status, name, date of birth and photo")),
]


class PartnerForm(FlaskForm):
    name = StringField(
        _l("Organisation"),
        validators=[DataRequired(), Length(min=2, max=120)],
        render_kw={"autofocus": True},
    )
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(k.value, k.value.capitalize()) for k in PartnerKind]
    )
    contact = StringField(
        _l("Contact (name, phone or email of the responsible person)"), validators=[Length(max=200)]
    )
    scope = SelectField(_l("What the agreement allows"), choices=SCOPE_CHOICES)
    daily_quota = IntegerField(
        _l("Daily quota (verifications per day)"),
        default=2000,
        validators=[DataRequired(), NumberRange(min=1, max=1_000_000)],
    )


class PartnerEditForm(FlaskForm):
    contact = StringField(_l("Contact"), validators=[Length(max=200)])
    scope = SelectField(_l("What the agreement allows"), choices=SCOPE_CHOICES)
    daily_quota = IntegerField(
        _l("Daily quota"), validators=[DataRequired(), NumberRange(min=1, max=1_000_000)]
    )
    enabled = BooleanField(_l("Access enabled"))


class KeyActionForm(FlaskForm):
    """CSRF-protected confirmation for issuing or revoking a key."""
