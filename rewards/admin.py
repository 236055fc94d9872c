"""Back-office for the ledger: a member's points and purchases, manual adjustments (with a
reason, permission-gated, audited on the entry and the timeline), earning rules with a
"simulate" page, reservations, the catalogue (with CSV import) and the points liability."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members.actors import request_actor
from members.admin_base import ReadOnlyAdmin
from members.admin_guard import MemberListGuard
from members.errors import DomainError
from members.models import Member
from rewards import selectors
from rewards.forms import AdjustPointsForm, SimulateForm
from rewards.ledger.points import points_adjust
from rewards.ledger.reservations import reservation_release
from rewards.models import (
    Category,
    EarningRule,
    EventRule,
    LedgerEntry,
    MemberTier,
    PointBalance,
    Product,
    Purchase,
    PurchaseLine,
    Reservation,
    Tier,
)
from rewards.purchases.products import catalogue_import_csv
from rewards.rules import earning


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = ["created_at", "member", "kind", "points", "change", "cause", "store", "actor"]
    list_filter = ["kind", "cause", "store"]
    list_select_related = ["member", "store", "actor"]
    search_fields = ["member__membership_number", "idempotency_key", "purchase__receipt_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("change"))
    def change(self, obj: LedgerEntry) -> int:
        return obj.signed_points


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    fields = [
        "line_no",
        "sku",
        "product",
        "category",
        "quantity",
        "unit_price_ore",
        "discount_ore",
        "points",
        "returned_quantity",
        "points_reversed",
    ]
    readonly_fields = fields  # type: ignore[assignment]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Purchase)
class PurchaseAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = [
        "purchased_at",
        "store",
        "receipt_id",
        "member",
        "total_ore",
        "points_earned",
        "points_reversed",
    ]
    list_filter = ["store", "store__kind"]
    list_select_related = ["store", "member"]
    search_fields = ["receipt_id", "member__membership_number"]
    date_hierarchy = "purchased_at"
    inlines = [PurchaseLineInline]
    show_full_result_count = False


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


class RuleCacheMixin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        earning.rules_cache_clear()


@admin.register(EarningRule)
class EarningRuleAdmin(RuleCacheMixin):
    list_display = [
        "name_en",
        "kind",
        "active",
        "priority",
        "rate",
        "multiplier",
        "category",
        "product",
        "store",
        "tier",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["kind", "active", "store", "tier"]
    list_editable = ["active"]
    autocomplete_fields = ["category", "product"]
    search_fields = ["name_sv", "name_en"]
    change_list_template = "admin/rewards/earningrule/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="rewards_earningrule_simulate",
            ),
            *super().get_urls(),
        ]

    def simulate_view(self, request: HttpRequest) -> HttpResponse:
        """Paste a basket and see the points each active rule would give (nothing is saved)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SimulateForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = _simulate(form.cleaned_data)
            except ValidationError as exc:
                form.add_error("basket", exc)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "result": result,
            "title": _("Simulate earning rules"),
            "opts": self.model._meta,
        }
        return render(request, "admin/rewards/simulate.html", context)


def _simulate(data: dict[str, Any]) -> dict[str, Any]:
    lines = []
    skus = []
    for number, raw in enumerate(data["basket"].splitlines(), 1):
        raw = raw.strip()
        if not raw:
            continue
        parts = [p.strip() for p in raw.split(";")]
        try:
            sku, quantity, price = parts[0], int(parts[1]), Decimal(parts[2].replace(",", "."))
            discount = Decimal(parts[3].replace(",", ".")) if len(parts) > 3 and parts[3] else 0
        except (IndexError, ValueError, InvalidOperation) as exc:
            raise ValidationError(
                _("Line %(n)d: write SKU;quantity;price") % {"n": number}
            ) from exc
        if quantity < 1 or price < 0:
            raise ValidationError(
                _("Line %(n)d: quantity and price must be positive.") % {"n": number}
            )
        skus.append(sku)
        lines.append((sku, quantity, int(price * 100), int(Decimal(discount) * 100)))
    if not lines:
        raise ValidationError(_("Paste at least one line."))
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus).select_related("category")}
    tier = Tier.objects.filter(code=data.get("tier") or "").first()
    inputs = [
        earning.LineForEarning(
            product_id=products[sku].pk if sku in products else None,
            category_id=products[sku].category_id if sku in products else None,
            quantity=quantity,
            unit_price_ore=price,
            discount_ore=discount,
        )
        for sku, quantity, price, discount in lines
    ]
    calc = earning.earning_calculate(
        lines=inputs,
        store_id=data["store"].pk,
        tier_id=tier.pk if tier else None,
        day=data.get("day") or timezone.localdate(),
        total_ore=sum(i.net_ore for i in inputs),
        rules=earning.rules_active(),
    )
    return {
        "total": calc.total,
        "explanation": calc.explanation,
        "lines": [
            {
                "sku": sku,
                "quantity": q,
                "net": inp.net_ore / 100,
                "points": pts,
                "known": sku in products,
            }
            for (sku, q, _p, _d), inp, pts in zip(lines, inputs, calc.line_points, strict=True)
        ],
    }


@admin.register(EventRule)
class EventRuleAdmin(admin.ModelAdmin):
    list_display = ["event", "name_en", "points", "cap", "period", "beneficiary", "active"]
    list_filter = ["event", "active"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category"]
    list_filter = ["category"]
    search_fields = ["sku", "name"]
    list_select_related = ["category"]
    autocomplete_fields = ["category"]
    change_list_template = "admin/rewards/product/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="rewards_product_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """CSV with a header row: sku,name,category_code,category_name."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        error = None
        if request.method == "POST" and request.FILES.get("file"):
            upload = request.FILES["file"]
            try:
                text = upload.read(5_000_000).decode("utf-8-sig")  # type: ignore[union-attr]
                created, updated = catalogue_import_csv(rows=csv.DictReader(io.StringIO(text)))
            except (UnicodeDecodeError, csv.Error) as exc:
                error = _("The file is not a UTF-8 CSV file: %(e)s") % {"e": exc}
            except ValidationError as exc:
                error = "; ".join(exc.messages)
            else:
                messages.success(
                    request,
                    _("%(c)d products created, %(u)d updated.") % {"c": created, "u": updated},
                )
                return HttpResponseRedirect(reverse("admin:rewards_product_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "error": error,
            "title": _("Import products"),
            "opts": self.model._meta,
        }
        return render(request, "admin/rewards/import.html", context)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["code", "name_sv", "name_en", "rank"]


@admin.register(MemberTier)
class MemberTierAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = ["member", "tier", "since"]
    list_select_related = ["member", "tier"]
    raw_id_fields = ["member"]
    search_fields = ["member__membership_number"]


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
        return render(request, "admin/rewards/member_points.html", context)
