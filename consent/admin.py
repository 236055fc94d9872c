"""Back-office for the data protection officer: purposes, policy versions, interests, consent
proof, privacy requests with their legal deadline, and the log of who looked at whom.

The member admin is re-registered with a subclass that logs every staff view of a member's
record; staff without ``consent.browse_members`` find members one at a time
(``members.admin_guard``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from consent.errors import PrivacyRequestBusyError, PrivacyRequestStateError
from consent.labels import ACCESS_VIEW_LABELS, access_view_label
from consent.models import (
    AccessLog,
    ConsentEvent,
    Interest,
    PolicyVersion,
    PrivacyRequest,
    Purpose,
)
from consent.selectors import consent_states, purposes_needing_consent
from consent.services.access_log import access_log_record
from consent.services.consent import consents_set
from consent.services.erasure import privacy_erasure_request
from consent.services.export import privacy_export_request
from consent.services.policy import policy_version_create
from consent.services.requests import privacy_request_process_now, privacy_request_refuse
from members.actors import request_actor, request_staff
from members.admin import MemberAdmin
from members.admin_base import labelled_filter
from members.admin_guard import MemberListGuard
from members.models import Member


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "category", "lawful_basis", "channel", "retention", "active"]
    list_filter = ["category", "lawful_basis", "active"]
    search_fields = ["code", "name_sv", "name_en", "partner_name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Consent events point at purposes by id: a purpose's meaning must not shift under them.
        return ["code", "lawful_basis", "channel", "category"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PolicyVersionForm(forms.ModelForm):
    class Meta:
        model = PolicyVersion
        fields = ["version", "text_sv", "text_en", "effective_at"]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    form = PolicyVersionForm
    list_display = ["version", "effective_at", "content_hash", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A published version is evidence: it is never edited, a new version is published.
        if obj:
            return ["version", "text_sv", "text_en", "content_hash", "effective_at", "created_at"]
        return []

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        if change:
            return
        created = policy_version_create(**form.cleaned_data)
        obj.pk = created.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Interest)
class InterestAdmin(admin.ModelAdmin):
    list_display = ["code", "name_sv", "name_en", "active", "order"]
    list_editable = ["active", "order"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: members' past choices point at it


@admin.register(ConsentEvent)
class ConsentEventAdmin(MemberListGuard, admin.ModelAdmin):
    """The proof, read-only: what was agreed, when, how, under which policy text."""

    list_display = [
        "created_at",
        "member",
        "purpose",
        "channel",
        "granted",
        "policy_version",
        "source",
        "actor",
        "proof_ip",
    ]
    list_filter = ["purpose", "granted", "source", "channel"]
    list_select_related = ["member", "purpose", "policy_version", "actor", "proof"]
    search_fields = ["member__membership_number"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("IP address"))
    def proof_ip(self, obj: ConsentEvent) -> str:
        proof = getattr(obj, "proof", None)
        return (proof.ip_address or "") if proof else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PrivacyRequestAddForm(forms.ModelForm):
    class Meta:
        model = PrivacyRequest
        fields = ["member", "kind"]


class RefuseForm(forms.Form):
    reason = forms.CharField(label=_("Reason for refusal"), widget=forms.Textarea, max_length=2000)


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = [
        "id",
        "member",
        "kind",
        "status",
        "origin",
        "requested_at",
        "deadline",
        "scheduled_for",
        "completed_at",
        "handled_by",
    ]
    list_filter = ["kind", "status", "origin"]
    list_select_related = ["member", "handled_by"]
    search_fields = ["member__membership_number"]
    raw_id_fields = ["member"]
    actions = ["process_now", "refuse"]
    ordering = ["due_at"]

    @admin.display(description=_("legal deadline"), ordering="due_at")
    def deadline(self, obj: PrivacyRequest) -> str:
        text = timezone.localtime(obj.due_at).strftime("%Y-%m-%d")
        if obj.is_overdue:
            return format_html('<strong class="errornote">{} ({})</strong>', text, _("overdue"))
        return text

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = PrivacyRequestAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [f.name for f in PrivacyRequest._meta.concrete_fields]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["member", "kind"]
        return super().get_fields(request, obj)

    def save_model(
        self, request: HttpRequest, obj: PrivacyRequest, form: Any, change: bool
    ) -> None:
        if change:
            return
        service = (
            privacy_export_request
            if form.cleaned_data["kind"] == PrivacyRequest.Kind.EXPORT
            else privacy_erasure_request
        )
        created = service(
            member=form.cleaned_data["member"],
            actor=request_actor(request),
            origin=PrivacyRequest.Origin.STAFF,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(description=_("Process selected requests now"), permissions=["change"])
    def process_now(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
        done = 0
        for privacy_request in queryset.order_by("pk"):
            try:
                privacy_request_process_now(request=privacy_request, staff=request_staff(request))
                done += 1
            except PrivacyRequestBusyError:
                messages.warning(
                    request,
                    _("Request %(id)s is being carried out by a worker right now.")
                    % {"id": privacy_request.pk},
                )
            except PrivacyRequestStateError:
                messages.warning(
                    request, _("Request %(id)s is not open.") % {"id": privacy_request.pk}
                )
        messages.success(request, _("%(n)d request(s) processed.") % {"n": done})

    @admin.action(description=_("Refuse selected requests (with a reason)"), permissions=["change"])
    def refuse(
        self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]
    ) -> HttpResponse | None:
        form = RefuseForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            refused = 0
            for privacy_request in queryset.order_by("pk"):
                try:
                    privacy_request_refuse(
                        request=privacy_request,
                        reason=form.cleaned_data["reason"],
                        staff=request_staff(request),
                    )
                    refused += 1
                except (PrivacyRequestStateError, ValidationError):
                    messages.warning(
                        request, _("Request %(id)s is not open.") % {"id": privacy_request.pk}
                    )
            messages.success(request, _("%(n)d request(s) refused.") % {"n": refused})
            return None
        return TemplateResponse(
            request,
            "admin/consent/privacyrequest/refuse.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Refuse privacy requests"),
                "form": form,
                "queryset": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessLog)
class AccessLogAdmin(MemberListGuard, admin.ModelAdmin):
    log_one_member_lists = False  # the DPO reading the log is not a view of a member
    list_display = ["viewed_at", "staff", "member", "view_label"]
    # The DPO's one list of every staff access: by staff member, view and period (the date
    # drill-down); by member through the search (membership number).
    list_filter = [
        ("staff", admin.RelatedOnlyFieldListFilter),
        labelled_filter("view", _("view"), ACCESS_VIEW_LABELS),
        "viewed_at",
    ]
    fields = ["viewed_at", "staff", "member", "view_label"]
    readonly_fields = fields  # type: ignore[assignment]
    list_select_related = ["staff", "member"]
    search_fields = ["member__membership_number", "staff__email"]
    date_hierarchy = "viewed_at"
    show_full_result_count = False

    @admin.display(description=_("view"), ordering="view")
    def view_label(self, obj: AccessLog) -> str:
        return access_view_label(obj.view)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StoreConsentForm(forms.Form):
    """Staff in store record what the member says at the till, one purpose at a time."""

    CHOICES = [("", _("No change")), ("yes", _("Yes")), ("no", _("No"))]

    def __init__(self, *args: Any, purposes: list[Purpose], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for purpose in purposes:
            self.fields[purpose.code] = forms.ChoiceField(
                label=purpose.name, choices=self.CHOICES, required=False
            )


class LoggedMemberAdmin(MemberAdmin):
    """The member admin, plus: every view of one member's record is logged, and staff can
    record consent given in store. Listing is guarded as in ``MemberAdmin``
    (``members.admin_guard``: only ``consent.browse_members`` lists without a search)."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        return [*fields, "consents"] if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "consents"]

    @admin.display(description=_("Consent"))
    def consents(self, obj: Member) -> str:
        if obj.pk is None:
            return "—"
        states = consent_states(member=obj)
        items = format_html_join(
            "",
            "<li>{}: <strong>{}</strong></li>",
            (
                (p.name, _("Yes") if states.get(p.pk) and states[p.pk].granted else _("No"))
                for p in purposes_needing_consent()
            ),
        )
        link = format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:members_member_consent", args=[obj.pk]),
            _("Record consent given in store"),
        )
        return format_html("<ul>{}</ul>{}", items, link)

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:object_id>/consent/",
                self.admin_site.admin_view(self.store_consent_view),
                name="members_member_consent",
            )
        ]
        return custom + super().get_urls()

    def store_consent_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        member = Member.objects.filter(pk=object_id, erased_at__isnull=True).first()
        if member is None or not self.has_change_permission(request, member):
            raise PermissionDenied
        purposes = list(purposes_needing_consent())
        form = StoreConsentForm(request.POST or None, purposes=purposes)
        if request.method == "POST" and form.is_valid():
            choices = {code: value == "yes" for code, value in form.cleaned_data.items() if value}
            events = consents_set(
                member=member,
                choices=choices,
                source=ConsentEvent.Source.STORE,
                actor=request_actor(request),
            )
            messages.success(request, _("%(n)d change(s) recorded.") % {"n": len(events)})
            response: HttpResponse = redirect("admin:members_member_change", object_id)
            return self._log(request, str(object_id), "consent", response)
        response = TemplateResponse(
            request,
            "admin/consent/store_consent.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Consent given in store"),
                "member": member,
                "form": form,
                "opts": self.model._meta,
            },
        )
        return self._log(request, str(object_id), "consent", response)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        return self._log(
            request, object_id, "change" if request.method == "POST" else "view", response
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        return self._log(request, object_id, "history", response)

    def _log(
        self, request: HttpRequest, object_id: str, view: str, response: HttpResponse
    ) -> HttpResponse:
        """Log the view once it has been answered: a page shown (2xx), or a change saved (a
        POST answered with a redirect). A refused view (403, 404, a redirect to the login or
        away from a missing member) showed nothing and is not logged. A refusal raised as
        ``PermissionDenied`` never gets here at all."""
        shown = 200 <= response.status_code < 300
        saved = request.method == "POST" and 300 <= response.status_code < 400
        if (
            (shown or saved)
            and object_id.isdigit()
            and Member.objects.filter(pk=int(object_id)).exists()
        ):
            access_log_record(staff=request_staff(request), member_id=int(object_id), view=view)
        return response


admin.site.unregister(Member)
admin.site.register(Member, LoggedMemberAdmin)
