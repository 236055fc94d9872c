"""rewards' panel on the duplicate review page (members.duplicate_panels): each member's
points and purchases, so the reviewer sees what a merge would bring together."""

from __future__ import annotations

from django.db.models import Count, Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.duplicate_panels import date_text, duplicate_panel_register
from members.models import Member
from rewards.models import Purchase
from rewards.selectors import balance_get


def rewards_facts(member: Member) -> list[tuple[str, str]]:
    balance = balance_get(member=member)
    purchases = Purchase.objects.filter(member=member).aggregate(
        count=Count("pk"), last=Max("purchased_at")
    )
    return [
        (_("Points available"), str(balance["available"])),
        (_("Points pending"), str(balance["pending"])),
        (_("Purchases"), str(purchases["count"])),
        (_("Last purchase"), date_text(purchases["last"])),
    ]


def register() -> None:
    """Called from ``RewardsConfig.ready``."""
    duplicate_panel_register(
        name="rewards", order=20, title=gettext_lazy("Points and purchases"), facts=rewards_facts
    )
