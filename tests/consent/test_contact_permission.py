"""The send-time check campaigns call for every message."""

from __future__ import annotations

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from consent.selectors import contact_permission
from consent.services.consent import consent_set
from consent.services.erasure import member_anonymise
from consent.services.preferences import marketing_pause, marketing_resume
from members.models import User
from tests import factories
from tests.factories import consent as cf

pytestmark = pytest.mark.django_db
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOON = datetime.datetime(2026, 6, 10, 12, 0, tzinfo=STOCKHOLM)


def _check(member, purpose="marketing_email", channel="email", at=NOON):
    return contact_permission(member=member, purpose=purpose, channel=channel, at=at)


def test_contact_permission_allowed_with_consent(member):
    cf.granted(member, "marketing_email")

    decision = _check(member)

    assert decision.allowed
    assert decision.reason == "ok"


def test_contact_permission_no_consent(member):
    assert _check(member).reason == "no_consent"
    assert not _check(member)


def test_contact_permission_withdrawn(member):
    cf.granted(member, "marketing_email")
    cf.withdrawn(member, "marketing_email")

    decision = _check(member)

    assert not decision.allowed
    assert decision.reason == "withdrawn"


def test_contact_permission_consent_for_email_does_not_cover_sms(member):
    cf.granted(member, "marketing_email")

    assert _check(member, purpose="marketing_sms", channel="sms").reason == "no_consent"
    assert _check(member, purpose="marketing_email", channel="sms").reason == "channel_not_covered"


def test_contact_permission_paused(member):
    cf.granted(member, "marketing_email")
    with time_machine.travel(NOON, tick=False):
        marketing_pause(member=member, actor=member.user)

    during = _check(member, at=NOON + datetime.timedelta(days=29))
    after = _check(member, at=NOON + datetime.timedelta(days=31))

    assert not during.allowed
    assert during.reason == "paused"
    assert during.not_before == NOON + datetime.timedelta(days=30)
    assert after.allowed


def test_contact_permission_resume_ends_the_pause(member):
    cf.granted(member, "marketing_email")
    marketing_pause(member=member, actor=member.user)
    marketing_resume(member=member, actor=member.user)

    assert _check(member, at=None).allowed


@pytest.mark.parametrize(
    ("local_time", "reason"),
    [
        (datetime.time(20, 59), "ok"),
        (datetime.time(21, 0), "quiet_hours"),
        (datetime.time(23, 30), "quiet_hours"),
        (datetime.time(3, 0), "quiet_hours"),
        (datetime.time(7, 59), "quiet_hours"),
        (datetime.time(8, 0), "ok"),
    ],
)
def test_contact_permission_quiet_hours_in_stockholm_time(member, local_time, reason):
    # Given quiet hours 21:00-08:00, wrapping midnight, and a summer date (UTC+2)
    cf.granted(member, "marketing_sms")
    cf.preferences(member, quiet=(datetime.time(21), datetime.time(8)))
    at = datetime.datetime.combine(datetime.date(2026, 6, 10), local_time, tzinfo=STOCKHOLM)

    decision = _check(
        member, purpose="marketing_sms", channel="sms", at=at.astimezone(datetime.UTC)
    )

    assert decision.reason == reason
    if reason == "quiet_hours":
        assert decision.not_before.astimezone(STOCKHOLM).time() == datetime.time(8)


def test_contact_permission_quiet_hours_do_not_apply_on_site(member):
    cf.granted(member, "profiling")
    cf.preferences(member, quiet=(datetime.time(0), datetime.time(23, 59)))

    assert _check(member, purpose="profiling", channel="onsite").allowed


def test_contact_permission_erased(member):
    cf.granted(member, "marketing_email")
    member_anonymise(member_id=member.pk)

    assert _check(member).reason == "erased"


def test_contact_permission_blocked_login(member):
    cf.granted(member, "marketing_email")
    User.objects.filter(pk=member.user_id).update(is_active=False)

    assert _check(member).reason == "blocked"


def test_contact_permission_unknown_purpose(member):
    assert _check(member, purpose="nonsense").reason == "unknown_purpose"


def test_contact_permission_membership_needs_no_consent(member):
    assert _check(member, purpose="membership").allowed


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_contact_permission_sees_a_withdrawal_committed_just_before():
    # Given a member who said yes, and a sender that has already picked them
    member = factories.member_with_user()
    cf.granted(member, "marketing_email")
    assert contact_permission(member=member, purpose="marketing_email", channel="email").allowed
    committed = threading.Event()

    def withdraw() -> None:
        try:
            consent_set(member=member, purpose="marketing_email", granted=False, source="web")
        finally:
            committed.set()
            connection.close()

    # When another connection commits a withdrawal
    thread = threading.Thread(target=withdraw)
    thread.start()
    committed.wait(5)
    thread.join()

    # Then the very next check, on this connection, says no
    decision = contact_permission(member=member, purpose="marketing_email", channel="email")
    assert decision.reason == "withdrawn"


def test_contact_permissions_batch_gives_the_same_answers(member, django_assert_num_queries):
    # Given members in every state
    from consent.selectors import contact_permissions

    granted = factories.member_with_user()
    cf.granted(granted, "marketing_sms")
    withdrawn = factories.member_with_user()
    cf.granted(withdrawn, "marketing_sms")
    cf.withdrawn(withdrawn, "marketing_sms")
    paused = factories.member_with_user()
    cf.granted(paused, "marketing_sms")
    marketing_pause(member=paused, actor=None)
    quiet = factories.member_with_user()
    cf.granted(quiet, "marketing_sms")
    cf.preferences(quiet, quiet=(datetime.time(11), datetime.time(13)))
    erased = factories.member_with_user()
    member_anonymise(member_id=erased.pk)
    everyone = [member, granted, withdrawn, paused, quiet, erased]
    ids = [m.pk for m in everyone]

    # When the batch is checked at noon
    with django_assert_num_queries(4):
        batch = contact_permissions(member_ids=ids, purpose="marketing_sms", channel="sms", at=NOON)

    # Then each answer equals the single-member check
    singles = {m.pk: _check(m, purpose="marketing_sms", channel="sms") for m in everyone}
    assert batch == singles
    assert [batch[i].reason for i in ids] == [
        "no_consent",
        "ok",
        "withdrawn",
        "paused",
        "quiet_hours",
        "erased",
    ]
