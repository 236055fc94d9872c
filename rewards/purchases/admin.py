"""Back-office for purchases, products and categories (with CSV import)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from members.admin_base import ReadOnlyAdmin
from members.admin_guard import MemberListGuard
from members.kronor import kronor_display
from rewards.ledger.admin import explanation_text
from rewards.models import (
    Category,
    Product,
    Purchase,
    PurchaseLine,
)
from rewards.purchases.products import catalogue_import_csv


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    fields = [
        "line_no",
        "sku",
        "product",
        "category",
        "quantity",
        "unit_price_kronor",
        "discount_kronor",
        "vat_rate_bp",
        "points",
        "returned_quantity",
        "points_reversed",
    ]
    readonly_fields = fields  # type: ignore[assignment]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("unit price"))
    def unit_price_kronor(self, obj: PurchaseLine) -> str:
        return kronor_display(obj.unit_price_ore)

    @admin.display(description=_("discount"))
    def discount_kronor(self, obj: PurchaseLine) -> str:
        return kronor_display(obj.discount_ore)


@admin.register(Purchase)
class PurchaseAdmin(MemberListGuard, ReadOnlyAdmin):
    list_display = [
        "purchased_at",
        "store",
        "receipt_id",
        "member",
        "total_kronor",
        "points_earned",
        "points_reversed",
    ]
    list_filter = ["store", "store__kind"]
    list_select_related = ["store", "member"]
    search_fields = ["receipt_id", "member__membership_number"]
    date_hierarchy = "purchased_at"
    inlines = [PurchaseLineInline]
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The total in kronor, never in öre (members.kronor).
        names = {"total_ore": "total_kronor", "explanation": "explanation_display"}
        return list(
            dict.fromkeys(
                names.get(name, name) if isinstance(name, str) else name
                for name in super().get_fields(request, obj)
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "total_kronor", "explanation_display"]

    @admin.display(description=_("explanation"))
    def explanation_display(self, obj: Purchase) -> str:
        return explanation_text(obj.explanation) or "—"

    @admin.display(description=_("total"), ordering="total_ore")
    def total_kronor(self, obj: Purchase) -> str:
        return kronor_display(obj.total_ore)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    # The VAT rate applies to the category's products without their own (receipts; a
    # change reaches the tills' purchases within a minute, rewards.purchases.products).
    list_display = ["code", "name", "vat_rate_bp"]
    list_filter = ["vat_rate_bp"]
    search_fields = ["code", "name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "vat_rate_bp"]
    list_filter = ["category", "vat_rate_bp"]
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
