"""Forms of the sign-up consent choices and the preference centre."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from consent.models import ConsentEvent, PolicyVersion
from consent.selectors import interests_active, policy_version_current, purposes_needing_consent
from consent.services.consent import consents_set
from members.forms import SignupForm
from members.models import User

FREQUENCY_CHOICES = [
    ("", _("No limit")),
    ("1", _("At most 1 message a week")),
    ("2", _("At most 2 messages a week")),
    ("5", _("At most 5 messages a week")),
]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def client_user_agent(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:400]


class ConsentSignupForm(SignupForm):
    """Sign-up with one unticked box per purpose that rests on consent.

    Membership never depends on them: none is required, and the member can change each one
    later on the preference page. The policy version shown is posted back, so the consent
    points at exactly the text the member saw.
    """

    policy_version = forms.ModelChoiceField(
        queryset=PolicyVersion.objects.all(), widget=forms.HiddenInput, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = policy_version_current()
        self.fields["policy_version"].initial = current.pk if current else None
        self._purposes = list(purposes_needing_consent())
        for purpose in self._purposes:
            self.fields[f"consent_{purpose.code}"] = forms.BooleanField(
                label=purpose.name,
                help_text=purpose.description,
                required=False,
                initial=False,
            )
        self.order_fields([*self.field_order, *[f"consent_{p.code}" for p in self._purposes]])

    def clean_policy_version(self) -> PolicyVersion | None:
        return self.cleaned_data.get("policy_version") or policy_version_current()

    def save(self, request: HttpRequest) -> User:
        # The member and their first choices are created together or not at all.
        with transaction.atomic():
            user = super().save(request)
            choices = {
                p.code: bool(self.cleaned_data.get(f"consent_{p.code}")) for p in self._purposes
            }
            if any(choices.values()):
                consents_set(
                    member=user.member,
                    choices=choices,
                    source=ConsentEvent.Source.SIGNUP,
                    actor=user,
                    policy_version=self.cleaned_data.get("policy_version"),
                    ip_address=client_ip(request),
                    user_agent=client_user_agent(request),
                )
        return user


class TimeInput(forms.TimeInput):
    input_type = "time"


class ContactPreferencesForm(forms.Form):
    max_messages_per_week = forms.TypedChoiceField(
        label=_("How often may we contact you?"),
        choices=FREQUENCY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )
    quiet_start = forms.TimeField(
        label=_("Quiet hours from"),
        required=False,
        widget=TimeInput(format="%H:%M"),
        help_text=_("No email or SMS from us between these times (Swedish time)."),
    )
    quiet_end = forms.TimeField(
        label=_("Quiet hours until"), required=False, widget=TimeInput(format="%H:%M")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            raise ValidationError(
                {"quiet_end": _("Give both the start and the end of your quiet hours.")}
            )
        return data


class InterestsForm(forms.Form):
    interests = forms.ModelMultipleChoiceField(
        label=_("What are you interested in?"),
        queryset=interests_active(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class InterestsStepForm(forms.Form):
    """The sign-up step's tiles: "Spara" needs at least one; "Hoppa över" posts ``skip``."""

    interests = forms.ModelMultipleChoiceField(
        label=_("What do you like?"),
        queryset=interests_active(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one interest, or skip this step."),
            "invalid_choice": _("Choose from the list."),
            "invalid_pk_value": _("Choose from the list."),
        },
    )
