"""Channels behind one adapter interface: email, SMS, the member-page inbox, test and no-op.

The engine renders a ``Message`` per delivery and hands it to the channel's ``send``, with
the delivery id as the provider's idempotency key. ``TransientError`` means "try again
later" (the engine retries with backoff); ``PermanentError`` means the message can never be
sent (recorded as failed with its reason). Adapters whose work is only a database write
(``external = False``) run inside the transaction that takes the budget and marks the
delivery sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction

from campaigns.models import InboxMessage, ProviderCall
from members.sms import SmsRejectedError, SmsTransientError, sms_provider_send

logger = logging.getLogger(__name__)


class TransientError(Exception):
    """The provider could not take the message now (timeout, 5xx, rate limit)."""


class PermanentError(Exception):
    """The message can never be sent as is (bad number, rejected by the provider)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(detail or reason)


@dataclass
class Message:
    delivery_id: int
    member_id: int
    language: str
    to: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    title: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return f"kk-delivery-{self.delivery_id}"


class Channel:
    name: ClassVar[str]
    # The consent channel whose purpose must be granted (consent.models.Channel).
    consent_channel: ClassVar[str]
    purpose: ClassVar[str]
    # Calls something outside the database: each delivery is marked sent right after its
    # call. Without it (no-op), a batch is marked in one statement.
    external: ClassVar[bool] = True
    # Which member address the message needs ("email", "phone", or "" for none).
    address: ClassVar[str] = ""

    def send(self, message: Message) -> str:
        """Send and return the provider's reference."""
        raise NotImplementedError


class EmailChannel(Channel):
    """Django's email backend: django-anymail in production, console/file in development."""

    name = "email"
    consent_channel = "email"
    purpose = "marketing_email"
    address = "email"

    def send(self, message: Message) -> str:
        headers = dict(message.headers)
        # A stable Message-ID per delivery: providers and mail servers drop a repeat.
        headers["Message-ID"] = f"<{message.idempotency_key}@kundklubb>"
        headers["X-Idempotency-Key"] = message.idempotency_key
        email = EmailMultiAlternatives(
            subject=message.subject, body=message.text, to=[message.to], headers=headers
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            email.send()
        except (OSError, TimeoutError) as error:
            raise TransientError(str(error)) from error
        return headers["Message-ID"]


class SmsChannel(Channel):
    """SMS through 46elks' ``POST /a1/sms`` (basic auth; form fields from, to, message), or
    the console backend in development (``CAMPAIGNS_SMS_BACKEND``)."""

    name = "sms"
    consent_channel = "sms"
    purpose = "marketing_sms"
    address = "phone"

    def send(self, message: Message) -> str:
        if settings.CAMPAIGNS_SMS_BACKEND == "console":
            logger.info("SMS to %s: %s", message.to, message.text)
            return f"console-{message.delivery_id}"
        try:
            return sms_provider_send(
                to=message.to, text=message.text, idempotency_key=message.idempotency_key
            )
        except SmsTransientError as error:
            raise TransientError(str(error)) from error
        except SmsRejectedError as error:
            raise PermanentError("provider_rejected", str(error)) from error


class OnsiteChannel(Channel):
    """The member-page inbox: the message is a row the member reads on "My offers"."""

    name = "onsite"
    consent_channel = "onsite"
    purpose = "profiling"
    external = False

    def send(self, message: Message) -> str:
        inbox, _created = InboxMessage.objects.get_or_create(
            delivery_id=message.delivery_id,
            defaults={
                "member_id": message.member_id,
                "title": message.title[:150],
                "body": message.text,
            },
        )
        return f"inbox-{inbox.pk}"


class TestChannel(Channel):
    """Records every provider call in ``ProviderCall``; delivers the first per key."""

    name = "test"
    consent_channel = "email"
    purpose = "marketing_email"

    def send(self, message: Message) -> str:
        try:
            with transaction.atomic():
                call = ProviderCall.objects.create(
                    delivery_id=message.delivery_id,
                    channel=self.name,
                    idempotency_key=message.idempotency_key,
                    accepted=True,
                )
        except IntegrityError:
            call = ProviderCall.objects.create(
                delivery_id=message.delivery_id,
                channel=self.name,
                idempotency_key=message.idempotency_key,
                accepted=False,
            )
        return f"test-{call.pk}"


class NoopChannel(Channel):
    """Sends nothing (benchmarks): everything else (consent, budget, rendering) runs."""

    name = "noop"
    consent_channel = "email"
    purpose = "marketing_email"
    external = False

    def send(self, message: Message) -> str:
        return ""


CHANNELS: dict[str, Channel] = {
    c.name: c() for c in (EmailChannel, SmsChannel, OnsiteChannel, TestChannel, NoopChannel)
}
# What a marketer may pick; test and no-op are for tests and benchmarks.
MARKETING_CHANNELS = ("email", "sms", "onsite")


def channel_get(name: str) -> Channel:
    return CHANNELS[name]


def sms_segments(text: str) -> tuple[int, int, str]:
    """(characters, SMS segments, encoding) as the operator counts them."""
    gsm = set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    extended = set("^{}\\[~]|€")
    if all(ch in gsm or ch in extended for ch in text):
        length = sum(2 if ch in extended else 1 for ch in text)
        segments = 1 if length <= 160 else -(-length // 153)
        return length, segments if length else 0, "GSM-7"
    length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    segments = 1 if length <= 70 else -(-length // 67)
    return length, segments, "UCS-2"
