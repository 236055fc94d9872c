"""Member-page and back-office views of personalisation.

- :func:`recommended_panel`: "Recommended for you" on My pages, with the reason for each
  product in the member's language (registered in ``campaigns.personalisation_hooks``).
- :func:`member_next_best_offer`: the data behind the "Next best offer" box staff see on a
  member's admin page (template ``admin/members/member/change_form.html``).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.translation import get_language

from campaigns.personalisation.profiling import profiled_members
from campaigns.personalisation.selectors import personalisation_last_run, recommended_products
from members.models import Member

PANEL_SIZE = 3


def _language() -> str:
    return "sv" if (get_language() or "sv").startswith("sv") else "en"


def recommended_panel(request: HttpRequest, member: Member) -> str:
    """The panel, or nothing when there is nothing to recommend (or no consent)."""
    recommendations = recommended_products(member=member, limit=PANEL_SIZE, language=_language())
    if not recommendations:
        return ""
    return render_to_string(
        "campaigns/_recommended_panel.html",
        {"recommendations": recommendations},
    )  # no request: a panel needs no context processors (members.pages)


def member_next_best_offer(member: Member) -> dict[str, Any]:
    """What staff see: the ranked recommendations with reasons, in the staff member's
    language, or why there are none (no consent, not computed yet)."""
    consented = profiled_members().filter(pk=member.pk).exists()
    return {
        "consented": consented,
        "recommendations": recommended_products(member=member, limit=5, language=_language())
        if consented
        else [],
        "last_run": personalisation_last_run(),
    }
