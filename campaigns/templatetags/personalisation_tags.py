"""Template tags for personalisation: the next best offer in the back-office, and "why you
got this offer" on the member's pages."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from django import template
from django.utils.translation import get_language

from campaigns.personalisation.selectors import offer_reasons
from campaigns.personalisation.views import member_next_best_offer as _next_best_offer
from members.models import Member

register = template.Library()


@register.simple_tag
def member_next_best_offer(member: Member | None) -> dict[str, Any]:
    """``{% member_next_best_offer original as nbo %}`` on the member's admin page."""
    if member is None or member.pk is None:
        return {"consented": False, "recommendations": [], "last_run": None}
    return _next_best_offer(member)


@register.simple_tag
def offers_with_reasons(member: Member, member_offers: Iterable[Any]) -> list[tuple[Any, str]]:
    """``{% offers_with_reasons member offers as rows %}{% for mo, why in rows %}``: each of
    the member's offers (``MemberOffer``) with "why you got this offer" in the active language,
    in a fixed number of queries."""
    items = list(member_offers)
    reasons = offer_reasons(
        member=member,
        offers=[(mo.pk, mo.offer.product_id, mo.offer.category_id) for mo in items],
        language=get_language(),
        campaigns=_campaigns(items),
    )
    return [(mo, reasons[mo.pk]) for mo in items]


def _campaigns(member_offers: list[Any]) -> dict[Hashable, Any]:
    """Member offer id -> the campaign that brought it, when it is already loaded (the
    member pages' offers are read with their campaign); else nothing is read for it."""
    return {
        mo.pk: mo.campaign for mo in member_offers if mo._meta.get_field("campaign").is_cached(mo)
    }


def _member_offer(item: Any) -> Any:
    """A ``MemberOffer``, or a My offers card (a dict holding it under ``item``)."""
    return item["item"] if isinstance(item, dict) else item


@register.simple_tag
def offer_reason_map(member: Member | None, items: Iterable[Any]) -> dict[Hashable, str]:
    """``{% offer_reason_map current_member cards as reasons %}``: member offer id -> "why
    you got this offer", in the active language, in a fixed number of queries. Use with
    ``{{ reasons|reason_for:card.item }}``."""
    if member is None:
        return {}
    offers = [_member_offer(item) for item in items]
    return offer_reasons(
        member=member,
        offers=[(mo.pk, mo.offer.product_id, mo.offer.category_id) for mo in offers],
        language=get_language(),
        campaigns=_campaigns(offers),
    )


@register.filter
def reason_for(reasons: dict[Hashable, str], member_offer: Any) -> str:
    return reasons.get(getattr(member_offer, "pk", None), "") if reasons else ""
