"""Retention: the nightly job anonymises long-inactive members and purges old logs."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from consent.models import AccessLog, PrivacyRequest
from consent.services.access_log import access_log_record
from consent.services.retention import privacy_retention_run
from members.models import Member, User
from members.services import member_update_profile
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]
START = datetime.datetime(2022, 1, 10, 12, 0, tzinfo=datetime.UTC)


def test_privacy_retention_run_anonymises_only_members_past_the_limit():
    # Given three members who joined in January 2022
    with time_machine.travel(START, tick=False):
        idle = factories.member_with_user(first_name="Idle")
        active_later = factories.member_with_user(first_name="Active")
        logged_in = factories.member_with_user(first_name="Login")
    # ...one of whom updated their profile two years later, and one who logged in recently
    with time_machine.travel(START + datetime.timedelta(days=730), tick=False):
        member_update_profile(member=active_later, actor=active_later.user, last_name="Nyare")
    User.objects.filter(pk=logged_in.user_id).update(
        last_login=START + datetime.timedelta(days=1000)
    )

    # When the nightly job runs 36 months and a day after they joined
    with time_machine.travel(START + datetime.timedelta(days=365 * 3 + 2), tick=False):
        counts = privacy_retention_run()

    # Then only the idle member is anonymised, with a record for the data protection officer
    assert counts["members_anonymised"] == 1
    states = {m.pk: m.erased_at is not None for m in Member.objects.all()}
    assert states == {idle.pk: True, active_later.pk: False, logged_in.pk: False}
    assert Member.objects.get(pk=idle.pk).first_name == ""
    assert Member.objects.get(pk=active_later.pk).first_name == "Active"
    assert PrivacyRequest.objects.get(member=idle).origin == "retention"


def test_privacy_retention_run_members_inside_the_limit_are_untouched():
    with time_machine.travel(START, tick=False):
        member = factories.member_with_user(first_name="Fresh")
    with time_machine.travel(START + datetime.timedelta(days=365 * 3 - 5), tick=False):
        counts = privacy_retention_run()

    assert counts["members_anonymised"] == 0
    member.refresh_from_db()
    assert member.erased_at is None
    assert member.first_name == "Fresh"


def test_privacy_retention_run_is_idempotent():
    with time_machine.travel(START, tick=False):
        factories.member_with_user()
    later = START + datetime.timedelta(days=365 * 4)
    with time_machine.travel(later, tick=False):
        first = privacy_retention_run()
        second = privacy_retention_run()

    assert first["members_anonymised"] == 1
    assert all(v == 0 for v in second.values()), second
    assert PrivacyRequest.objects.count() == 1


def test_privacy_retention_run_purges_access_log_past_retention(member):
    staff = factories.staff_user()
    with time_machine.travel(timezone.now() - datetime.timedelta(days=800)):
        access_log_record(staff=staff, member_id=member.pk, view="view")
    access_log_record(staff=staff, member_id=member.pk, view="view")

    counts = privacy_retention_run()

    assert counts["access_log_purged"] == 1
    assert AccessLog.objects.count() == 1


def test_privacy_retention_run_answers_an_open_erasure_request():
    from consent.services.erasure import privacy_erasure_request

    with time_machine.travel(START, tick=False):
        member = factories.member_with_user()
        request = privacy_erasure_request(member=member, actor=None)  # never confirmed
    with time_machine.travel(START + datetime.timedelta(days=365 * 4), tick=False):
        privacy_retention_run()

    request.refresh_from_db()
    assert request.status == "done"
    assert not PrivacyRequest.objects.filter(
        member=member, status__in=PrivacyRequest.OPEN_STATUSES
    ).exists()
