"""Plain-language labels for campaigns' codes that have no model choices (see
``members.labels``): channels and why a delivery was suppressed or failed
(docs/campaigns.md, "Suppression reasons")."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CHANNEL_LABELS: dict[str, Promise] = {
    "email": _("Email"),
    "sms": _("SMS"),
    "onsite": _("Member page"),
    "test": _("Test channel"),
    "noop": _("No-op channel (benchmarks)"),
}

DELIVERY_REASON_LABELS: dict[str, Promise] = {
    "no_consent": _("No consent"),
    "withdrawn": _("Consent withdrawn"),
    "quiet_hours": _("Quiet hours"),
    "paused": _("Member paused messages"),
    "erased": _("Member erased"),
    "merged": _("Member merged into another"),
    "blocked": _("Member blocked"),
    "channel_not_covered": _("Consent does not cover the channel"),
    "unknown_purpose": _("Unknown purpose"),
    "no_address": _("No address for the channel"),
    "contact_limit": _("Weekly contact limit reached"),
    "lower_priority": _("A campaign of higher priority took the last slot"),
    "no_variant": _("No variant to send"),
    "provider_error": _("The provider failed repeatedly"),
    "provider_rejected": _("The provider rejected the message"),
    "retry": _("Waiting to try again"),
    "campaign_cancelled": _("Campaign cancelled"),
}
