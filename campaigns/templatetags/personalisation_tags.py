"""Template tags for personalisation in the back-office."""

from __future__ import annotations

from typing import Any

from django import template

from campaigns.personalisation_views import member_next_best_offer as _next_best_offer
from members.models import Member

register = template.Library()


@register.simple_tag
def member_next_best_offer(member: Member | None) -> dict[str, Any]:
    """``{% member_next_best_offer original as nbo %}`` on the member's admin page."""
    if member is None or member.pk is None:
        return {"consented": False, "recommendations": [], "last_run": None}
    return _next_best_offer(member)
