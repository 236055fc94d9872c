"""Back-office for the ledger: a member's points (manual adjustments with a reason,
permission-gated, audited on the entry and the timeline), entries, reservations and the
points liability."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members.actors import request_actor
from members.admin_base import ReadOnlyAdmin
from members.admin_guard import MemberListGuard
from members.errors import DomainError
from members.models import Member
from members.staff_access import staff_access
from rewards import selectors
from rewards.forms import AdjustPointsForm
from rewards.ledger.points import points_adjust
from rewards.ledger.reservations import reservation_release
from rewards.models import (
    LedgerEntry,
    PointBalance,
    Purchase,
    Reservation,
)


def explanation_text(explanation: list[dict[str, Any]] | None) -> str:
    """Which rule gave how many points, in the page's language: "+990 p 1 p per krona"."""
    language = "sv" if (get_language() or "sv").startswith("sv") else "en"
    return "; ".join(
        f"{'+' if part.get('points', 0) >= 0 else ''}{part.get('points', 0)} p "
        f"{part.get(language) or part.get('sv') or ''}".strip()
        for part in explanation or []
        if isinstance(part, dict)
    )


class StoreFilter(admin.RelatedFieldListFilter):
    """The store filter under a translated title (the column has no verbose name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = str(_("store"))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "member",
        "kind",
        "points",
        "change",
        "cause",
        "store_column",
        "actor",
    ]
    list_filter = ["kind", "cause", ("store", StoreFilter)]
    list_select_related = ["member", "store", "actor"]
    search_fields = ["member__membership_number", "idempotency_key", "purchase__receipt_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "created_at",
        "member",
        "kind",
        "points",
        "pending_change",
        "posted_change",
        "reserved_change",
        "cause",
        "purchase_column",
        "reservation_column",
        "event_rule_column",
        "explanation_display",
        "reason",
        "store_column",
        "actor",
        "idempotency_key",
    ]
    readonly_fields = fields  # type: ignore[assignment]

    @admin.display(description=_("change"))
    def change(self, obj: LedgerEntry) -> int:
        return obj.signed_points

    @admin.display(description=_("change in pending points"))
    def pending_change(self, obj: LedgerEntry) -> int:
        return obj.delta_pending

    @admin.display(description=_("change in available points"))
    def posted_change(self, obj: LedgerEntry) -> int:
        return obj.delta_posted

    @admin.display(description=_("change in reserved points"))
    def reserved_change(self, obj: LedgerEntry) -> int:
        return obj.delta_reserved

    @admin.display(description=_("explanation"))
    def explanation_display(self, obj: LedgerEntry) -> str:
        return explanation_text(obj.explanation) or "—"

    @admin.display(description=_("purchase"))
    def purchase_column(self, obj: LedgerEntry) -> str:
        return str(obj.purchase) if obj.purchase_id else "—"

    @admin.display(description=_("reservation"))
    def reservation_column(self, obj: LedgerEntry) -> str:
        return str(obj.reservation) if obj.reservation_id else "—"

    @admin.display(description=_("event rule"))
    def event_rule_column(self, obj: LedgerEntry) -> str:
        return str(obj.event_rule) if obj.event_rule_id else "—"

    @admin.display(description=_("store"), ordering="store__name")
    def store_column(self, obj: LedgerEntry) -> str:
        return str(obj.store) if obj.store else "—"


@admin.register(Reservation)
class ReservationAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["created_at", "member", "store", "amount", "captured", "status", "expires_at"]
    list_filter = ["status", "store"]
    list_select_related = ["member", "store"]
    search_fields = ["member__membership_number", "reference"]
    actions = ["release"]

    @admin.action(description=_("Release selected active reservations"), permissions=["view"])
    def release(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        if not request.user.has_perm("rewards.adjust_points"):
            raise PermissionDenied
        released = 0
        for reservation in queryset.filter(status=Reservation.Status.ACTIVE):
            try:
                reservation_release(
                    reservation_id=reservation.pk, idempotency_key=f"admin-release:{reservation.pk}"
                )
                released += 1
            except DomainError:
                continue
        messages.success(request, _("%(n)d reservations released.") % {"n": released})


@admin.register(PointBalance)
class PointBalanceAdmin(MemberListGuard, ReadOnlyAdmin):
    """Balances, the liability summary, and each member's points page for staff."""

    list_display = ["member_link", "available", "pending", "reserved", "posted", "updated_at"]
    list_select_related = ["member"]
    search_fields = ["member__membership_number", "member__last_name"]
    ordering = ["-posted"]
    change_list_template = "admin/rewards/pointbalance/change_list.html"
    show_full_result_count = False

    @admin.display(description=_("member"))
    def member_link(self, obj: PointBalance) -> str:
        url = reverse("admin:rewards_member_points", args=[obj.member_id])
        return format_html('<a href="{}">{}</a>', url, obj.member)

    @admin.display(description=_("available"))
    def available(self, obj: PointBalance) -> int:
        return obj.available

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        extra = {"liability": selectors.liability(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "member/<int:member_id>/",
                self.admin_site.admin_view(self.member_points_view),
                name="rewards_member_points",
            ),
            *super().get_urls(),
        ]

    def member_points_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        member = get_object_or_404(Member, pk=member_id)
        can_adjust = request.user.has_perm("rewards.adjust_points")
        form = AdjustPointsForm(
            request.POST or None, initial={"idempotency_key": f"staff:{uuid.uuid4()}"}
        )
        if request.method == "POST":
            if not can_adjust:
                raise PermissionDenied
            if form.is_valid():
                try:
                    points_adjust(
                        member=member,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        actor=request_actor(request),
                        idempotency_key=form.cleaned_data["idempotency_key"],
                    )
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("The points were adjusted."))
                    return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Points: %(member)s") % {"member": member},
            "opts": self.model._meta,
            "member": member,
            "balance": selectors.balance_get(member=member),
            "pending": selectors.pending_by_date(member=member),
            "expiries": selectors.upcoming_expiries(member=member, limit=10),
            "entries": LedgerEntry.objects.filter(member=member)
            .select_related("store", "actor", "purchase")
            .order_by("-created_at", "-id")[:100],
            "purchases": Purchase.objects.filter(member=member)
            .select_related("store")
            .order_by("-purchased_at")[:50],
            "reservations": Reservation.objects.filter(member=member, status="active"),
            "form": form if can_adjust else None,
            "now": datetime.datetime.now(tz=datetime.UTC),
        }
        response = render(request, "admin/rewards/member_points.html", context)
        staff_access(request, member.pk, "points_page")
        return response
