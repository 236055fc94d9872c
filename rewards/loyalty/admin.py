"""Back-office for tiers, rewards, code pools, invitations, vouchers, challenges, referrals and
the moderation queue (docs/rewards.md). Actions call services; nothing here writes directly
to vouchers, points or moderation state."""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members.actors import request_actor
from members.admin_base import KronorAdminMixin, ReadOnlyAdmin
from members.admin_guard import MemberListGuard, OneMemberListLog, may_browse_members
from members.errors import DomainError
from members.kronor import kronor_display
from members.pictures.admin import PictureAdminMixin
from rewards.loyalty import catalogue, reviews, tier_ladder
from rewards.models import (
    Badge,
    Benefit,
    BenefitChoice,
    Challenge,
    ChallengeProgress,
    MemberBadge,
    MemberTier,
    Referral,
    Review,
    Reward,
    Tier,
    TierChange,
    Voucher,
    WaitlistEntry,
)


@admin.register(TierChange)
class TierChangeAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["created_at", "member", "from_tier", "to_tier", "reason", "qualifying"]
    list_filter = ["reason", "to_tier"]
    list_select_related = ["member", "from_tier", "to_tier"]
    search_fields = ["member__membership_number"]
    show_full_result_count = False
    fields = [
        "created_at",
        "member",
        "from_tier",
        "to_tier",
        "reason",
        "qualifying",
        "purchase_id",
    ]
    readonly_fields = fields  # type: ignore[assignment]

    @admin.display(description=_("qualifying value"), ordering="qualifying_value")
    def qualifying(self, obj: TierChange) -> str:
        # Spend is kept in öre and shown in kronor; earned points as points.
        if tier_ladder.spend_basis():
            return kronor_display(obj.qualifying_value)
        return f"{obj.qualifying_value} p"


@admin.register(Benefit)
class BenefitAdmin(admin.ModelAdmin):
    list_display = ["code", "name_sv", "kind", "min_tier", "active"]
    list_filter = ["kind", "active", "min_tier"]


@admin.register(BenefitChoice)
class BenefitChoiceAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["period_start", "member", "benefit"]
    list_filter = ["period_start", "benefit"]
    list_select_related = ["member", "benefit"]
    search_fields = ["member__membership_number"]


# --- rewards, code pools, invitations ---------------------------------------------------------


class CodeUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or text file"),
        help_text=_("One code per line (the first column of a CSV; a header 'code' is skipped)."),
    )


class TicketInline(admin.TabularInline):
    """An invitation's tickets: who comes, and who was checked in at the door (used)."""

    model = Voucher
    fields = ("member", "code", "status", "used_at", "used_store")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("ticket")
    verbose_name_plural = _("tickets and attendance")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Voucher]:
        return super().get_queryset(request).select_related("member", "used_store")


class WaitlistInline(admin.TabularInline):
    model = WaitlistEntry
    fields = ("member", "created_at", "voucher")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Reward)
class RewardAdmin(PictureAdminMixin, KronorAdminMixin, admin.ModelAdmin):
    kronor_fields = {
        "amount_off_ore": _("amount off (kr)"),
        "min_basket_ore": _("minimum basket (kr)"),
    }
    list_display = [
        "image_thumbnail",
        "code",
        "name_sv",
        "kind",
        "points_cost",
        "stock_left",
        "stock_total",
        "min_tier",
        "starts_at",
        "ends_at",
        "active",
    ]
    list_filter = ["kind", "active", "min_tier"]
    search_fields = ["code", "name_sv", "name_en"]
    readonly_fields = ["stock_left"]
    fieldsets = [
        (None, {"fields": ["code", "kind", "active", "points_cost", "min_tier"]}),
        (
            _("Texts and image"),
            {
                "fields": [
                    "name_sv",
                    "name_en",
                    "description_sv",
                    "description_en",
                    "picture",
                    "picture_remove",
                    "image_preview",
                    "image_alt_sv",
                    "image_alt_en",
                ]
            },
        ),
        (
            _("What it gives"),
            {
                "fields": [
                    "percent_off",
                    "amount_off_ore",
                    "min_basket_ore",
                    "product_sku",
                    "charity",
                    "event_starts_at",
                    "event_place",
                    "valid_days",
                ]
            },
        ),
        (
            _("Availability"),
            {"fields": ["starts_at", "ends_at", "stock_total", "stock_left", "per_member_limit"]},
        ),
    ]

    def get_inlines(self, request: HttpRequest, obj: Reward | None) -> list[Any]:
        # The guest list names members: only for roles that may list members (admin_guard).
        if obj is not None and obj.kind == Reward.Kind.INVITATION and may_browse_members(request):
            return [TicketInline, WaitlistInline]
        return []

    def save_model(self, request: HttpRequest, obj: Reward, form: Any, change: bool) -> None:
        # Stock is set once, when the reward is created; later only claims, cancellations and
        # code uploads move it (conditional updates), so an edit never races a claim.
        if not change:
            obj.stock_left = obj.stock_total
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:reward_id>/codes/",
                self.admin_site.admin_view(self.codes_view),
                name="rewards_reward_codes",
            ),
            *super().get_urls(),
        ]

    def codes_view(self, request: HttpRequest, reward_id: int) -> HttpResponse:
        """Upload a partner's codes; shows the validation report."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        reward = get_object_or_404(Reward, pk=reward_id)
        form = CodeUploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            raw = form.cleaned_data["file"].read(5_000_000)
            text = raw.decode("utf-8-sig", errors="replace")
            try:
                report = catalogue.partner_codes_upload(
                    reward=reward,
                    lines=io.StringIO(text).read().splitlines(),
                    batch=form.cleaned_data["file"].name[:60],
                )
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                reward.refresh_from_db()
        stats = reward.partner_codes.aggregate(
            total=Count("id"), free=Count("id", filter=Q(voucher__isnull=True))
        )
        return render(
            request,
            "admin/rewards/reward/codes.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Partner codes: %(name)s") % {"name": reward.name_sv},
                "reward": reward,
                "form": form,
                "report": report,
                "stats": stats,
                "opts": self.model._meta,
            },
        )


# --- vouchers -------------------------------------------------------------------------------


@admin.register(Voucher)
class VoucherAdmin(MemberListGuard, ReadOnlyAdmin):
    """Look a voucher up by its code; cancel an unused one (the points go back)."""

    list_display = ["code", "reward", "member", "status", "issued_at", "valid_until", "used_at"]
    list_filter = ["status", "reward__kind"]
    list_select_related = ["reward", "member"]
    search_fields = ["=code", "member__membership_number", "reward__code"]
    show_full_result_count = False
    actions = ["cancel_vouchers"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Voucher], search_term: str
    ) -> tuple[QuerySet[Voucher], bool]:
        # Staff type codes as printed, with dashes, or scan the QR code.
        normalised = catalogue.voucher_code_normalise(search_term)
        if len(normalised) == catalogue.CODE_LENGTH:
            return queryset.filter(code=normalised), False
        return super().get_search_results(request, queryset, search_term)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("rewards.change_voucher")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("rewards.view_voucher")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Voucher._meta.fields]

    @admin.action(description=_("Cancel and return the points"), permissions=["change"])
    def cancel_vouchers(self, request: HttpRequest, queryset: QuerySet[Voucher]) -> None:
        done = 0
        for voucher in queryset:
            try:
                catalogue.voucher_cancel(voucher_id=voucher.pk, actor=request_actor(request))
            except DomainError as exc:
                self.message_user(request, f"{voucher.code}: {exc.message}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(n)d voucher cancelled.", "%(n)d vouchers cancelled.", done)
                % {"n": done},
                messages.SUCCESS,
            )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "voucher_liability": catalogue.vouchers_liability(),
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["reward", "member", "created_at", "voucher"]
    list_filter = ["reward"]
    list_select_related = ["reward", "member"]


# --- gamification ---------------------------------------------------------------------------


@admin.register(Badge)
class BadgeAdmin(PictureAdminMixin, admin.ModelAdmin):
    list_display = ["image_thumbnail", "code", "symbol", "name_sv", "name_en"]


@admin.register(Challenge)
class ChallengeAdmin(PictureAdminMixin, admin.ModelAdmin):
    list_display = [
        "image_thumbnail",
        "code",
        "name_sv",
        "kind",
        "target",
        "window_days",
        "points",
        "badge",
    ]
    list_filter = ["kind", "active"]


@admin.register(ChallengeProgress)
class ChallengeProgressAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["member", "challenge", "progress", "completed_at"]
    list_filter = ["challenge"]
    list_select_related = ["member", "challenge"]
    search_fields = ["member__membership_number"]


@admin.register(MemberBadge)
class MemberBadgeAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["member", "badge", "awarded_at"]
    list_select_related = ["member", "badge"]
    search_fields = ["member__membership_number"]


@admin.register(Referral)
class ReferralAdmin(MemberListGuard, ReadOnlyAdmin):
    member_path = "referrer"

    list_display = ["created_at", "referrer", "referred", "status", "completed_at"]
    list_filter = ["status"]
    list_select_related = ["referrer", "referred"]
    search_fields = ["referrer__membership_number", "referred__membership_number"]


# --- the moderation queue -------------------------------------------------------------------


class PendingFirst(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("all", _("All")), *Review.Status.choices]

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or Review.Status.PENDING) == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Review]) -> QuerySet[Review]:
        value = self.value() or Review.Status.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason (shown to the member)"), max_length=200)


@admin.register(Review)
class ReviewAdmin(OneMemberListLog, ReadOnlyAdmin):
    """The moderation queue: pending reviews and posts, oldest first."""

    list_display = ["submitted_at", "member", "kind", "excerpt", "link", "status"]
    list_filter = [PendingFirst, "kind"]
    list_select_related = ["member"]
    ordering = ["submitted_at"]
    actions = ["approve", "reject"]
    search_fields = ["member__membership_number"]
    # Links members post are https unless they say otherwise (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("rewards.view_review") or self._can_moderate(request)

    def get_list_display(self, request: HttpRequest) -> Any:
        # Moderators judge the text, not who wrote it: the queue names members only to roles
        # that may list members (members.admin_guard).
        columns = list(super().get_list_display(request))
        return columns if may_browse_members(request) else [c for c in columns if c != "member"]

    def get_search_fields(self, request: HttpRequest) -> Any:
        return super().get_search_fields(request) if may_browse_members(request) else []

    def _can_moderate(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.moderate_submission")

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return self._can_moderate(request)

    @admin.display(description=_("text"))
    def excerpt(self, obj: Review) -> str:
        return obj.text[:140] + ("…" if len(obj.text) > 140 else "")

    @admin.display(description=_("link"))
    def link(self, obj: Review) -> str:
        return obj.url

    @admin.action(description=_("Approve (award points)"), permissions=["moderate"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        done = 0
        for review in queryset.order_by("pk"):
            try:
                reviews.review_approve(review_id=review.pk, actor=request_actor(request))
            except DomainError as exc:
                self.message_user(request, f"#{review.pk}: {exc.message}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(n)d post approved.", "%(n)d posts approved.", done) % {"n": done},
                messages.SUCCESS,
            )

    @admin.action(description=_("Reject…"), permissions=["moderate"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Review]) -> HttpResponse | None:
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = 0
            for review in queryset.order_by("pk"):
                try:
                    reviews.review_reject(
                        review_id=review.pk,
                        actor=request_actor(request),
                        reason=form.cleaned_data["reason"],
                    )
                except DomainError as exc:
                    self.message_user(request, f"#{review.pk}: {exc.message}", messages.WARNING)
                else:
                    done += 1
            self.message_user(
                request,
                ngettext("%(n)d post rejected.", "%(n)d posts rejected.", done) % {"n": done},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:rewards_review_changelist"))
        return render(
            request,
            "admin/rewards/review/reject.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Reject reviews and posts"),
                "form": form,
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(Tier)
class TierAdmin(KronorAdminMixin, admin.ModelAdmin):
    kronor_fields = {"threshold_spend_ore": _("spend to qualify (kr)")}
    list_display = ["code", "name_sv", "name_en", "rank"]


@admin.register(MemberTier)
class MemberTierAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = ["member", "tier", "since"]
    list_select_related = ["member", "tier"]
    raw_id_fields = ["member"]
    search_fields = ["member__membership_number"]
