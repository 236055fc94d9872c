"""Back-office for users, members, stores and integration keys."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from members.actors import request_actor
from members.admin_base import labelled_filter
from members.admin_door import DoorPosterAdminMixin
from members.admin_guard import MemberListGuard
from members.api.scopes import SCOPES
from members.labels import EVENT_KIND_LABELS, EVENT_SOURCE_LABELS, facts_text, label_for
from members.models import ActivityEvent, ApiKey, Member, Store, User
from members.phone import phone_display, phone_normalise
from members.selectors import member_search_q, member_timeline
from members.services import (
    api_key_create,
    api_key_revoke,
    member_create,
    member_update_profile,
)
from members.validators import birth_date_validate, postcode_normalise

# The member page shows the latest events; the full history is under "Activity events".
TIMELINE_LIMIT = 50


def _beyond_own(request: HttpRequest, permissions: Any) -> list[str]:
    """The permissions in ``permissions`` that the staff member does not hold themselves."""
    own = request.user.get_all_permissions()
    return sorted(
        f"{p.content_type.app_label}.{p.codename}"
        for p in permissions.select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" not in own
    )


def _guard_grants(request: HttpRequest, form_class: Any, field: str) -> Any:
    """The form with ``field`` (groups, or a group's permissions) refusing what is newly
    granted beyond the editor's own permissions; a superuser may grant anything."""
    if request.user.is_superuser or field not in form_class.base_fields:
        return form_class

    class GuardedForm(form_class):
        def clean(self) -> dict[str, Any]:
            cleaned: dict[str, Any] = super().clean()
            chosen = cleaned.get(field)
            if chosen is None:
                return cleaned
            before = set(getattr(self.instance, field).all()) if self.instance.pk else set()
            added = [item for item in chosen if item not in before]
            if field == "groups":
                permissions = Permission.objects.filter(group__in=added).distinct()
            else:
                permissions = Permission.objects.filter(pk__in=[p.pk for p in added])
            beyond = _beyond_own(request, permissions)
            if beyond:
                self.add_error(
                    field,
                    ValidationError(
                        _(
                            "Only a superuser can grant permissions you do not have "
                            "yourself: %(perms)s"
                        )
                        % {"perms": ", ".join(beyond[:5])},
                        code="beyond_own",
                    ),
                )
            return cleaned

    return GuardedForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Logins. Least privilege (docs/security.md): only a superuser makes or edits a
    superuser, and others grant only groups within their own permissions."""

    ordering = ["email"]
    list_display = ["email", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly.append("is_superuser")
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Changing a superuser's email or password would be taking over their account.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return _guard_grants(request, form, "groups")


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Roles: a non-superuser adds to a group only permissions they hold themselves."""

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return _guard_grants(request, form, "permissions")


class MemberAdminForm(forms.ModelForm):
    """The member fields staff may edit, validated as on sign-up; saved through the services."""

    class Meta:
        model = Member
        fields = [
            "first_name",
            "last_name",
            "phone",
            "birth_date",
            "postcode",
            "preferred_language",
            "home_store",
        ]

    def clean_phone(self) -> str:
        return phone_normalise(self.cleaned_data.get("phone", ""))

    def clean_birth_date(self) -> Any:
        value = self.cleaned_data.get("birth_date")
        birth_date_validate(value)
        return value

    def clean_postcode(self) -> str:
        return postcode_normalise(self.cleaned_data.get("postcode", ""))


class MergedFilter(admin.SimpleListFilter):
    """Members merged into another (tombstones) are left out of the list unless asked for:
    their number and card find the member they were merged into (docs/merging.md)."""

    title = _("merged")
    parameter_name = "merged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Merged into another member"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        if self.value() == "yes":
            return queryset.filter(merged_into__isnull=False)
        return queryset.filter(merged_into__isnull=True)


@admin.register(Member)
class MemberAdmin(MemberListGuard, admin.ModelAdmin):
    member_path = "pk"
    form = MemberAdminForm
    list_display = [
        "membership_number",
        "full_name_display",
        "email_display",
        "phone_display_column",
        "home_store",
        "joined_at",
        "join_channel",
    ]
    list_filter = ["join_channel", "preferred_language", "home_store", "joined_at", MergedFilter]
    list_select_related = ["user", "home_store"]
    search_fields = ["membership_number"]  # widened in get_search_results
    search_help_text = _("Membership number, email, mobile number in any format, or name.")
    readonly_fields = [
        "membership_number",
        "user",
        "joined_at",
        "join_channel",
        "external_id",
        "card_token_rotated_at",
        "erased_at",
        "merged_into",
        "merged_at",
        "timeline",
    ]
    fields = [
        "membership_number",
        "user",
        "first_name",
        "last_name",
        "phone",
        "birth_date",
        "postcode",
        "preferred_language",
        "home_store",
        "joined_at",
        "join_channel",
        "external_id",
        "card_token_rotated_at",
        "erased_at",
        "merged_into",
        "merged_at",
        "timeline",
    ]
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in MemberAdminForm.Meta.fields}
        if change:
            member_update_profile(
                member=obj,
                actor=request_actor(request),
                source="admin",
                **values,
            )
            return
        # A member signed up by staff at the till: no login yet, joined in store.
        created = member_create(
            **values,
            join_channel=Member.JoinChannel.STORE,
            actor=request_actor(request),
            source="admin",
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.display(description=_("Timeline (latest first)"))
    def timeline(self, obj: Member) -> str:
        if obj.pk is None:
            return "—"
        return render_to_string(
            "admin/members/member/timeline.html",
            {
                "events": [
                    {
                        "event": event,
                        "kind": label_for(EVENT_KIND_LABELS, event.kind),
                        "source": label_for(EVENT_SOURCE_LABELS, event.source),
                        "facts": facts_text(event.data),
                    }
                    for event in member_timeline(member=obj, limit=TIMELINE_LIMIT)
                ],
                "limit": TIMELINE_LIMIT,
            },
        )

    @admin.display(description=_("name"), ordering="last_name")
    def full_name_display(self, obj: Member) -> str:
        return obj.full_name

    @admin.display(description=_("email"), ordering="user__email")
    def email_display(self, obj: Member) -> str:
        return obj.user.email if obj.user else "—"

    @admin.display(description=_("mobile number"), ordering="phone")
    def phone_display_column(self, obj: Member) -> str:
        return phone_display(obj.phone) or "—"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Member], search_term: str
    ) -> tuple[QuerySet[Member], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(member_search_q(search_term)), False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Members are never deleted: erasure anonymises them and keeps the books.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A merged member's tombstone holds no personal data and must get none: view only.
        if obj is not None and getattr(obj, "merged_into_id", None) is not None:
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # "Open in the staff desk" among the object tools (the template that shows it is
        # campaigns' admin/members/member/change_form.html, which adds the next best offer).
        extra = dict(extra_context or {})
        if object_id.isdigit():
            extra["desk_url"] = reverse("desk:member", args=[int(object_id)])
            extra["desk_label"] = _("Open in the staff desk")
        return super().change_view(request, object_id, form_url, extra)


@admin.register(Store)
class StoreAdmin(DoorPosterAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "city", "kind", "status"]
    list_filter = ["kind", "status", "city"]
    search_fields = ["code", "name", "city"]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=[(k, f"{k} — {v}") for k, v in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ["store", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "store", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store", "revoked_at"]
    search_fields = ["name", "prefix", "store__code"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["store", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plain = api_key_create(
            store=form.cleaned_data["store"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request_actor(request),
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            _("Copy the key now; it is not shown again: %(key)s") % {"key": plain},
        )

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(key=key)
        messages.success(request, _("The selected keys were revoked."))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ActivityEvent)
class ActivityEventAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = ["created_at", "member", "kind_label", "source_label", "store"]
    list_filter = [
        labelled_filter("kind", _("kind"), EVENT_KIND_LABELS),
        labelled_filter("source", _("source"), EVENT_SOURCE_LABELS),
    ]
    list_select_related = ["member", "store"]
    search_fields = ["member__membership_number"]
    fields = ["member", "kind_label", "facts", "source_label", "actor", "store", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj: ActivityEvent) -> str:
        return label_for(EVENT_KIND_LABELS, obj.kind)

    @admin.display(description=_("facts"))
    def facts(self, obj: ActivityEvent) -> str:
        return facts_text(obj.data) or "—"

    @admin.display(description=_("source"), ordering="source")
    def source_label(self, obj: ActivityEvent) -> str:
        return label_for(EVENT_SOURCE_LABELS, obj.source)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
