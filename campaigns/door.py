"""Door check-in without an app (docs/desk.md, "Door check-in"): the member scans the store's
door poster (members.door) with the phone's camera, the club's site opens, the member is
checked in and sees a personal offer on the same page.

Not logged in: the login page first (``member_required``), then back here and checked in.
The check-in itself is a POST that the page sends by itself (see ``door``).
The offer on the page is chosen from the member's own data, in this order: today's
invitation ticket for an event, the offer of a campaign triggered by the check-in, the next
best offer (only with the member's consent to personal offers: ``next_best_offer`` returns
nothing without it), an offer from a campaign the member has not used yet. It is shown on
the page the member opened, so it is no marketing message and takes nothing from the contact
budget (campaigns.sending.batch).

A campaign triggered by the check-in is sent by the worker (the check-in's timeline event
reaches ``campaigns.triggers`` there), so its offer arrives a moment after the welcome page.
While one is on its way, the page asks ``door_offer_part`` for it every second
(``static/js/door.js``) and shows it when it is there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from campaigns.models import Campaign, Delivery, MemberOffer
from campaigns.personalisation.selectors import next_best_offer
from campaigns.selectors import member_offers
from campaigns.sending import audience
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


def _checkin_campaigns() -> list[Campaign]:
    """Sending campaigns triggered by a check-in whose message carries an offer."""
    return list(
        Campaign.objects.filter(
            status=Campaign.Status.SENDING,
            schedule_kind=Campaign.ScheduleKind.TRIGGER,
            trigger=Campaign.Trigger.CHECKED_IN,
            variants__offer__isnull=False,
        )
        .select_related("segment")
        .distinct()
    )


def triggered_offer(member: Member) -> MemberOffer | None:
    """The offer a check-in-triggered campaign gave the member today, unless used."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        MemberOffer.objects.filter(
            member=member,
            campaign__trigger=Campaign.Trigger.CHECKED_IN,
            created_at__gte=start,
        )
        .exclude(status=MemberOffer.Status.USED)
        .select_related("offer")
        .first()
    )


def triggered_offer_coming(member: Member) -> bool:
    """A check-in-triggered campaign is for this member and has not settled today's
    delivery (a suppressed one, e.g. without consent to personal offers, brings nothing)."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    for campaign in _checkin_campaigns():
        settled = Delivery.objects.filter(
            campaign=campaign,
            member=member,
            created_at__gte=start,
            status__in=Delivery.FINAL,
        ).exists()
        if not settled and audience.audience(campaign).filter(pk=member.pk).exists():
            return True
    return False


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
    triggered = triggered_offer(member)
    if triggered is not None:
        return {"kind": "offer", "member_offer": triggered}
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
    context: dict[str, Any] = {
        "member": member,
        "store": store,
        "token": token,
        "checked_in": visit is not None,
    }
    if visit is not None:
        # Whether an offer is on its way first, the offer second: the worker commits the
        # delivery and its offer together, so a delivery settled before the first read has
        # its offer seen by the second (the other order could miss both, in between).
        coming = triggered_offer_coming(member)
        offer = door_offer(member)
        context |= {
            "new": request.GET.get("ny") == "1",
            "points": visit[1],
            "offer": offer,
            "sv": member.preferred_language == Member.Language.SWEDISH,
            "offer_coming": coming
            and (offer is None or offer["kind"] != "ticket")
            and triggered_offer(member) is None,
        }
    return render(request, "campaigns/door.html", context)


@never_cache
@member_required
def door_offer_part(request: HttpRequest, token: str) -> HttpResponse:
    """The welcome page asks here for the offer of a check-in-triggered campaign: the offer's
    panel once the worker has given it (200), nothing yet (204), none coming (200, empty:
    not checked in here today, or the campaign's delivery settled without an offer)."""
    member: Member = request.member  # type: ignore[attr-defined]
    try:
        store = store_from_door_token(token)
    except DomainError as exc:
        return HttpResponse(status=exc.status)
    if visit_today(member=member, store_id=store.pk) is None:
        return HttpResponse()
    coming = triggered_offer_coming(member)  # first: see ``door``
    offer = triggered_offer(member)
    if offer is None:
        return HttpResponse(status=204 if coming else 200)
    context = {
        "offer": {"kind": "offer", "member_offer": offer},
        "panel_id": "door-visit-offer",
        "member": member,
        "sv": member.preferred_language == Member.Language.SWEDISH,
    }
    return HttpResponse(render_to_string("campaigns/_door_offer.html", context, request))
