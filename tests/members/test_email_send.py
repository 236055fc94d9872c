"""Transactional email leaves through the Celery task ``members.tasks.email_send``, after commit."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.test import RequestFactory

from members.adapters import AccountAdapter
from members.models import Member, User
from members.tasks import email_send

pytestmark = pytest.mark.django_db


def _send_confirmation(to: str = "maja@example.se") -> None:
    request = RequestFactory().get("/")
    AccountAdapter(request).send_mail(
        "account/email/email_confirmation_signup",
        to,
        {"activate_url": "https://klubben.example/konto/confirm-email/abc/", "user": None},
    )


def test_send_mail_queues_email_send_task_only_on_commit(django_capture_on_commit_callbacks):
    with mock.patch("members.tasks.email_send") as task:
        task.delay.side_effect = email_send.delay
        # Given an email rendered inside a transaction
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            _send_confirmation()
        # Then nothing is queued or sent before the commit
        assert task.delay.call_count == 0
        assert mail.outbox == []
        assert len(callbacks) == 1

        # When the transaction commits
        callbacks[0]()

    # Then the task was queued once and (eager Celery) the email reached the mailbox
    assert task.delay.call_count == 1
    payload = task.delay.call_args.args[0]
    assert payload["to"] == ["maja@example.se"]
    assert len(mail.outbox) == 1
    assert "https://klubben.example/konto/confirm-email/abc/" in mail.outbox[0].body


def test_send_mail_sends_nothing_when_the_transaction_rolls_back(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                _send_confirmation()
                raise RuntimeError("sign-up failed after rendering the email")
        except RuntimeError:
            pass

    assert callbacks == []
    assert mail.outbox == []


def test_signup_failing_after_user_insert_rolls_back_everything(
    client, django_capture_on_commit_callbacks
):
    # Given the member cannot be created (say, the database refuses it)
    data = {
        "first_name": "Maja",
        "last_name": "Berg",
        "email": "maja@example.se",
        "password1": "Grön-Tulpan-1987",
        "password2": "Grön-Tulpan-1987",
    }
    with (
        mock.patch("members.forms.member_create", side_effect=RuntimeError("boom")),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        client.post("/konto/signup/", data)

    # Then neither a user nor a member exists and no email was sent
    assert User.objects.count() == 0
    assert Member.objects.count() == 0
    assert callbacks == []
    assert mail.outbox == []


def test_email_send_sends_text_and_html():
    email_send(
        {
            "subject": "Hej",
            "body": "Text",
            "from_email": "Kundklubb <klubben@example.com>",
            "to": ["a@example.se"],
            "html": "<p>Html</p>",
            "headers": {"X-Kind": "welcome"},
        }
    )
    message = mail.outbox[0]
    assert message.subject == "Hej"
    assert message.alternatives[0][0] == "<p>Html</p>"
    assert message.extra_headers["X-Kind"] == "welcome"
