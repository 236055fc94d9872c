"""django-allauth hooks: email goes out through Celery after commit; verification is recorded."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core import context
from django.conf import settings
from django.db import transaction
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import translation

from members.activation import activation_offer_for_signup
from members.enqueue import task_get
from members.models import Member
from members.selectors import member_email_verified_by_link
from members.services import member_email_verified
from members.signup_steps import signup_step_url
from members.validators import email_length_validate

# The request attribute that says the login being made is the user's first.
FIRST_LOGIN = "_kundklubb_first_login"


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        # allauth's email fields have no length limit and its user_field() cuts a longer
        # address to the column's 254 characters without a word: a 300-character address
        # became 254 "x" with no "@". Every allauth form that takes a new address (sign-up,
        # add email, password reset) asks this hook first: refuse it there, next to the field.
        email_length_validate(email)
        return super().clean_email(email)

    def save_user(
        self, request: HttpRequest, user: Any, form: BaseForm, commit: bool = True
    ) -> Any:
        # Backstop for any form that skipped clean_email: never save a cut-off address.
        email_length_validate(form.cleaned_data.get("email") or "")
        return super().save_user(request, user, form, commit)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Render now, in the member's request language; send from a worker once the sign-up
        # (or reset) has committed, so a rolled-back sign-up never sends anything.
        message = self.render_mail(template_prefix, email, context)
        payload = {
            "subject": message.subject,
            "body": message.body,
            "from_email": message.from_email,
            "to": list(message.to),
            "html": next(
                (
                    content
                    for content, mime in getattr(message, "alternatives", [])
                    if mime == "text/html"
                ),
                None,
            ),
            "headers": dict(message.extra_headers),
        }

        transaction.on_commit(lambda: task_get("members.tasks.email_send").delay(payload))

    def send_account_already_exists_mail(self, email: str) -> None:
        # Sign-up with an address that is already a login: when it is the login of a member
        # who joined in store or was imported and never set a password, the address gets
        # the activation link (set a password, same member) instead of "someone tried to
        # sign up with your address". The visitor sees the usual "check your email" page
        # either way, and no second member is created (docs/import.md, "Activation").
        request = context.request
        if request is None:
            super().send_account_already_exists_mail(email)
            return
        if activation_offer_for_signup(email=email, request=request):
            return
        # Otherwise the owner is told they already have an account and how to log in (or
        # choose a new password); the visitor saw only "check your email" (issue 16).
        self.send_mail(
            "account/email/account_already_exists",
            email,
            {
                "email": email,
                "login_url": request.build_absolute_uri(reverse("account_login")),
                "password_reset_url": request.build_absolute_uri(reverse("account_reset_password")),
            },
        )

    def confirm_email(self, request: HttpRequest, email_address: EmailAddress) -> bool:
        confirmed = super().confirm_email(request, email_address)
        member = Member.objects.filter(user_id=email_address.user_id).first()
        if confirmed and member is not None:
            member_email_verified(member=member)
        return confirmed

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # Where a new member lands once signed up (after confirming the email in the same
        # browser): a short step a higher app registered ("Vad gillar du?"), else Mina sidor.
        member = getattr(request.user, "member", None)
        if member is not None:
            step = signup_step_url(member)
            if step:
                return step
        return super().get_signup_redirect_url(request)

    def login(self, request: HttpRequest, user: Any) -> None:
        # Remembered for the redirect below: Django's login sets ``last_login``.
        setattr(request, FIRST_LOGIN, user.last_login is None)
        super().login(request, user)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # A member who confirmed their email in another browser (a phone's mail app opens its
        # own) was not logged in there, so the sign-up steps were never offered: their first
        # login offers them. Members made by staff, imports or the desk never confirmed a
        # link here, and go to Mina sidor as every other login does.
        member = getattr(request.user, "member", None)
        if (
            member is not None
            and getattr(request, FIRST_LOGIN, False)
            and member_email_verified_by_link(member=member)
        ):
            step = signup_step_url(member)
            if step:
                return step
        return super().get_login_redirect_url(request)

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse:
        response = super().post_login(request, user, **kwargs)
        member = getattr(user, "member", None)
        if member is not None:
            # The member's language follows them to any device they log in on.
            translation.activate(member.preferred_language)
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                member.preferred_language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                samesite="Lax",
            )
        return response
