"""Who may be profiled (the ``profiling`` consent) and the personalisation settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models.personalisation import (
    MemberRecommendation,
)
from consent.models import ConsentState
from members.models import Member
from members.rows import CompiledQuery

PROFILING_PURPOSE = "profiling"


Reason = MemberRecommendation.Reason


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass(frozen=True)
class PersonalisationSettings:
    """Thresholds and weights (settings ``PERSONALISATION_*``, docs/personalisation.md)."""

    window_days: int = 365
    min_pair_count: int = 2
    min_support: float = 0.0
    min_lift: float = 1.0
    max_basket_items: int = 50
    max_history_items: int = 100
    neighbours: int = 20
    per_member: int = 5
    chunk_size: int = 2000

    @classmethod
    def load(cls) -> PersonalisationSettings:
        return cls(
            window_days=_setting("PERSONALISATION_WINDOW_DAYS", cls.window_days),
            min_pair_count=_setting("PERSONALISATION_MIN_PAIR_COUNT", cls.min_pair_count),
            min_support=_setting("PERSONALISATION_MIN_SUPPORT", cls.min_support),
            min_lift=_setting("PERSONALISATION_MIN_LIFT", cls.min_lift),
            max_basket_items=_setting("PERSONALISATION_MAX_BASKET_ITEMS", cls.max_basket_items),
            max_history_items=_setting("PERSONALISATION_MAX_HISTORY_ITEMS", cls.max_history_items),
            neighbours=_setting("PERSONALISATION_NEIGHBOURS", cls.neighbours),
            per_member=_setting("PERSONALISATION_PER_MEMBER", cls.per_member),
            chunk_size=_setting("PERSONALISATION_CHUNK_SIZE", cls.chunk_size),
        )


def profiling_consent_q(member_ref: str = "pk") -> Exists:
    """``Exists`` for "the member has granted the profiling purpose", for filters."""
    return Exists(
        ConsentState.objects.filter(
            member_id=OuterRef(member_ref),
            purpose__code=PROFILING_PURPOSE,
            channel="",
            granted=True,
        )
    )


def profiled_members() -> QuerySet[Member]:
    """Members who may be profiled now: consent granted and not erased."""
    return Member.objects.filter(profiling_consent_q(), erased_at__isnull=True)


_MAY_PROFILE: CompiledQuery[Member] = CompiledQuery(
    lambda member_id: profiled_members().filter(pk=member_id).only("pk")[:1], "member_id"
)


def may_profile(member_id: int) -> bool:
    """``profiled_members().filter(pk=member_id).exists()``, compiled once (members.rows)."""
    return bool(_MAY_PROFILE(member_id=member_id))
