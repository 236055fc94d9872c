"""The nearest challenge on "My pages" (rewards.loyalty.challenges.challenge_nearest), read by
a statement compiled once per process (members.rows): the same rows as its queryset, for any
member and time, in one query."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.loyalty import challenges
from rewards.models import Badge, Challenge, ChallengeProgress
from tests import factories

pytestmark = pytest.mark.django_db


def make(code: str, target: int, *, days: int = 30, ends: int | None = None, **extra) -> Challenge:
    now = timezone.now()
    return Challenge.objects.create(
        code=code,
        kind="purchases",
        name_sv=code,
        name_en=code,
        target=target,
        starts_at=now - datetime.timedelta(days=days),
        ends_at=now + datetime.timedelta(days=ends) if ends is not None else None,
        **extra,
    )


def key_of(challenge: Challenge) -> tuple[int, int | None, int | None]:
    return (challenge.pk, challenge.member_progress, challenge.badge_id)  # type: ignore[attr-defined]


def test_the_compiled_read_finds_what_the_queryset_finds(member) -> None:
    # given challenges running, finished, ended and not yet started, and two members
    other = factories.member_with_user(email="bo@example.se")
    badge = Badge.objects.create(code="stjarna", name_sv="Stjärna", name_en="Star")
    three = make("tre-kop", 3, badge=badge)
    five = make("fem-kop", 5, ends=10)
    done = make("klar", 2)
    make("slut", 2, days=30, ends=-1)
    make("snart", 1, days=-2)
    ChallengeProgress.objects.create(member=member, challenge=three, progress=1)
    ChallengeProgress.objects.create(member=member, challenge=five, progress=4)
    ChallengeProgress.objects.create(
        member=member, challenge=done, progress=2, completed_at=timezone.now()
    )
    ChallengeProgress.objects.create(member=other, challenge=three, progress=2)

    for who, nearest, progress in ((member, "fem-kop", 4), (other, "tre-kop", 2)):
        for now in (None, timezone.now() + datetime.timedelta(days=11)):
            expected = list(challenges._nearest_candidates(who.pk, now or timezone.now()))
            # when the panel asks
            with CaptureQueriesContext(connection) as queries:
                got = challenges._NEAREST(member_id=who.pk, now=now or timezone.now())
                row = challenges.challenge_nearest(member=who, now=now)
                badges = [c.badge for c in got]
            # then the same challenges, progress and badges, in one query each
            assert len(queries) == 2
            assert sorted(key_of(c) for c in got) == sorted(key_of(c) for c in expected)
            assert [b.code if b else None for b in badges] == [
                c.badge.code if c.badge else None for c in got
            ]
            assert row is not None
            if now is None:
                assert (row.challenge.code, row.progress) == (nearest, progress)
    # "fem-kop" has ended 11 days on: the member's nearest is then "tre-kop"
    later = challenges.challenge_nearest(
        member=member, now=timezone.now() + datetime.timedelta(days=11)
    )
    assert later is not None
    assert (later.challenge.code, later.progress) == ("tre-kop", 1)
    assert (
        challenges.challenge_nearest(
            member=member, now=timezone.now() - datetime.timedelta(days=60)
        )
        is None
    )
