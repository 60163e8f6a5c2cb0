"""Forms of the applicant records domain: counter intake, supervisor decisions, admin erasure.

Every field validates on its own and reports next to itself; service-level errors (a profile rule,
a photo problem) are attached to the field they concern by the view.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from idsys.applications.models import ApplicationKind
from idsys.applications.profile import Address, AddressKind, ApplicantProfile

# Languages offered as preferred languages (ISO 639-1/3 codes); the list is long on purpose.
LANGUAGE_CHOICES = [
    ("", "—"),
    ("ar", "العربية (Arabic)"),
    ("bn", "বাংলা (Bengali)"),
    ("zh", "中文 (Chinese)"),
    ("en", "English"),
    ("fr", "Français"),
    ("ht", "Kreyòl ayisyen"),
    ("hi", "हिन्दी (Hindi)"),
    ("ko", "한국어 (Korean)"),
    ("nah", "Náhuatl"),
    ("pl", "Polski"),
    ("pt", "Português"),
    ("qu", "Runa Simi (Quechua)"),
    ("ru", "Русский"),
    ("es", "Español"),
    ("tl", "Tagalog"),
    ("ur", "اردو (Urdu)"),
    ("vi", "Tiếng Việt"),
    ("wo", "Wolof"),
    ("yi", "ייִדיש (Yiddish)"),
]


def plausible_date(form: Any, field: Any) -> None:
    value = field.data
    if isinstance(value, date) and not date(1900, 1, 1) <= value <= date(2100, 12, 31):
        raise ValidationError(_l("Check the year."))


def _date(label: Any, required: bool = False) -> DateField:
    validators = [InputRequired(), plausible_date] if required else [Optional(), plausible_date]
    return DateField(label, validators=validators, render_kw={"placeholder": "YYYY-MM-DD"})


class StartForm(FlaskForm):
    kind = RadioField(
        _l("Type of application"),
        choices=[
            SelectChoice(ApplicationKind.NEW.value, _l("New card")),
            SelectChoice(ApplicationKind.RENEWAL.value, _l("Renewal")),
            SelectChoice(
                ApplicationKind.REPLACEMENT.value, _l("Replacement (lost, stolen, damaged)")
            ),
        ],
        default=ApplicationKind.NEW.value,
        validators=[DataRequired()],
    )
    intake_token = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])


class ProfileForm(FlaskForm):
    given_names = StringField(
        _l("Given names"),
        validators=[Length(max=100)],
        render_kw={"autofocus": True, "autocomplete": "off"},
    )
    family_names = StringField(
        _l("Family names"), validators=[Length(max=100)], render_kw={"autocomplete": "off"}
    )
    date_of_birth = _date(_l("Date of birth"), required=True)
    address_kind = RadioField(
        _l("Address"),
        choices=[
            SelectChoice(AddressKind.HOME.value, _l("Home address")),
            SelectChoice(AddressKind.CARE_OF.value, _l("Care of a shelter or organisation")),
            SelectChoice(
                AddressKind.CONFIDENTIAL.value,
                _l("Confidential (no address kept; card picked up in person)"),
            ),
        ],
        default=AddressKind.HOME.value,
        validators=[DataRequired()],
    )
    care_of = StringField(_l("Shelter or organisation"), validators=[Length(max=120)])
    line1 = StringField(_l("Street and number"), validators=[Length(max=120)])
    line2 = StringField(_l("Apartment, floor (optional)"), validators=[Length(max=120)])
    city = StringField(_l("City"), validators=[Length(max=120)])
    postal_code = StringField(_l("Postal code"), validators=[Length(max=20)])
    phone = StringField(
        _l("Phone (optional)"), validators=[Length(max=32)], render_kw={"inputmode": "tel"}
    )
    email = StringField(
        _l("Email (optional)"), validators=[Length(max=254)], render_kw={"inputmode": "email"}
    )
    emergency_contact_name = StringField(
        _l("Emergency contact (optional)"), validators=[Length(max=120)]
    )
    emergency_contact_phone = StringField(
        _l("Emergency contact phone"), validators=[Length(max=32)]
    )
    gender = SelectField(
        _l("Gender on the card"),
        choices=[
            SelectChoice("", _l("Not shown")),
            SelectChoice("F", "F"),
            SelectChoice("M", "M"),
            SelectChoice("X", "X"),
        ],
        default="",
    )
    language1 = SelectField(
        _l("Preferred language"),
        choices=[SelectChoice(v, t) for v, t in LANGUAGE_CHOICES],
        default="",
    )
    language2 = SelectField(
        _l("Second language (optional)"),
        choices=[SelectChoice(v, t) for v, t in LANGUAGE_CHOICES],
        default="",
    )
    veteran = BooleanField(_l("Veteran designation (document seen)"))
    has_caretaker = BooleanField(_l("Accompanied by a parent or caretaker"))


class DocumentForm(FlaskForm):
    code = SelectField(_l("Document"), validators=[DataRequired()], render_kw={"autofocus": True})
    issue_date = _date(_l("Date on the document"))
    expiry_date = _date(_l("Expiry date"))
    resident_since = _date(_l("Resident since (letters only)"))
    name_matches = RadioField(
        _l("Does the name match the applicant?"),
        choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))],
        validators=[DataRequired(message=_l("Say whether the name matches."))],
    )
    address_matches = RadioField(
        _l("Does the address match?"),
        choices=[
            SelectChoice("yes", _l("Yes")),
            SelectChoice("no", _l("No")),
            SelectChoice("na", _l("No address on it")),
        ],
        default="na",
        validators=[DataRequired()],
    )
    # How many documents the page listed: a copy of the same submission adds nothing. (Optional:
    # a page opened before this field existed still submits.)
    seen = HiddenField(validators=[Optional(), Regexp(r"^\d{1,3}$")])


class PhotoForm(FlaskForm):
    photo = FileField(
        _l("Photo"),
        validators=[
            FileRequired(_l("Take a photo or choose a file.")),
            FileSize(max_size=10 * 1024 * 1024, message=_l("The photo file is larger than 10 MB.")),
        ],
    )


class SubmitForm(FlaskForm):
    justification = TextAreaField(
        _l("Why should the documents be accepted?"), validators=[Optional(), Length(max=2000)]
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[SelectChoice("approve", _l("Approve")), SelectChoice("reject", _l("Reject"))],
        validators=[DataRequired(message=_l("Choose approve or reject."))],
    )
    approve_codes = MultiCheckboxField(_l("Reasons for approval"))
    reject_codes = MultiCheckboxField(_l("Reasons for rejection"))
    justification = TextAreaField(
        _l("Justification (required for an override)"), validators=[Optional(), Length(max=2000)]
    )


class ConfirmActionForm(FlaskForm):
    """A CSRF-protected confirmation for withdraw and remove actions."""


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


class FindForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: it changes nothing

    reference = StringField(
        _l("Reference number"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocomplete": "off", "placeholder": "ABCD-EFGH-JK"},
    )


def profile_from_form(form: Any) -> ApplicantProfile:
    """The profile typed into a ProfileForm or a resident's pre-application form (same fields)."""
    languages = tuple(x for x in (form.language1.data, form.language2.data) if x)
    return ApplicantProfile(
        given_names=form.given_names.data or "",
        family_names=form.family_names.data or "",
        date_of_birth=form.date_of_birth.data or date.min,
        address_kind=AddressKind(form.address_kind.data),
        address=Address(
            line1=form.line1.data or "",
            line2=form.line2.data or "",
            city=form.city.data or "",
            postal_code=form.postal_code.data or "",
            care_of=form.care_of.data or "",
        ),
        phone=form.phone.data or "",
        email=form.email.data or "",
        emergency_contact_name=form.emergency_contact_name.data or "",
        emergency_contact_phone=form.emergency_contact_phone.data or "",
        gender=form.gender.data or None,
        languages=languages,
        veteran=bool(getattr(form, "veteran", None) and form.veteran.data),
    )
