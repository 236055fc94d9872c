"""Personalisation's registrations with the apps below it: ``register``, called once from
``CampaignsConfig.ready``:

- export section "recommendations": the member's stored recommendations, every field;
- erasure step: delete the member's recommendations;
- retention job: delete recommendations of members who may no longer be profiled (the
  nightly run does the same; this covers a paused personalisation job);
- "my data" section "What we recommend and why" (:func:`page_rows`): one query, with the
  profiling consent checked in it (empty after a withdrawal);
- My pages panel "Recommended for you" (``members.pages``);
- timeline consumer: a withdrawal of ``profiling`` deletes the member's recommendations
  within seconds (after commit), not only at the next nightly run;
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from campaigns.models import MemberRecommendation
from campaigns.personalisation.profiling import profiled_members
from campaigns.personalisation.recommendations import (
    recommendations_erase,
    recommendations_on_withdrawal,
)
from campaigns.personalisation.selectors import recommended_products
from campaigns.personalisation.views import recommended_panel
from consent.privacy_parts import (
    erasure_step_register,
    export_section_register,
    model_row,
    page_section_register,
    retention_job_register,
)
from members.activity import Kind, consumer_register
from members.models import Member
from members.pages import panel_register


def _export_rows(member: Member) -> list[dict[str, Any]]:
    return [
        model_row(rec)
        for rec in MemberRecommendation.objects.filter(member=member).order_by("rank", "pk")
    ]


def page_rows(member: Member) -> list[dict[str, str]]:
    language = "sv" if (get_language() or "sv").startswith("sv") else "en"
    return [
        {"product": rec.name, "why": rec.reason_text}
        for rec in recommended_products(member=member, limit=10, language=language)
    ]


def _erase(member: Member) -> None:
    recommendations_erase(member=member)


def _purge_unconsented(now: datetime.datetime) -> int:
    deleted, _by_model = MemberRecommendation.objects.exclude(
        member__in=profiled_members()
    ).delete()
    return deleted


def register() -> None:
    """Called once, from ``CampaignsConfig.ready``."""
    export_section_register(
        name="recommendations",
        title=_("Products recommended to you"),
        rows=_export_rows,
        model=MemberRecommendation,
        order=460,
    )
    page_section_register(
        name="recommendations",
        title=_("What we recommend and why"),
        description=_(
            "Products we think you will like, worked out from your purchases and interests "
            "because you allowed profiling. Withdraw that consent and they are deleted."
        ),
        empty_text=_("We do not recommend anything to you right now."),
        rows=page_rows,
        columns=[_("Product"), _("Why")],
        order=45,
    )
    erasure_step_register(name="campaigns.recommendations", run=_erase, order=55)
    retention_job_register(name="campaigns.recommendations", run=_purge_unconsented)
    panel_register(name="campaigns.recommended", order=30, render=recommended_panel)
    consumer_register(
        name="campaigns.recommendations_withdrawn",
        kinds=[Kind.CONSENT_WITHDRAWN],
        handler=recommendations_on_withdrawal,
    )
