"""Back-office for earning rules (with a "simulate" page) and event rules."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.admin_base import KronorAdminMixin
from rewards.forms import SimulateForm
from rewards.models import (
    EarningRule,
    EventRule,
    Product,
    Tier,
)
from rewards.rules import earning


class RuleCacheMixin(KronorAdminMixin, admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        earning.rules_cache_clear()


@admin.register(EarningRule)
class EarningRuleAdmin(RuleCacheMixin):
    kronor_fields = {"min_purchase_ore": _("minimum purchase (kr)")}
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
