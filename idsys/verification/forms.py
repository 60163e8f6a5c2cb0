"""Admin forms for the partner registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    StopValidation,
)
from wtforms.widgets import HiddenInput

from idsys.db import MAX_ROW_ID
from idsys.verification.models import PartnerKind, Scope
from idsys.verification.services import MAX_QUOTA

SCOPE_CHOICES = [
    SelectChoice(Scope.STATUS.value, _l("Status only (valid, expired, revoked)")),
    SelectChoice(Scope.IDENTITY.value, _l("Status, name and date of birth")),
    SelectChoice(Scope.PHOTO.value, _l("Status, name, date of birth and photo")),
]


class BoundedIntegerField(IntegerField):
    """An IntegerField that refuses a text longer than ``max_length`` before converting it.

    WTForms' NumberRange checks ``math.isnan(value)``, which converts the number to a float: a
    few hundred digits raise OverflowError there (a 500), and a number past 64 bits cannot
    even be compared with a column in SQLite.
    """

    def __init__(self, *args: Any, max_length: int, message: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_length, self.message = max_length, message

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        if valuelist and isinstance(valuelist[0], str) and len(valuelist[0]) > self.max_length:
            self.data = None
            raise ValueError(self.message)
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(self.message) from exc

    def pre_validate(self, form: Any) -> None:
        # Not a number: that message says it all; the validators would only add a second one.
        if self.process_errors:
            raise StopValidation()


QUOTA_MESSAGE = _l("Give a whole number from 1 to 1,000,000.")


def quota_field(label: Any, **kwargs: Any) -> BoundedIntegerField:
    return BoundedIntegerField(
        label,
        max_length=20,  # room for spaces around 1000000, far from anything that overflows
        message=QUOTA_MESSAGE,
        validators=[InputRequired(), NumberRange(min=1, max=MAX_QUOTA, message=QUOTA_MESSAGE)],
        **kwargs,
    )


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
    daily_quota = quota_field(_l("Daily quota (verifications per day)"), default=2000)


class PartnerEditForm(FlaskForm):
    contact = StringField(_l("Contact"), validators=[Length(max=200)])
    scope = SelectField(_l("What the agreement allows"), choices=SCOPE_CHOICES)
    daily_quota = quota_field(_l("Daily quota"))


class KeyActionForm(FlaskForm):
    """CSRF-protected confirmation for revoking a key."""


class AccessForm(FlaskForm):
    """Confirmation for enabling or disabling a partner, naming the state it asks for."""

    target = HiddenField(validators=[InputRequired(), AnyOf(["enabled", "disabled"])])


class KeyIssueForm(FlaskForm):
    """Issue a key. The form carries the partner's newest key id as it was when the page was
    drawn, so that it issues one key at most: the CSRF token stays valid, and a reload of the
    page showing the new key (or Back and resubmit) would otherwise issue another one that
    nobody noted. A form that needs no storage: sessions are signed cookies, shared by no
    worker, and the keys table already says whether a key came after the page."""

    newest_key = BoundedIntegerField(
        max_length=10,
        message=_l("This form is out of date: open the partner's page again."),
        widget=HiddenInput(),
        validators=[InputRequired(), NumberRange(min=0, max=MAX_ROW_ID)],
    )
