"""Transactional emails of privacy requests, rendered in the member's language and sent by
``members.tasks.email_send`` (call after commit)."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from consent.erasure_tokens import erasure_confirm_token
from consent.models import PrivacyRequest
from members.enqueue import task_get


def _site_link(path: str) -> str:
    """An absolute link for a mail: mails have no request, so the address is ``SITE_URL``."""
    return settings.SITE_URL.rstrip("/") + path


def _send(*, request: PrivacyRequest, template: str, context: dict[str, object]) -> None:
    user = request.member.user
    if user is None or not user.email:
        return
    with translation.override(request.member.preferred_language):
        subject = render_to_string(f"consent/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"consent/email/{template}_message.txt", context)
    task_get("members.tasks.email_send").delay(
        {
            "subject": settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject,
            "body": body,
            "from_email": settings.DEFAULT_FROM_EMAIL,
            "to": [user.email],
        }
    )


def export_ready_email(*, request_id: int) -> None:
    request = PrivacyRequest.objects.select_related("member__user").get(pk=request_id)
    _send(
        request=request,
        template="export_ready",
        context={
            "member": request.member,
            "request": request,
            "url": _site_link(reverse("consent:my-data")),
        },
    )


def erasure_confirm_email(*, request_id: int) -> None:
    request = PrivacyRequest.objects.select_related("member__user").get(pk=request_id)
    token = erasure_confirm_token(request)
    _send(
        request=request,
        template="erasure_confirm",
        context={
            "member": request.member,
            "request": request,
            "grace_days": settings.PRIVACY_ERASURE_GRACE_DAYS,
            "url": _site_link(reverse("consent:erasure-confirm", args=[token])),
        },
    )
