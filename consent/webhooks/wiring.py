"""What webhooks register (called from ``ConsentConfig.ready``): the outbox's after-commit
hook, the tasks and the back-office (neither is found by autodiscovery in a package), the
free text a receiver may echo, and the share record on Mina data."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from members.models import Member


def register() -> None:
    from consent import privacy_parts
    from consent.models import WebhookAttempt, WebhookDelivery
    from consent.webhooks.delivery import webhooks_events_committed
    from members.outbox import outbox_on_commit_register

    outbox_on_commit_register(webhooks_events_committed)
    import_module("consent.webhooks.tasks")
    import_module("consent.webhooks.admin")
    # A receiver's answer may quote what it was sent; erasure scrubs the member's identifiers.
    privacy_parts.free_text_register(
        model=WebhookAttempt, fields=["response_body"], member_path="delivery__event__member"
    )
    # The export: which events about the member went to which endpoint, and what came back
    # (the share records themselves are consent's "partner_shares" section).
    privacy_parts.export_section_register(
        name="webhook_deliveries",
        title=_("Events about you sent to other systems"),
        rows=_deliveries,
        model=WebhookDelivery,
        order=95,
    )
    privacy_parts.export_section_register(
        name="webhook_attempts",
        title=_("How those systems answered"),
        rows=_attempts,
        model=WebhookAttempt,
        order=96,
    )


def _deliveries(member: Member) -> list[dict[str, Any]]:
    from consent import privacy_parts
    from consent.models import WebhookDelivery

    return [
        privacy_parts.model_row(d)
        for d in WebhookDelivery.objects.filter(event__member=member).order_by("pk")
    ]


def _attempts(member: Member) -> list[dict[str, Any]]:
    from consent import privacy_parts
    from consent.models import WebhookAttempt

    return [
        privacy_parts.model_row(a)
        for a in WebhookAttempt.objects.filter(delivery__event__member=member).order_by("pk")
    ]
