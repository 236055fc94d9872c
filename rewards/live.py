"""Live news on the member's open pages (docs/member-pages.md "Live updates").

Mina sidor and the points page ask every few seconds, while they are visible, for the
member's own timeline events newer than a cursor (the newest event id the page has seen)
and for the balance. The till's purchase writes its "purchased" event in its own
transaction; a challenge completes later, in the Celery worker that consumes the timeline
(members.activity, rewards.loyalty.challenges): either shows on the next poll after it
commits. Nothing is pushed: a member who has no page open is sent nothing.

Two queries per poll: the events (through the timeline's (member, time) index, the last
``LIVE_WINDOW`` only) and the balance; one more when a challenge completed or the tier
changed, for their names. A challenge's progress moves without a timeline event of its own
(the worker counts it after the purchase's event): for a short while after news arrives,
the page also asks for the progress of the challenges it shows (``live_challenges``, one
query), so the bar fills while the member watches.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from members.activity import Kind
from members.formats import time_short
from members.models import ActivityEvent, Member
from rewards.models import Challenge, ChallengeProgress, Tier
from rewards.selectors import LIVE_WINDOW, balance_get
from rewards.templatetags.loyalty import points_grouped

# The events a member is told about while a page is open.
LIVE_KINDS = (
    Kind.PURCHASED,
    Kind.PURCHASE_CLAIMED,
    Kind.RETURNED,
    Kind.POINTS_ADJUSTED,
    Kind.CHALLENGE_COMPLETED,
    Kind.TIER_CHANGED,
)
# At most this many events per answer (the newest); the balance is always the current one.
LIVE_LIMIT = 20
# At most this many challenges' progress per answer (a page shows one, the panel's).
LIVE_CHALLENGES = 10

MINUS = "\u2212"


@dataclass(frozen=True)
class LiveNews:
    cursor: int
    events: list[dict[str, Any]]
    balance: dict[str, Any]


def live_news(*, member: Member, after: int, now: datetime.datetime | None = None) -> LiveNews:
    """The member's events newer than ``after`` (an event id) from the last ``LIVE_WINDOW``,
    oldest first, each as a sentence in the current language, and the balance."""
    now = now or timezone.now()
    language = "en" if (get_language() or "sv").startswith("en") else "sv"
    # Ordered by time, not id: that keeps PostgreSQL on the (member, time) index rather than
    # reading the primary key backwards across every member's events.
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in ActivityEvent.objects.filter(
            member=member.pk,
            created_at__gte=now - LIVE_WINDOW,
            pk__gt=after,
            kind__in=[str(kind) for kind in LIVE_KINDS],
        )
        .order_by("-created_at", "-pk")
        .values("pk", "kind", "data", "created_at", "store__name")[:LIVE_LIMIT]
    ]
    rows.sort(key=lambda row: row["pk"])
    names = _names(rows, language)
    events = [
        event for event in (_event(row, names, language) for row in rows) if event is not None
    ]
    balance = balance_get(member=member)
    return LiveNews(
        cursor=max([after, *(row["pk"] for row in rows)]),
        events=events,
        balance=_balance(balance, language),
    )


@dataclass(frozen=True)
class _Names:
    challenges: dict[int, Challenge]
    tiers: dict[int, str]


def _ids(rows: Iterable[dict[str, Any]], kind: str, key: str) -> set[int]:
    return {
        int(row["data"][key])
        for row in rows
        if row["kind"] == kind and str((row["data"] or {}).get(key, "")).isdigit()
    }


def _names(rows: list[dict[str, Any]], language: str) -> _Names:
    """Challenges (with their badges) and tiers the events name: a query each, only when
    such an event is among them."""
    challenge_ids = _ids(rows, Kind.CHALLENGE_COMPLETED, "challenge_id")
    tier_ids = _ids(rows, Kind.TIER_CHANGED, "to")
    challenges = (
        {c.pk: c for c in Challenge.objects.filter(pk__in=challenge_ids).select_related("badge")}
        if challenge_ids
        else {}
    )
    tiers = (
        {t.pk: t.name_for(language) for t in Tier.objects.filter(pk__in=tier_ids)}
        if tier_ids
        else {}
    )
    return _Names(challenges=challenges, tiers=tiers)


def _signed(points: int, language: str) -> str:
    """ "+120", "−50" (a real minus sign), grouped as the language writes numbers."""
    text = points_grouped(abs(points), language)
    return f"+{text}" if points >= 0 else f"{MINUS}{text}"


def _event(row: dict[str, Any], names: _Names, language: str) -> dict[str, Any] | None:
    """One event as the page shows it: ``text`` (the news), ``detail`` (a second line)."""
    kind, data = row["kind"], row["data"] or {}
    points = int(data.get("points") or 0)
    signed = _signed(points, language)
    store = row["store__name"] or ""
    detail = ""
    badge: dict[str, str] | None = None
    if kind == Kind.PURCHASED:
        if not points:
            return None  # nothing to tell: no points (the purchase shows in the history)
        if store:
            text = ngettext(
                "%(points)s point in %(store)s", "%(points)s points in %(store)s", abs(points)
            ) % {"points": signed, "store": store}
        else:
            text = ngettext("%(points)s point", "%(points)s points", abs(points)) % {
                "points": signed
            }
    elif kind == Kind.PURCHASE_CLAIMED:
        text = ngettext(
            "%(points)s point for a purchase added afterwards",
            "%(points)s points for a purchase added afterwards",
            abs(points),
        ) % {"points": signed}
    elif kind == Kind.RETURNED:
        if not points:
            return None
        text = ngettext(
            "%(points)s point for a return in %(store)s",
            "%(points)s points for a return in %(store)s",
            abs(points),
        ) % {"points": signed, "store": store}
    elif kind == Kind.POINTS_ADJUSTED:
        text = ngettext(
            "%(points)s point from customer service",
            "%(points)s points from customer service",
            abs(points),
        ) % {"points": signed}
    elif kind == Kind.CHALLENGE_COMPLETED:
        challenge = names.challenges.get(int(data.get("challenge_id") or 0))
        if points:
            text = ngettext(
                "Challenge complete: %(points)s point",
                "Challenge complete: %(points)s points",
                abs(points),
            ) % {"points": signed}
        else:
            text = _("Challenge complete")
        if challenge is not None:
            detail = challenge.name_for(language)
            if challenge.badge is not None:
                badge_name = challenge.badge.name_for(language)
                badge = {
                    "name": badge_name,
                    "symbol": challenge.badge.symbol,
                    "text": _("New badge: %(badge)s") % {"badge": badge_name},
                }
    elif kind == Kind.TIER_CHANGED:
        tier = names.tiers.get(int(data.get("to") or 0))
        if tier is None:
            return None  # the tier is gone: the tier page says where the member is
        text = _("New tier: %(tier)s") % {"tier": tier}
    else:  # pragma: no cover - LIVE_KINDS lists the kinds above
        return None
    return {
        "id": row["pk"],
        "kind": kind,
        "text": text,
        "detail": detail,
        "badge": badge,
        "points": points,
        "time": time_short(row["created_at"]),
    }


def _balance(balance: dict[str, int], language: str) -> dict[str, Any]:
    """The balance as numbers and as the page's texts (grouped, "5 715"; the panel's "120
    poäng väntar"; one sentence for screen readers)."""
    available, pending = balance["available"], balance["pending"]
    sentence = ngettext(
        "You now have %(points)s point to use.",
        "You now have %(points)s points to use.",
        available,
    ) % {"points": points_grouped(available, language)}
    pending_text = ""
    if pending:
        pending_text = ngettext(
            "%(points)s point pending", "%(points)s points pending", pending
        ) % {"points": points_grouped(pending, language)}
        sentence = f"{sentence} {pending_text}."
    return {
        "available": available,
        "pending": pending,
        "reserved": balance["reserved"],
        "available_text": points_grouped(available, language),
        "pending_text": pending_text,
        # the points page's balance list, grouped as the page first showed it
        "pending_grouped": points_grouped(pending, language),
        "reserved_grouped": points_grouped(balance["reserved"], language),
        "text": sentence,
    }


def live_challenges(*, member: Member, challenge_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The member's stored progress on these challenges (one query): ``progress``, whether it
    is ``completed``, and the steps ``left`` as the panel writes them. A challenge the member
    has not started is left out (the page shows it at 0 already)."""
    ids = sorted(set(challenge_ids))[:LIVE_CHALLENGES]
    if not ids:
        return []
    rows = ChallengeProgress.objects.filter(member=member.pk, challenge_id__in=ids).values(
        "challenge_id", "progress", "completed_at", "challenge__target"
    )
    answer = []
    for row in rows.order_by("challenge_id"):
        left = max(0, row["challenge__target"] - row["progress"])
        answer.append(
            {
                "id": row["challenge_id"],
                "progress": min(row["progress"], row["challenge__target"]),
                "completed": row["completed_at"] is not None,
                "left": ngettext("%(counter)s step left", "%(counter)s steps left", left)
                % {"counter": left},
            }
        )
    return answer
