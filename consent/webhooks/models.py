"""Webhook endpoints, their deliveries and the attempts of each (docs/webhooks.md).

An endpoint is an outside party the club sends events to, so it is a share of personal
data: it names the purpose in the processing register that allows it, who the receiver is
as members read it, and why (Mina data shows every share in those words). Deliveries are
rows, one per endpoint and event; Celery sends them and beat re-queues what is due or stuck,
so a killed worker or a lost broker message loses nothing.

Imported by ``consent.models`` (the app's models module), so the tables belong to consent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members.models import ApiKey, OutboxEvent, Store


class WebhookEndpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its secret."""

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    api_key = models.ForeignKey(
        ApiKey,
        verbose_name=_("integration"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The integration's scopes decide which events the endpoint may receive."),
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    purpose = models.ForeignKey(
        "consent.Purpose",
        verbose_name=_("purpose"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The purpose in the processing register that allows this share."),
    )
    recipient = models.CharField(
        _("receiver as members read it"),
        max_length=100,
        help_text=_("Shown on Mina data, e.g. “Webbutiken”."),
    )
    reason_sv = models.CharField(
        _("why (Swedish)"),
        max_length=200,
        help_text=_("Completes “… för att …”, e.g. “visa dina poäng i kassan”."),
    )
    reason_en = models.CharField(
        _("why (English)"),
        max_length=200,
        help_text=_("Completes “… to …”, e.g. “show your points at the till”."),
    )
    personal_data = models.JSONField(
        _("personal details in payloads"),
        default=list,
        blank=True,
        help_text=_("Beyond ids and small facts; only what the purpose allows."),
    )
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("previous secret signs until"), null=True, blank=True, editable=False
    )
    active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(
        _("why disabled"), max_length=200, blank=True, editable=False
    )
    # Deliveries given up in a row (every retry failed); a delivered one resets it.
    failures_in_row = models.PositiveIntegerField(_("failed deliveries in a row"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.CheckConstraint(
                condition=Q(api_key__isnull=False) | Q(store__isnull=False),
                name="webhook_endpoint_owned",
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def reason(self) -> str:
        return self.reason_sv if (get_language() or "sv").startswith("sv") else self.reason_en


class WebhookDelivery(models.Model):
    """One event for one endpoint: sent until the endpoint answers 2xx or retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Given up")
        SKIPPED = "skipped", _("Not sent")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    # The outbox's retention (members.outbox.outbox_purge) takes the delivery log with it.
    event = models.ForeignKey(
        OutboxEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["claimed_until"],
                name="webhook_delivery_sending_idx",
                condition=Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what the endpoint answered and how fast."""

    delivery = models.ForeignKey(
        WebhookDelivery,
        verbose_name=_("delivery"),
        on_delete=models.CASCADE,
        related_name="attempt_log",
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("sent"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("response time (ms)"), default=0)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    ok = models.BooleanField(_("delivered"), default=False)
    error = models.CharField(_("error"), max_length=200, blank=True)
    response_body = models.TextField(_("response (cut)"), blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
