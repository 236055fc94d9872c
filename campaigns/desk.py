"""The campaigns section of the staff desk (members.desk): the member's offers (activated
first) and the next best offer with its reason, so staff can present it in the member's
language ("Because you bought ..."). An offer that waits for activation can be activated
for the member at the desk; an activated reward offer's voucher is then in the vouchers
section, with its "use in store"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign, MemberOffer, Offer
from campaigns.offers import offer_activate
from campaigns.personalisation.profiling import may_profile
from campaigns.personalisation.selectors import next_best_offer
from campaigns.selectors import member_offers
from members.actors import request_staff
from members.desk_views import desk_view
from members.errors import DomainError, NotFoundError
from members.models import Member

OFFERS_SHOWN = 5


def offers_section(request: HttpRequest, member: Member) -> str:
    offers = [o for o in member_offers(member=member) if o.status != MemberOffer.Status.USED]
    offers.sort(key=lambda o: o.status != MemberOffer.Status.ACTIVE)  # activated first
    return render_to_string(
        "admin/desk/campaigns_offers.html",
        {
            "offers": offers[:OFFERS_SHOWN],
            "sv": member.preferred_language == Member.Language.SWEDISH,
            # [] without the member's consent to profiling: then there is no recommendation
            "recommendation": next_best_offer(member=member),
            "consented": may_profile(member.pk),
            "member": member,
            "can_activate": request.user.has_perm("campaigns.change_memberoffer"),
        },
        request,
    )


@desk_view
@require_POST
def offer_activate_for_member(
    request: HttpRequest, member_id: int, member_offer_id: int
) -> HttpResponse:
    """The member asks in store: staff activate the offer for them (``offer_activate``)."""
    if not request.user.has_perm("campaigns.change_memberoffer"):
        raise PermissionDenied
    member = get_object_or_404(Member, pk=member_id, erased_at__isnull=True)
    try:
        item = offer_activate(
            member=member, member_offer_id=member_offer_id, staff=request_staff(request)
        )
    except NotFoundError as exc:
        raise Http404 from exc  # not this member's offer
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if item.offer.kind == Offer.Kind.REWARD:
            messages.success(
                request,
                _("The offer is activated: the voucher is under Vouchers and tickets."),
            )
        else:
            messages.success(
                request, _("The offer is activated: it counts on the member's purchases.")
            )
    return HttpResponseRedirect(reverse("desk:member", args=[member.pk]))


def _campaign_name(pk: str) -> str | None:
    """The timeline's "Received <campaign>": the campaign's name, as marketers gave it."""
    if not pk.isdigit():
        return None
    return Campaign.objects.filter(pk=int(pk)).values_list("name", flat=True).first()


def _offer_title(pk: str) -> str | None:
    """The timeline's "Activated the offer <offer>": its internal name (titles may hold
    placeholders such as {{ first_name }})."""
    if not pk.isdigit():
        return None
    return Offer.objects.filter(pk=int(pk)).values_list("name", flat=True).first()


def desk_register() -> None:
    """Called from ``CampaignsConfig.ready``."""
    from members.desk import desk_section_register
    from members.labels import fact_name_register

    fact_name_register("campaign", _campaign_name)
    fact_name_register("offer", _offer_title)

    desk_section_register(name="campaigns.offers", order=25, render=offers_section)
