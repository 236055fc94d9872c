"""Points for telling us what you like (issue 16): the event rule "interests_told" pays the
first time a member's interests gain one, through the timeline consumer, within the rule's
cap; saving twice, or concurrently on real threads, pays once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from consent.models import Interest
from consent.services.preferences import interests_set
from members.activity import Dispatch, Kind, activity_consume, activity_dispatch
from members.models import ActivityEvent
from rewards.ledger.entries import Entry
from rewards.models import EventRule, LedgerEntry, PointBalance
from rewards.rules.events import event_points_open, interests_points_hint
from tests import factories
from tests.factories import rewards as rf


def _points(member: Any) -> int:
    balance = PointBalance.objects.filter(member=member).first()
    return balance.available if balance else 0


def _ids(*codes: str) -> list[int]:
    return list(Interest.objects.filter(code__in=codes).values_list("pk", flat=True))


def _tell(member: Any, *codes: str) -> None:
    """Save the interests and hand the new timeline event to its consumers (twice: a
    redelivered event changes nothing)."""
    interests_set(member=member, interest_ids=_ids(*codes), actor=member.user)
    event = (
        ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_CHANGED)
        .order_by("pk")
        .last()
    )
    assert event is not None
    activity_consume(event_id=event.pk)
    activity_consume(event_id=event.pk)


def _told_entries(member: Any) -> int:
    return LedgerEntry.objects.filter(
        member=member, event_rule__event=EventRule.Event.INTERESTS_TOLD, kind=Entry.EARN
    ).count()


@pytest.mark.django_db
def test_telling_interests_pays_once_ever_with_the_default_cap(member):
    # Given the rule: 50 points, once ever
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=50, cap=1, period="ever")

    # When the member tells two interests, then changes them, removes all and adds one again
    _tell(member, "running", "yoga")
    _tell(member, "running", "cycling")
    _tell(member)
    _tell(member, "skiing")

    # Then they were paid once
    assert _points(member) == 50
    assert _told_entries(member) == 1
    assert event_points_open(member=member, event=EventRule.Event.INTERESTS_TOLD) == 0


@pytest.mark.django_db
def test_removing_interests_pays_nothing(member):
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=50)
    interests_set(member=member, interest_ids=_ids("running"), actor=member.user)
    # (the first save's event is not handed to the consumer in this test)
    _tell(member)  # removed only
    assert _points(member) == 0


@pytest.mark.django_db
def test_the_rules_cap_and_period_are_staffs(member):
    # Given staff set the rule to twice ever, 30 points
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=30, cap=2, period="ever")

    # When the member adds interests three times
    _tell(member, "running")
    _tell(member, "running", "yoga")
    _tell(member, "running", "yoga", "football")

    # Then the cap holds: two payments
    assert _points(member) == 60
    assert _told_entries(member) == 2


@pytest.mark.django_db
def test_an_inactive_rule_pays_nothing_and_no_rule_no_hint(member):
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=50, active=False)
    _tell(member, "running")
    assert _points(member) == 0
    assert interests_points_hint(member) == ""


@pytest.mark.django_db
def test_the_steps_hint_says_the_points_in_the_members_language(member):
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=1500)
    with translation.override("sv"):
        # (the Swedish words come with the catalogue: "Berätta vad du gillar och få 1 500 poäng.")
        assert "1\u00a0500" in interests_points_hint(member)
    with translation.override("en"):
        assert interests_points_hint(member) == "Tell us what you like and get 1,500 points."
    _tell(member, "yoga")
    assert interests_points_hint(member) == ""  # already paid


THREADS = 8


@pytest.mark.django_db(transaction=True)
def test_saving_interests_concurrently_pays_once():
    # Given the rule (50 points, once ever) and a new member
    rf.event_rule(event=EventRule.Event.INTERESTS_TOLD, points=50, cap=1, period="ever")
    member = factories.member_with_user(email="race@example.se")
    choices = [_ids(code) for code in ("running", "football", "outdoor", "yoga", "cycling")]
    choices += [_ids("running", "yoga"), _ids("skiing"), _ids("football", "skiing")]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def save(ids: list[int]) -> None:
        try:
            # Each save's event reaches the consumer right after its commit, in this thread:
            # eight consumers race for the member's one payment.
            with activity_dispatch(Dispatch.INLINE):
                barrier.wait(timeout=10)
                interests_set(member=member, interest_ids=ids, actor=member.user)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When eight tabs save different interests at the same moment
    threads = [threading.Thread(target=save, args=(choices[n],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    # Then every save changed the interests, and the member was paid once
    assert ActivityEvent.objects.filter(member=member, kind=Kind.INTERESTS_CHANGED).count() >= 2
    assert _told_entries(member) == 1
    assert _points(member) == 50


@pytest.mark.django_db
def test_staff_set_the_rule_in_the_back_office(admin_client):
    # The back-office's event rule form offers "Told their interests", with cap and period
    html = admin_client.get("/admin/rewards/eventrule/add/").content.decode()
    assert 'value="interests_told"' in html
    response = admin_client.post(
        "/admin/rewards/eventrule/add/",
        {
            "event": "interests_told",
            "name_sv": "Tack för att du berättade vad du gillar",
            "name_en": "Thanks for telling us what you like",
            "points": "75",
            "cap": "1",
            "period": "ever",
            "beneficiary": "member",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = EventRule.objects.get(event=EventRule.Event.INTERESTS_TOLD)
    assert (rule.points, rule.cap, rule.period) == (75, 1, "ever")
