"""Back-office for webhooks (Administrators only): endpoints, their secrets, the delivery log.

The secret is shown once, when the endpoint is made or its secret rotated (like an API key).
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from consent.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from consent.webhooks.delivery import webhook_deliveries_resend, webhook_endpoint_replay
from consent.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_enable,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
    webhook_endpoint_validate,
)
from consent.webhooks.payloads import PERSONAL_KIND_LABELS
from members.actors import request_actor
from members.outbox import EVENT_TYPES
from members.roles import ADMINISTRATOR


def _is_administrator(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_active or not user.is_staff:
        return False
    return bool(user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists())


class AdministratorsOnly:
    """Webhooks send member data out of the club: only Administrators see or change them
    (the data protection officer's ``consent.*`` does not reach here)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_administrator(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_administrator(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_administrator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=[(name, f"{name} – {spec.description}") for name, spec in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    personal_data = forms.MultipleChoiceField(
        label=_("personal details in payloads"),
        choices=list(PERSONAL_KIND_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "Payloads carry ids and small facts. Tick a detail only if the purpose allows it "
            "and the receiver needs it."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "url",
            "description",
            "event_types",
            "api_key",
            "store",
            "purpose",
            "recipient",
            "reason_sv",
            "reason_en",
            "personal_data",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            try:
                webhook_endpoint_validate(cleaned)
            except ValidationError as exc:
                for field, problems in exc.message_dict.items():
                    for problem in problems:
                        self.add_error(field if field in self.fields else None, problem)
        return cleaned


class ReplayForm(forms.Form):
    since = forms.DateTimeField(
        label=_("Replay every event since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def clean_since(self) -> datetime.datetime:
        since: datetime.datetime = self.cleaned_data["since"]
        if since > timezone.now():
            raise ValidationError(_("Choose a time in the past."))
        return since


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AdministratorsOnly, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "__str__",
        "url",
        "recipient",
        "purpose",
        "active",
        "failures_in_row",
        "created_at",
    ]
    list_filter = ["active", "purpose"]
    search_fields = ["url", "description", "recipient"]
    actions = ["rotate_secret", "enable", "disable", "replay_since"]
    readonly_fields = [
        "secret_state",
        "active",
        "disabled_at",
        "disabled_reason",
        "failures_in_row",
        "created_at",
        "created_by",
        "delivery_log",
    ]

    @admin.display(description=_("secret"))
    def secret_state(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return str(_("Made when saved, and shown once."))
        text = str(_("Set (shown only when made or rotated)."))
        if obj.previous_secret_until and obj.previous_secret_until > timezone.now():
            text += " " + str(
                _("The previous secret also signs until %(until)s.")
                % {
                    "until": timezone.localtime(obj.previous_secret_until).strftime(
                        "%Y-%m-%d %H:%M"
                    )
                }
            )
        return text

    @admin.display(description=_("delivery log"))
    def delivery_log(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return "—"
        return format_html(
            '<a href="../../webhookdelivery/?endpoint__id__exact={}">{}</a>',
            obj.pk,
            _("Deliveries of this endpoint"),
        )

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        fields = {k: form.cleaned_data.get(k) for k in WebhookEndpointForm.Meta.fields}
        if change:
            webhook_endpoint_update(endpoint=obj, **fields)
            return
        endpoint, secret = webhook_endpoint_create(created_by=request_actor(request), **fields)
        obj.pk = endpoint.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            _("Copy the signing secret now; it is not shown again: %(secret)s")
            % {"secret": secret},
        )

    @admin.action(description=_("Rotate the secret (the old one signs for a day more)"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        overlap = datetime.timedelta(hours=settings.WEBHOOKS_ROTATION_OVERLAP_HOURS)
        for endpoint in queryset.order_by("pk"):
            secret = webhook_endpoint_secret_rotate(endpoint=endpoint, overlap=overlap)
            messages.warning(
                request,
                _("New secret for %(endpoint)s; copy it now, it is not shown again: %(secret)s")
                % {"endpoint": endpoint, "secret": secret},
            )

    @admin.action(description=_("Enable again"))
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint)
        messages.success(request, _("The selected endpoints are enabled."))

    @admin.action(description=_("Disable"))
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        queryset.update(active=False, disabled_at=timezone.now(), disabled_reason=_("By staff"))
        messages.success(request, _("The selected endpoints are disabled."))

    @admin.action(description=_("Replay everything since a time"))
    def replay_since(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> HttpResponse | None:
        form = ReplayForm(request.POST if "since" in request.POST else None)
        if form.is_bound and form.is_valid():
            for endpoint in queryset.order_by("pk"):
                count = webhook_endpoint_replay(endpoint=endpoint, since=form.cleaned_data["since"])
                messages.success(
                    request,
                    _("%(endpoint)s: %(count)d events will be sent again.")
                    % {"endpoint": endpoint, "count": count},
                )
            return None
        return TemplateResponse(
            request,
            "admin/consent/webhookendpoint/replay.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Replay events to webhook endpoints"),
                "form": form,
                "queryset": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "status_code", "duration_ms", "ok", "error", "response_body"]
    readonly_fields = fields  # type: ignore[assignment]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AdministratorsOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event_type",
        "webhook_id",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["status", "endpoint"]
    list_select_related = ["endpoint", "event"]
    fields = [
        "endpoint",
        "event_type",
        "webhook_id",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    readonly_fields = fields  # type: ignore[assignment]
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]
    show_full_result_count = False
    date_hierarchy = "created_at"

    @admin.display(description=_("event type"), ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        """The type's name, which the receiver sees, and what it means in the back-office's
        language ("points.changed – Poängen ändrades")."""
        spec = EVENT_TYPES.get(obj.event.type)
        return f"{obj.event.type} – {spec.description}" if spec else obj.event.type

    @admin.display(description="webhook-id")
    def webhook_id(self, obj: WebhookDelivery) -> str:
        return obj.event.webhook_id

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only rows; the action below needs "change" on the list.
        return _is_administrator(request) and obj is None

    @admin.action(description=_("Send again"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhook_deliveries_resend(delivery_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, _("%(count)d deliveries will be sent again.") % {"count": count})
