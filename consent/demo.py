"""Demo data, consent's part: who said yes to what, when, and the proof.

About 60 % of the members with a history give marketing consent (email, SMS or both), most
when they sign up, some later in the preference centre; a few unsubscribe again. Every
choice goes through ``consent.services`` (an event, its proof: a documentation IP address
and a browser's user agent, the state, the timeline event). Interests are chosen the same
way. See docs/demo.md.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass

from consent.models import ConsentEvent, ConsentState, Interest
from consent.selectors import policy_version_current
from consent.services.consent import consents_set
from consent.services.preferences import interests_set
from consent.services.unsubscribe import unsubscribe_redeem, unsubscribe_token_make
from members.demo import DemoPerson, Step
from members.models import Member

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
]


@dataclass(frozen=True)
class ConsentProfile:
    """A member's answers: what, when (at sign-up or days later), and a later change."""

    email: bool
    sms: bool
    profiling: bool
    analytics: bool
    at_signup: bool
    later_days: int
    unsubscribe_email_days: int | None
    interests: tuple[str, ...]
    ip_address: str
    user_agent: str

    @property
    def marketing(self) -> bool:
        return self.email or self.sms

    def choices(self) -> dict[str, bool]:
        """The ticked boxes (an unticked box for a purpose never given writes nothing)."""
        wanted = {
            "marketing_email": self.email,
            "marketing_sms": self.sms,
            "profiling": self.profiling,
            "analytics": self.analytics,
        }
        return {code: True for code, yes in wanted.items() if yes}


def consent_profile_draw(
    rng: random.Random, *, sports: tuple[str, ...], everything: bool = False
) -> ConsentProfile:
    """68 % say yes to marketing (40 % of them by email only, 45 % email and SMS, 15 % SMS
    only; a quarter of them in the preference centre some weeks after joining, and a few
    unsubscribe from email later, so about 60 % have given it when the history ends); about
    two in three of them, and one in five of the others, let us personalise. ``everything``:
    the demo login."""
    marketing = everything or rng.random() < 0.68
    channel = rng.random()
    email = marketing and (everything or channel < 0.85)
    sms = marketing and (everything or channel >= 0.40)
    profiling = everything or rng.random() < (0.68 if marketing else 0.2)
    analytics = everything or rng.random() < 0.4
    unsubscribe = None if everything or not email or rng.random() > 0.05 else rng.randint(30, 200)
    interests = sports if everything or rng.random() < 0.45 else ()
    return ConsentProfile(
        email=email,
        sms=sms,
        profiling=profiling,
        analytics=analytics,
        at_signup=everything or rng.random() < 0.75,
        later_days=rng.randint(3, 120),
        unsubscribe_email_days=unsubscribe,
        interests=tuple(interests),
        ip_address=f"192.0.2.{rng.randint(1, 254)}",  # TEST-NET-1: documentation addresses
        user_agent=rng.choice(USER_AGENTS),
    )


def consents_give(*, member: Member, profile: ConsentProfile, source: str) -> list[ConsentEvent]:
    """The member ticks their boxes (at sign-up, or later in the preference centre)."""
    choices = profile.choices()
    if not choices:
        return []
    return consents_set(
        member=member,
        choices=choices,
        source=source,
        actor=member.user,
        # the page posts back the policy version it showed
        policy_version=policy_version_current(),
        ip_address=profile.ip_address,
        user_agent=profile.user_agent,
    )


def interests_choose(*, member: Member, codes: tuple[str, ...]) -> None:
    ids = list(Interest.objects.filter(code__in=codes, active=True).values_list("pk", flat=True))
    if ids:
        interests_set(member=member, interest_ids=ids, actor=member.user)


def consent_steps(
    *, person: DemoPerson, profile: ConsentProfile, end: datetime.datetime
) -> list[Step]:
    """What the member does after signing up: consent in the preference centre (if not at
    sign-up), interests, and for a few an unsubscribe link in an email."""
    joined = person.joined_at
    steps = []
    given_at = joined if profile.at_signup else joined + datetime.timedelta(days=profile.later_days)
    if not profile.at_signup and given_at < end:
        steps.append(Step(given_at, _later_step(person, profile)))
    if profile.interests:
        at = joined + datetime.timedelta(hours=1, minutes=7)
        if at < end:
            steps.append(Step(at, _interests_step(person, profile.interests)))
    if profile.unsubscribe_email_days is not None:
        at = given_at + datetime.timedelta(days=profile.unsubscribe_email_days, hours=3)
        if at < end:
            steps.append(Step(at, _unsubscribe_step(person)))
    return steps


def _later_step(person: DemoPerson, profile: ConsentProfile) -> Callable[[], None]:
    def run() -> None:
        consents_give(member=person.joined(), profile=profile, source=ConsentEvent.Source.WEB)

    return run


def _interests_step(person: DemoPerson, codes: tuple[str, ...]) -> Callable[[], None]:
    def run() -> None:
        interests_choose(member=person.joined(), codes=codes)

    return run


def _unsubscribe_step(person: DemoPerson) -> Callable[[], None]:
    """The one-click link in an email: marketing by email is withdrawn, nothing else."""

    def run() -> None:
        member = person.joined()
        token = unsubscribe_token_make(member=member, purpose="marketing_email", channel="email")
        unsubscribe_redeem(token=token)

    return run


def marketing_consent_share(*, member_ids: list[int]) -> float:
    """The share of these members who have (now) given marketing consent by email or SMS."""
    if not member_ids:
        return 0.0
    granted = (
        ConsentState.objects.filter(
            member_id__in=member_ids,
            granted=True,
            purpose__code__in=["marketing_email", "marketing_sms"],
        )
        .values("member_id")
        .distinct()
        .count()
    )
    return granted / len(member_ids)
