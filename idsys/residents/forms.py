"""Residents' forms: the status look-up, the pre-application, and the counter's code entry.

Every message a resident can see is set here in words written for residents (WTForms' own
messages are not translated into every language idsys speaks), and every field reports next to
itself so a screen reader announces the problem with the field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from idsys.applications.forms import LANGUAGE_CHOICES
from idsys.applications.profile import AddressKind
from idsys.applications.reference import InvalidReference, MistypedReference
from idsys.applications.reference import normalise as normalise_reference

TOO_LONG = _l("Too long: at most %(max)d characters.")


class ResidentDateField(DateField):
    """A date field whose "not a date" message is ours, so it is translated like the rest."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(_l("Enter a real date, for example 1990-05-17."))) from None


def plausible_birth_date(form: Any, field: Any) -> None:
    value = field.data
    if isinstance(value, date) and not date(1900, 1, 1) <= value <= date(2100, 12, 31):
        raise ValidationError(_l("Check the year of birth."))


def well_formed_code(form: Any, field: Any) -> None:
    """A typing mistake is named as such: the check character reveals nothing about anyone."""
    try:
        normalise_reference(field.data or "")
    except MistypedReference:
        raise ValidationError(
            _l("This number has a typing mistake: check each character.")
        ) from None
    except InvalidReference:
        raise ValidationError(
            _l("The number has 10 letters and digits, like ABCD-EFGH-JK.")
        ) from None


def _code_field(label: Any, **render_kw: Any) -> StringField:
    return StringField(
        label,
        validators=[DataRequired(message=_l("Enter the number.")), well_formed_code],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "placeholder": "ABCD-EFGH-JK",
            **render_kw,
        },
    )


def _date_of_birth() -> ResidentDateField:
    return ResidentDateField(
        _l("Date of birth"),
        validators=[
            InputRequired(message=_l("Enter your date of birth.")),
            plausible_birth_date,
        ],
        render_kw={"autocomplete": "bday"},
    )


class StatusForm(FlaskForm):
    reference = _code_field(_l("Application reference number"))
    date_of_birth = _date_of_birth()


def _text(label: Any, max_len: int, **render_kw: Any) -> StringField:
    return StringField(
        label,
        validators=[Optional(), Length(max=max_len, message=TOO_LONG)],
        render_kw=render_kw or None,
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        values = {str(choice[0]) for choice in self.iter_choices()}
        if any(str(value) not in values for value in self.data or ()):
            raise ValidationError(_l("Choose documents from the list."))


# Each language in its own name and marked with its language, so a screen reader says it right.
RESIDENT_LANGUAGE_CHOICES = [
    SelectChoice(code, label.split(" (")[0], render_kw={"lang": code})
    for code, label in LANGUAGE_CHOICES
    if code
]


class PreApplicationForm(FlaskForm):
    """The resident's own details (the same rules as at the counter) and documents planned."""

    given_names = _text(_l("Given names"), 100, autocomplete="given-name")
    family_names = _text(_l("Family names"), 100, autocomplete="family-name")
    date_of_birth = _date_of_birth()
    address_kind = RadioField(
        _l("Address"),
        choices=[
            SelectChoice(AddressKind.HOME.value, _l("My home address")),
            SelectChoice(
                AddressKind.CARE_OF.value,
                _l("Care of a shelter or organisation that receives my mail"),
            ),
            SelectChoice(
                AddressKind.CONFIDENTIAL.value,
                _l("Confidential: keep no address and let me pick up the card in person"),
            ),
        ],
        default=AddressKind.HOME.value,
        validators=[DataRequired(message=_l("Choose one."))],
    )
    care_of = _text(_l("Shelter or organisation"), 120)
    line1 = _text(_l("Street and number"), 120, autocomplete="address-line1")
    line2 = _text(_l("Apartment, floor (optional)"), 120, autocomplete="address-line2")
    city = _text(_l("City"), 120, autocomplete="address-level2")
    postal_code = _text(_l("Postal code"), 20, autocomplete="postal-code")
    phone = _text(_l("Phone (optional)"), 32, autocomplete="tel", inputmode="tel")
    email = _text(_l("Email (optional)"), 254, autocomplete="email", inputmode="email")
    emergency_contact_name = _text(_l("Emergency contact (optional)"), 120)
    emergency_contact_phone = _text(_l("Emergency contact's phone (optional)"), 32, inputmode="tel")
    gender = SelectField(
        _l("Gender on the card"),
        choices=[
            SelectChoice("", _l("Not shown")),
            SelectChoice("F", _l("F (female)")),
            SelectChoice("M", _l("M (male)")),
            SelectChoice("X", _l("X (another gender, or not specified)")),
        ],
        default="",
    )
    language1 = SelectField(
        _l("Language you prefer"),
        choices=[SelectChoice("", _l("None chosen")), *RESIDENT_LANGUAGE_CHOICES],
        default="",
    )
    language2 = SelectField(
        _l("Another language you speak (optional)"),
        choices=[SelectChoice("", _l("None chosen")), *RESIDENT_LANGUAGE_CHOICES],
        default="",
    )
    has_caretaker = BooleanField(_l("A parent or caretaker will come with me"))
    documents = MultiCheckboxField(_l("Documents you will bring"))


class PreApplicationCodeForm(FlaskForm):
    """At the counter: the code typed, or read by a scanner that types it (GET: it changes
    nothing until the clerk confirms)."""

    class Meta:
        csrf = False

    # Focused, so that a keyboard-wedge scanner at the counter types straight into it.
    code = _code_field(_l("Pre-application code"), autofocus=True)


class ClaimForm(FlaskForm):
    """The clerk's confirmation: the code travels in a hidden field with the CSRF token."""

    code = HiddenField(validators=[DataRequired(), Length(max=20)])
