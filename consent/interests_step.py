"""The sign-up step "Vad gillar du?": interests asked once, right after sign-up, optional and
skippable (docs/member-pages.md "Interests").

Registered with members' sign-up steps (``members.signup_steps``) from ``ConsentConfig.ready``.
The step is due while the member has chosen no interest and has never been shown it: showing
it records ``interests_asked`` on the timeline (``interests_step_offered``), so a member who
skipped it is not asked again. Mina val (the preference centre) links to it at any time.

Higher apps add a line to the step with ``interests_step_hint_register`` (rewards: "the first
time you tell us, you get 50 points"), so consent names no rule of theirs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

from consent.models import Interest, MemberInterest
from members.activity import Kind
from members.models import ActivityEvent, Member

_hints: dict[str, Callable[[Member], str]] = {}


def interests_step_hint_register(*, name: str, hint: Callable[[Member], str]) -> None:
    """``hint(member)`` answers a sentence for the step's page, or "" for none."""
    _hints[name] = hint


def interests_step_hints(member: Member) -> list[str]:
    return [text for text in (hint(member) for _name, hint in sorted(_hints.items())) if text]


def interests_step_asked(*, member: Member) -> bool:
    return ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_ASKED).exists()


def interests_step_due(*, member: Member) -> bool:
    """The step is worth showing: there are interests to choose, the member has chosen none
    and was never shown the step."""
    return (
        Interest.objects.filter(active=True).exists()
        and not MemberInterest.objects.filter(member=member).exists()
        and not interests_step_asked(member=member)
    )


def interests_step_url(member: Member) -> str | None:
    """The sign-up step's address when it is due (``members.signup_steps``)."""
    return reverse("consent:interests-step") if interests_step_due(member=member) else None
