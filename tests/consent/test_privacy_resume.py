"""A privacy request left behind by a dead worker is resumed by staff, by the member's new
request and by beat, and is never blocked by its own earlier attempt (issue 12). The real
worker kills are in test_fault.py; these are the state rules, in-process."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from consent import privacy_parts
from consent.errors import PrivacyRequestBusyError
from consent.models import PrivacyRequest
from consent.selectors import private_storage
from consent.services.erasure import (
    member_anonymise,
    privacy_erasure_request,
    privacy_erasures_run_due,
)
from consent.services.export import (
    EXPORT_MAX_ATTEMPTS,
    export_leftovers_clean,
    export_scratch_root,
    privacy_export_request,
    privacy_exports_sweep,
)
from consent.services.requests import privacy_request_process_now
from members.activity import Kind
from members.models import ActivityEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]


def _stuck_export(member, *, lease_left: float = -1, attempts: int = 1) -> PrivacyRequest:
    """An export whose build was claimed by a worker; the lease ran out unless lease_left>0."""
    now = timezone.now()
    return PrivacyRequest.objects.create(
        member=member,
        kind=PrivacyRequest.Kind.EXPORT,
        status=PrivacyRequest.Status.PROCESSING,
        due_at=now,
        requested_at=now,
        scheduled_for=now - datetime.timedelta(seconds=30),
        progress=40,
        attempts=attempts,
        lease_until=now + datetime.timedelta(seconds=lease_left),
    )


def _scratch(request: PrivacyRequest, attempt: int) -> Path:
    folder = export_scratch_root() / f"export-{request.pk}-{attempt}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "export.part").write_bytes(b"half an archive")
    return folder


@pytest.fixture
def member():
    return factories.member_with_user()


@pytest.fixture
def staff():
    return factories.staff_user(superuser=True)


def test_staff_resume_an_export_whose_worker_died(
    member, staff, django_capture_on_commit_callbacks
):
    stuck = _stuck_export(member)
    leftover = _scratch(stuck, 1)
    with django_capture_on_commit_callbacks(execute=True):
        done = privacy_request_process_now(request=stuck, staff=staff)
    assert done.status == PrivacyRequest.Status.DONE
    assert done.attempts == 2
    assert done.handled_by == staff
    assert not leftover.exists()
    assert not list(export_scratch_root().glob(f"export-{stuck.pk}-*"))
    assert private_storage().exists(done.file_name)


def test_staff_are_told_when_a_live_worker_is_building_it(member, staff):
    live = _stuck_export(member, lease_left=60)
    with pytest.raises(PrivacyRequestBusyError):
        privacy_request_process_now(request=live, staff=staff)
    assert PrivacyRequest.objects.get(pk=live.pk).status == PrivacyRequest.Status.PROCESSING


def test_a_new_export_request_resumes_the_stuck_one(member, django_capture_on_commit_callbacks):
    stuck = _stuck_export(member)
    with django_capture_on_commit_callbacks(execute=True):
        again = privacy_export_request(member=member, actor=member.user)
    assert again.pk == stuck.pk
    again.refresh_from_db()
    assert again.status == PrivacyRequest.Status.DONE
    assert PrivacyRequest.objects.filter(member=member).count() == 1


def test_a_new_export_request_leaves_a_live_build_alone(member, django_capture_on_commit_callbacks):
    live = _stuck_export(member, lease_left=60)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = privacy_export_request(member=member, actor=member.user)
    assert again.pk == live.pk
    assert again.status == PrivacyRequest.Status.PROCESSING
    assert callbacks == []


def test_the_sweep_rebuilds_an_expired_lease_and_keeps_a_live_one(
    member, django_capture_on_commit_callbacks
):
    dead = _stuck_export(member)
    dead_scratch = _scratch(dead, 1)
    other = factories.member_with_user()
    live = _stuck_export(other, lease_left=60)
    live_scratch = _scratch(live, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert privacy_exports_sweep() == 1
    assert PrivacyRequest.objects.get(pk=dead.pk).status == PrivacyRequest.Status.DONE
    assert PrivacyRequest.objects.get(pk=live.pk).status == PrivacyRequest.Status.PROCESSING
    assert not dead_scratch.exists()
    assert live_scratch.exists()


def test_the_sweep_gives_up_after_the_last_attempt(member):
    poison = _stuck_export(member, attempts=EXPORT_MAX_ATTEMPTS)
    assert privacy_exports_sweep() == 0
    assert PrivacyRequest.objects.get(pk=poison.pk).status == PrivacyRequest.Status.FAILED


def test_an_archive_stored_by_a_build_that_died_before_finishing_is_deleted(member):
    dead = _stuck_export(member)
    storage = private_storage()
    orphan = storage.save(f"exports/export-{dead.pk}-1-{'a' * 32}.zip", _content())
    dead.status = PrivacyRequest.Status.FAILED
    dead.save()
    export_leftovers_clean()
    assert not storage.exists(orphan)


def test_a_finished_archive_is_kept(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = privacy_export_request(member=member, actor=member.user)
    request.refresh_from_db()
    export_leftovers_clean()
    assert private_storage().exists(request.file_name)


def test_erasure_removes_the_members_export_leftovers_even_under_a_lease(member):
    live = _stuck_export(member, lease_left=600)
    leftover = _scratch(live, 1)
    member_anonymise(member_id=member.pk)
    assert not leftover.exists()
    assert PrivacyRequest.objects.get(pk=live.pk).status == PrivacyRequest.Status.CANCELLED


def _erasure_left_processing(member, staff) -> PrivacyRequest:
    """What a worker of the release before issue 12 left when it was killed mid-erasure."""
    request = privacy_erasure_request(member=member, actor=staff, origin="staff")
    PrivacyRequest.objects.filter(pk=request.pk).update(
        status=PrivacyRequest.Status.PROCESSING,
        scheduled_for=timezone.now() - datetime.timedelta(days=1),
    )
    request.refresh_from_db()
    return request


def test_staff_resume_an_erasure_stuck_in_processing(member, staff):
    stuck = _erasure_left_processing(member, staff)
    done = privacy_request_process_now(request=stuck, staff=staff)
    assert done.status == PrivacyRequest.Status.DONE
    member.refresh_from_db()
    assert member.erased_at is not None


def test_beat_resumes_an_erasure_stuck_in_processing(member, staff):
    stuck = _erasure_left_processing(member, staff)
    # a new request by the member is answered by the open one, which beat now carries out
    assert privacy_erasure_request(member=member, actor=member.user).pk == stuck.pk
    assert privacy_erasures_run_due() == 1
    assert PrivacyRequest.objects.get(pk=stuck.pk).status == PrivacyRequest.Status.DONE
    assert ActivityEvent.objects.filter(member=member, kind=Kind.ERASED).count() == 1
    assert privacy_erasures_run_due() == 0


def test_a_failing_erasure_rolls_back_to_scheduled(member, staff):
    request = privacy_erasure_request(member=member, actor=staff, origin="staff")
    PrivacyRequest.objects.filter(pk=request.pk).update(scheduled_for=timezone.now())

    def fail(_member):
        raise RuntimeError("worker lost")

    privacy_parts.erasure_step_register(name="test_fail", run=fail, order=10_000)
    try:
        with pytest.raises(RuntimeError):
            privacy_erasures_run_due()
    finally:
        privacy_parts._erasure.pop("test_fail")
    assert PrivacyRequest.objects.get(pk=request.pk).status == PrivacyRequest.Status.SCHEDULED
    member.refresh_from_db()
    assert member.erased_at is None
    assert privacy_erasures_run_due() == 1
    assert PrivacyRequest.objects.get(pk=request.pk).status == PrivacyRequest.Status.DONE


def test_the_lease_is_shorter_than_the_old_hour():
    from consent.services.export import EXPORT_TIME_LIMIT_SECONDS

    assert settings.PRIVACY_EXPORT_LEASE_SECONDS < EXPORT_TIME_LIMIT_SECONDS < 3600


def _content():
    from django.core.files.base import ContentFile

    return ContentFile(b"PK not finished")
