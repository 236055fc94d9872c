"""The back-office results page of one campaign, and its "promote the winner" button.

Staff only: viewing needs ``campaigns.view_campaign`` (marketers, the data protection
officer); promoting needs ``campaigns.change_campaign``. The page renders in the admin's
look, with server-side SVG charts and the same numbers as tables.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.models import Campaign, Delivery, Variant
from campaigns.results import charts
from campaigns.results.report import CampaignResults, campaign_promote_winner, campaign_results
from members.errors import DomainError


def _language() -> str:
    return "sv" if (get_language() or "sv").startswith("sv") else "en"


def _stage_names() -> dict[str, str]:
    return {
        "delivered": _("Delivered"),
        "opened": _("Opened"),
        "clicked": _("Clicked"),
        "activated": _("Activated"),
        "redeemed": _("Redeemed"),
    }


def results_context(results: CampaignResults) -> dict[str, Any]:
    """Charts, tables and sentences for the template, in the active language."""
    language = _language()
    variants = list(results.by_variant)
    rows = [(_("All variants"), results.overall["revenue"])] + [
        (_("Variant %(code)s") % {"code": v["revenue"].code}, v["revenue"]) for v in variants
    ]
    purchases_rows = [(_("All variants"), results.overall["purchases"])] + [
        (_("Variant %(code)s") % {"code": v["purchases"].code}, v["purchases"]) for v in variants
    ]
    names = (_("Contacted"), _("Control group"))
    return {
        "results": results,
        "language": language,
        "stage_names": _stage_names(),
        "funnel_svg": charts.funnel_chart(
            results.funnel,
            charts.Labels(
                title=_("Members per stage and variant"),
                description=_("Delivered, opened, clicked, activated and redeemed, per variant."),
                stages=_stage_names(),
                variant=_("Variant"),
            ),
        ),
        "uplift_svg": charts.uplift_chart(
            rows,
            charts.Labels(
                title=_("Revenue uplift per member, with its confidence interval (95 %)"),
                description=_(
                    "Contacted minus control, in kronor per member; the line is the confidence "
                    "interval (95 %), zero means no difference."
                ),
                stages={},
            ),
        ),
        "means_svg": charts.means_chart(
            [(label, u.contacted.mean, u.control.mean) for label, u in rows],
            charts.Labels(
                title=_("Revenue per member in the goal window"),
                description=_("Contacted members and the control group, kronor per member."),
                stages={},
            ),
            names,
        ),
        "uplift_rows": [
            {"label": label, "uplift": u, "text": u.text[language]} for label, u in rows
        ],
        "purchase_rows": [
            {"label": label, "uplift": u, "text": u.text[language]} for label, u in purchases_rows
        ],
        "winner": results.winner,
        "variants": Variant.objects.filter(campaign=results.campaign).order_by("code"),
    }


@staff_member_required
@require_http_methods(["GET", "HEAD"])
def campaign_results_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    if not request.user.has_perm("campaigns.view_campaign"):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    # A recurring or triggered campaign sends in occurrences: all together, or one of them.
    occurrences = sorted(
        set(Delivery.objects.filter(campaign=campaign).values_list("occurrence", flat=True))
    )
    occurrence = request.GET.get("occurrence")
    if occurrence not in occurrences:
        occurrence = None
    context = {
        **admin.site.each_context(request),
        "title": _("Results: %(name)s") % {"name": campaign.name},
        "campaign": campaign,
        "opts": Campaign._meta,
        "occurrences": occurrences if len(occurrences) > 1 else [],
        "occurrence": occurrence,
        "can_promote": request.user.has_perm("campaigns.change_campaign")
        and campaign.status == Campaign.Status.DONE,
        **results_context(campaign_results(campaign=campaign, occurrence=occurrence)),
    }
    return TemplateResponse(request, "campaigns/results.html", context)


@staff_member_required
@require_POST
def campaign_promote(request: HttpRequest, campaign_id: int) -> HttpResponse:
    if not request.user.has_perm("campaigns.change_campaign"):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    variant = None
    raw = request.POST.get("variant", "")
    if raw:
        if not raw.isdigit():
            messages.error(request, _("Choose a variant from the list."))
            return redirect("campaign_results:detail", campaign_id=campaign.pk)
        variant = Variant.objects.filter(pk=int(raw), campaign=campaign).first()
        if variant is None:
            messages.error(request, _("Choose a variant from the list."))
            return redirect("campaign_results:detail", campaign_id=campaign.pk)
    try:
        promotion = campaign_promote_winner(campaign=campaign, actor=request.user, variant=variant)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Variant %(code)s is being sent to the rest of the segment.")
            % {"code": promotion.variant.code},
        )
    return redirect("campaign_results:detail", campaign_id=campaign.pk)
