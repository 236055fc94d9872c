"""Door check-in without an app (docs/desk.md, "Door check-in"): the member scans the store's
door poster (members.door) with the phone's camera, the club's site opens, the member is
checked in and sees a personal offer on the same page.

Not logged in: the login page first (``member_required``), then back here and checked in.
The check-in itself is a POST that the page sends by itself (see ``door``).
The offer on the page is chosen from the member's own data, in this order: today's
invitation ticket for an event, the next best offer (only with the member's consent to
personal offers: ``next_best_offer`` returns nothing without it), an offer from a campaign
the member has not used yet. It is shown on the page the member opened, so it is no
marketing message and takes nothing from the contact budget.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from campaigns.models import MemberOffer
from campaigns.personalisation.selectors import next_best_offer
from campaigns.selectors import member_offers
from members.door import store_from_door_token
from members.errors import DomainError
from members.models import Member
from members.views import member_required
from rewards.models import Reward, Voucher
from rewards.rules.events import checkin_record_at_door
from rewards.selectors import visit_today


def _rate_limited(member: Member) -> bool:
    """More than ``DOOR_SCANS_PER_MINUTE`` scans by one member in a minute: refused."""
    key = f"door-scans:{member.pk}:{int(timezone.now().timestamp() // 60)}"
    cache.add(key, 0, 90)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
    return count > settings.DOOR_SCANS_PER_MINUTE


def door_offer(member: Member) -> dict[str, Any] | None:
    """What the member sees on arrival, or None."""
    today = timezone.localdate()
    ticket = (
        Voucher.objects.filter(
            member=member,
            status=Voucher.Status.ISSUED,
            reward__kind=Reward.Kind.INVITATION,
            reward__event_starts_at__date=today,
        )
        .select_related("reward")
        .first()
    )
    if ticket is not None:
        return {"kind": "ticket", "voucher": ticket, "reward": ticket.reward}
    recommendation = next_best_offer(member=member)
    if recommendation is not None:
        return {"kind": "recommendation", "recommendation": recommendation}
    offer = next(
        (o for o in member_offers(member=member) if o.status != MemberOffer.Status.USED), None
    )
    if offer is not None:
        return {"kind": "offer", "member_offer": offer}
    return None


@never_cache
@member_required
def door(request: HttpRequest, token: str) -> HttpResponse:
    """GET reads: the welcome and the offer once the member is checked in today, else a page
    whose form checks in (sent by itself with ``static/js/door.js``; a tap without script).
    POST checks in. So a link preview, a prefetch or a crawler that opens the poster's
    address checks nobody in."""
    member: Member = request.member  # type: ignore[attr-defined]
    try:
        store = store_from_door_token(token)
    except DomainError as exc:
        return render(request, "campaigns/door.html", {"error": exc.message}, status=exc.status)
    if request.method == "POST":
        if _rate_limited(member):
            error = _("Too many scans in a short time. Wait a minute and try again.")
            return render(request, "campaigns/door.html", {"error": error}, status=429)
        _checkin, _entries, new = checkin_record_at_door(member=member, store=store)
        return HttpResponseRedirect(request.path + ("?ny=1" if new else ""))
    visit = visit_today(member=member, store_id=store.pk)
    context: dict[str, Any] = {"member": member, "store": store, "checked_in": visit is not None}
    if visit is not None:
        context |= {
            "new": request.GET.get("ny") == "1",
            "points": visit[1],
            "offer": door_offer(member),
            "sv": member.preferred_language == Member.Language.SWEDISH,
        }
    return render(request, "campaigns/door.html", context)
