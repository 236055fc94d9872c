from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store, User
from members.phone import phone_normalise
from members.services import member_create
from members.validators import birth_date_validate, name_validate


class DateInput(forms.DateInput):
    input_type = "date"


class StoreChoiceField(forms.ModelChoiceField):
    """A store as members know it: its name ("Södermalm"), not the back-office's
    "Södermalm (sthlm-sodermalm)" with the internal code."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class ProfileFieldsMixin(forms.Form):
    """The member fields shared by sign-up and profile editing, with the same validation."""

    first_name = forms.CharField(
        label=_("First name"),
        max_length=100,
        validators=[name_validate],
        widget=forms.TextInput({"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=100,
        validators=[name_validate],
        widget=forms.TextInput({"autocomplete": "family-name"}),
    )
    phone = forms.CharField(
        label=_("Mobile number (optional)"),
        max_length=30,
        required=False,
        help_text=_("For offers by SMS if you want them, and to find you at the till."),
        widget=forms.TextInput({"autocomplete": "tel", "inputmode": "tel"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date (optional)"),
        required=False,
        help_text=_("For a birthday surprise. You must be at least 16 to join."),
        widget=DateInput(),
    )
    home_store = StoreChoiceField(
        label=_("Home store (optional)"),
        queryset=Store.objects.exclude(status=Store.Status.CLOSED),
        required=False,
        empty_label=_("No favourite store"),
    )

    def clean_phone(self) -> str:
        return phone_normalise(self.cleaned_data.get("phone", ""))

    def clean_birth_date(self) -> Any:
        value = self.cleaned_data.get("birth_date")
        birth_date_validate(value)
        return value


class SignupForm(ProfileFieldsMixin, AllauthSignupForm):
    """Sign-up asks only what a membership needs; everything else is marked optional."""

    field_order = [
        "first_name",
        "last_name",
        "email",
        "password1",
        "password2",
        "phone",
        "birth_date",
        "home_store",
    ]

    def try_save(self, request: HttpRequest) -> tuple[User | None, HttpResponse | None]:
        try:
            with transaction.atomic():
                return super().try_save(request)
        except IntegrityError:
            # Two sign-ups with one address at the same moment both passed the "already
            # registered" check; the unique index let one win. The other, with nothing
            # saved, gets the same answer as any sign-up with a registered address: "check
            # your email", and the address's owner is told by mail. Never "already
            # exists": sign-up does not reveal who is registered (docs/security.md).
            self.account_already_exists = True
            return super().try_save(request)

    def save(self, request: HttpRequest) -> User:
        # User, email address and member are created together or not at all.
        with transaction.atomic():
            user: User = super().save(request)
            language = (get_language() or "sv")[:2]
            member_create(
                user=user,
                first_name=self.cleaned_data["first_name"],
                last_name=self.cleaned_data["last_name"],
                phone=self.cleaned_data.get("phone", ""),
                birth_date=self.cleaned_data.get("birth_date"),
                home_store=self.cleaned_data.get("home_store"),
                preferred_language=language if language in Member.Language else "sv",
                join_channel=Member.JoinChannel.WEB,
                source="web",
            )
        return user


class ProfileForm(ProfileFieldsMixin):
    preferred_language = forms.ChoiceField(label=_("Language"), choices=Member.Language.choices)

    field_order = [
        "first_name",
        "last_name",
        "phone",
        "birth_date",
        "home_store",
        "preferred_language",
    ]


def form_add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ``ValidationError`` next to the fields it names."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ActivationRequestForm(forms.Form):
    """The activation page: one field, whichever of the three the member has at hand."""

    identifier = forms.CharField(
        label=_("Email, mobile number or membership number"),
        max_length=254,
        help_text=_(
            "The email address or mobile number you gave in the store, or the membership "
            "number on your card."
        ),
        widget=forms.TextInput({"autocomplete": "username", "autocapitalize": "none"}),
    )


class ActivationCodeForm(forms.Form):
    """The code from the text message, with the number it was sent for."""

    identifier = forms.CharField(
        label=_("Membership number or mobile number"),
        max_length=254,
        widget=forms.TextInput({"autocomplete": "username", "inputmode": "numeric"}),
    )
    code = forms.CharField(
        label=_("Code from the text message"),
        max_length=12,
        help_text=_("Six digits."),
        widget=forms.TextInput({"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ActivationPasswordForm(forms.Form):
    """Choose the password of a login being activated; Django's validators, as at sign-up.
    A member without a login yet (the link or code came by text message) also gives the
    email address the login will have (``user`` is None)."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("You will log in with it. We send a mail to confirm it."),
        widget=forms.EmailInput({"autocomplete": "email"}),
    )

    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, user: User | None, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)
        help_text = password_validation.password_validators_help_text_html()
        self.fields["password1"].help_text = help_text
        if user is not None:
            del self.fields["email"]

    def clean_password2(self) -> str:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data.get("password2", "")
        if password1 and password1 != password2:
            raise ValidationError(_("You must type the same password each time."), code="mismatch")
        if password1:
            password_validation.validate_password(
                password2, self.user or User(email=self.data.get("email", ""))
            )
        return str(password2)
