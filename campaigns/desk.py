"""The campaigns section of the staff desk (members.desk): the member's offers (activated
first) and the next best offer with its reason, so staff can present it in the member's
language ("Because you bought ...")."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from campaigns.models import MemberOffer
from campaigns.personalisation.selectors import next_best_offer
from campaigns.selectors import member_offers
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
        },
    )


def desk_register() -> None:
    """Called from ``CampaignsConfig.ready``."""
    from members.desk import desk_section_register

    desk_section_register(name="campaigns.offers", order=25, render=offers_section)
