"""The data-quality page in the back-office (docs/data-quality.md).

Registered on the snapshot model, so it is listed on the admin index ("Data quality", under
Campaigns) for exactly the staff who hold its view permission: the data protection officer,
marketers and administrators. Its list page is the data-quality page; ``list/<code>/`` shows
the members or purchases behind one count. Views parse, authorise, call the services in
``counts`` and ``snapshots``, render.

Who sees what in a list of members: everyone allowed on the page sees membership numbers and
what is wrong in words, never names; staff who may browse members (``consent.browse_members``
and ``members.view_member``: the data protection officer, administrators) also see the
address or number at fault and open the member's record from the number. Every member shown
is a staff access to their data: one access-log row each (``members.staff_access``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from campaigns.data_quality.charts import trend_chart
from campaigns.data_quality.counts import (
    BY_CODE,
    COUNTS,
    data_quality_counts,
    data_quality_members,
    data_quality_purchases,
)
from campaigns.data_quality.snapshots import data_quality_latest, data_quality_trend
from campaigns.models import DataQualitySnapshot
from members.admin_base import ReadOnlyAdmin
from members.admin_guard import may_browse_members
from members.staff_access import staff_access

ACCESS_VIEW = "list:campaigns.dataqualitysnapshot"


@admin.register(DataQualitySnapshot)
class DataQualityAdmin(ReadOnlyAdmin):
    fields = ["taken_on", "taken_at", "counts_shown"]
    readonly_fields = ["taken_on", "taken_at", "counts_shown"]

    def get_urls(self) -> list[Any]:
        return [
            path(
                "list/<slug:code>/",
                self.admin_site.admin_view(require_safe(self.list_view)),
                name="campaigns_dataqualitysnapshot_list",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("counts"))
    def counts_shown(self, obj: DataQualitySnapshot) -> SafeString:
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                ((kind.label, obj.counts.get(kind.code, "–")) for kind in COUNTS),
            ),
        )

    def _check(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """The data-quality page: each count now, 7 and 30 days ago, and its 90-day trend."""
        self._check(request)
        counts = data_quality_counts()
        trends = data_quality_trend(counts=counts)
        rows = []
        for kind in COUNTS:
            trend = trends[kind.code]
            link, note = self._link(request, kind.code, kind.subject)
            rows.append(
                {
                    "kind": kind,
                    "count": counts[kind.code],
                    "trend": trend,
                    "chart": trend_chart(
                        trend.values,
                        title=_("%(name)s, day by day over the last 90 days: now %(now)s")
                        % {"name": kind.label, "now": counts[kind.code]},
                    ),
                    "link": link,
                    "link_note": note,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Data quality"),
            "rows": rows,
            "latest": data_quality_latest(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/campaigns/data_quality.html", context)

    def _link(self, request: HttpRequest, code: str, subject: str) -> tuple[str, str]:
        """Where a count's list is, or why there is no link for this staff member."""
        if subject in ("members", "purchases"):
            return reverse("admin:campaigns_dataqualitysnapshot_list", args=[code]), ""
        if subject == "products":
            if request.user.has_perm("rewards.view_product") or request.user.has_perm(
                "rewards.change_product"
            ):
                return reverse("admin:rewards_product_changelist") + "?category__isnull=True", ""
            return "", _("The product list is for staff who see products.")
        may_review = request.user.has_perm(
            "members.view_duplicatecandidate"
        ) or request.user.has_perm("members.change_duplicatecandidate")
        try:
            queue = reverse("admin:members_duplicatecandidate_changelist")
        except NoReverseMatch:
            return "", _("The review queue is not available.")
        if not may_review:
            return "", _("The review queue is for the data protection officer and administrators.")
        return queue, ""  # the queue shows the open pairs by default

    def list_view(self, request: HttpRequest, code: str) -> HttpResponse:
        """The members or purchases behind one count, 50 a page."""
        self._check(request)
        kind = BY_CODE.get(code)
        if kind is None or kind.subject not in ("members", "purchases"):
            raise Http404
        page_number = request.GET.get("page", 1)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": kind.label,
            "kind": kind,
        }
        if kind.subject == "purchases":
            context["page"] = data_quality_purchases(page=page_number)
            return TemplateResponse(request, "admin/campaigns/data_quality_purchases.html", context)
        with_values = request.user.has_perm("members.view_member") and may_browse_members(request)
        page = data_quality_members(code=code, page=page_number, with_values=with_values)
        context.update(
            page=page,
            with_values=with_values,
            may_open=request.user.has_perm("members.view_member"),
            value_label=_("Mobile number") if code == "phones_invalid" else _("Email address"),
            problem_label=_("What is missing") if kind.field else _("What is wrong"),
            show_last_activity=code == "members_inactive_past_retention",
        )
        response = TemplateResponse(request, "admin/campaigns/data_quality_members.html", context)
        response.render()
        for row in page.object_list:
            staff_access(request, row.member_id, ACCESS_VIEW)
        return response
