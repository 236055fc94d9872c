"""Member pages ("My offers"), the offers panel on "My pages", and tracked links."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from campaigns import offers, selectors
from campaigns.models import Offer
from campaigns.sending.tracking import delivery_clicked, delivery_opened
from members.errors import DomainError, NotFoundError
from members.models import Member
from members.views import member_required

# A 1x1 transparent GIF for the open pixel.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _cards(member: Member, *, vouchers: bool = False) -> list[dict]:
    """The member's offer cards; with ``vouchers``, each collected reward offer's voucher
    (one more query)."""
    language = (get_language() or "sv")[:2]
    items = selectors.member_offers(member=member)
    issued = (
        selectors.offer_vouchers(
            member_offer_ids=[i.pk for i in items if i.offer.kind == Offer.Kind.REWARD]
        )
        if vouchers
        else {}
    )
    return [
        {
            "item": item,
            "title": item.offer.title_for(language),
            "body": item.offer.body_for(language),
            "needs_activation": item.offer.needs_activation and item.status == "available",
            "is_reward": item.offer.kind == Offer.Kind.REWARD,
            "voucher": issued.get(item.pk),
        }
        for item in items
    ]


def offers_panel(request: HttpRequest, member: Member) -> str:
    """The offers panel on "My pages": how many, and the newest one not yet used."""
    cards = _cards(member)
    open_cards = [c for c in cards if c["item"].status != "used"]
    return render_to_string(
        "campaigns/_offers_panel.html",
        {
            "count": len(open_cards),
            "waiting": sum(1 for c in cards if c["needs_activation"]),
            "newest": open_cards[0] if open_cards else None,  # newest first (selectors)
        },
    )  # no request: a panel needs no context processors (members.pages)


@never_cache
@member_required
def my_offers(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    return render(
        request,
        "campaigns/my_offers.html",
        {
            "cards": _cards(member, vouchers=True),
            "inbox": selectors.member_inbox(member=member),
        },
    )


@require_POST
@member_required
def offer_activate(request: HttpRequest, pk: int) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    try:
        item = offers.offer_activate(member=member, member_offer_id=pk)
    except NotFoundError as error:
        raise Http404 from error
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if item.offer.kind == Offer.Kind.REWARD:
            messages.success(request, _("Done! Your voucher is ready under My offers."))
        else:
            messages.success(
                request, _("The offer is active. It applies automatically when you shop.")
            )
    return redirect("campaigns:my-offers")


@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    try:
        url = delivery_clicked(token=token)
    except NotFoundError as error:
        raise Http404 from error
    return HttpResponseRedirect(url)


@require_GET
def opened(request: HttpRequest, token: str) -> HttpResponse:
    delivery_opened(token=token)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response
