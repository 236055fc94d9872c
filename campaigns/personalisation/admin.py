"""Back-office for personalisation: what goes with what, the interest map, and the runs.

- Product and category affinities: read-only lists, strongest first ("people who buy X
  also buy Y"), for marketers to check what the nightly job found.
- Interest categories: which categories an interest is about; marketers keep this map.
- Personalisation runs: read-only history, with a "Run now" button that queues the job.

Members' own recommendations are not listed here: staff see one member's next best offer
on that member's page, never a bulk list of who is profiled how.
Registered from ``campaigns.personalisation_hooks``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    CategoryAffinity,
    InterestCategory,
    PersonalisationRun,
    ProductAffinity,
)
from members.admin_base import ReadOnlyAdmin


@admin.register(ProductAffinity)
class ProductAffinityAdmin(ReadOnlyAdmin):
    list_display = ["product_a", "product_b", "basis", "pair_count", "confidence_pct", "lift_x"]
    list_filter = ["basis"]
    list_select_related = ["product_a", "product_b"]
    search_fields = ["product_a__name", "product_a__sku", "product_b__name", "product_b__sku"]
    ordering = ["-lift", "-pair_count"]
    show_full_result_count = False

    @admin.display(description=_("confidence"), ordering="confidence")
    def confidence_pct(self, obj: ProductAffinity) -> str:
        return f"{obj.confidence * 100:.0f} %"

    @admin.display(description=_("lift"), ordering="lift")
    def lift_x(self, obj: ProductAffinity) -> str:
        return f"{obj.lift:.2f}×"


@admin.register(CategoryAffinity)
class CategoryAffinityAdmin(ReadOnlyAdmin):
    list_display = ["category_a", "category_b", "basis", "pair_count", "confidence", "lift"]
    list_filter = ["basis"]
    list_select_related = ["category_a", "category_b"]
    ordering = ["-lift", "-pair_count"]


@admin.register(InterestCategory)
class InterestCategoryAdmin(admin.ModelAdmin):
    list_display = ["interest", "category"]
    list_filter = ["interest"]
    list_select_related = ["interest", "category"]


@admin.register(PersonalisationRun)
class PersonalisationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "baskets",
        "histories",
        "product_pairs",
        "category_pairs",
        "members_scored",
        "recommendations",
    ]
    change_list_template = "admin/campaigns/personalisationrun/change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name="campaigns_personalisationrun_run",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue the nightly job now (POST; needs ``campaigns.add_personalisationrun``)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("campaigns.add_personalisationrun"):
            raise PermissionDenied
        from campaigns.personalisation.tasks import personalisation_nightly

        personalisation_nightly.delay()
        messages.success(
            request, _("The personalisation job is queued; it runs in the background.")
        )
        return HttpResponseRedirect(reverse("admin:campaigns_personalisationrun_changelist"))
