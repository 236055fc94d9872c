"""Template tags for personalisation in the back-office."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.translation import get_language

from campaigns.personalisation import offer_reasons
from campaigns.personalisation_views import member_next_best_offer as _next_best_offer
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
    )
    return [(mo, reasons[mo.pk]) for mo in items]
