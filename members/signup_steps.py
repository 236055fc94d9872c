"""Steps offered once, right after sign-up, before Mina sidor (docs/member-pages.md).

A higher app registers a step from its ``AppConfig.ready`` with ``signup_step_register``:
``url(member)`` answers the step's address when the new member should see it, else None.
The account adapter's sign-up redirect (``members.adapters``) sends the member to the first
step that answers; the step's page leads on to Mina sidor. Members names no step of a higher
app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from members.models import Member


@dataclass(frozen=True)
class SignupStep:
    name: str
    order: int
    url: Callable[[Member], str | None]


_steps: dict[str, SignupStep] = {}


def signup_step_register(*, name: str, order: int, url: Callable[[Member], str | None]) -> None:
    _steps[name] = SignupStep(name=name, order=order, url=url)


def signup_step_url(member: Member) -> str | None:
    """The address of the first step due for a member who has just signed up, or None."""
    for step in sorted(_steps.values(), key=lambda s: (s.order, s.name)):
        url = step.url(member)
        if url:
            return url
    return None
