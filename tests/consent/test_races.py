"""Concurrent privacy jobs: each request is carried out once, whoever runs it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from consent.models import PrivacyRequest
from consent.services.erasure import privacy_erasure_execute, privacy_erasure_request
from consent.services.export import privacy_export_request
from members.activity import Kind
from members.models import ActivityEvent
from tests import factories

pytestmark = [pytest.mark.race, pytest.mark.privacy, pytest.mark.django_db(transaction=True)]


def _in_threads(n: int, work: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_privacy_erasure_execute_concurrent_runs_erase_once():
    member = factories.member_with_user()
    request = privacy_erasure_request(member=member, actor=None, origin="staff")
    PrivacyRequest.objects.filter(pk=request.pk).update(scheduled_for=request.requested_at)

    results, errors = _in_threads(4, lambda: privacy_erasure_execute(request_id=request.pk))

    assert errors == []
    assert sorted(results) == [False, False, False, True]
    assert ActivityEvent.objects.filter(member=member, kind=Kind.ERASED).count() == 1


def test_privacy_export_request_double_click_queues_one():
    member = factories.member_with_user()

    results, errors = _in_threads(4, lambda: privacy_export_request(member=member, actor=None).pk)

    assert errors == []
    assert len(set(results)) == 1
    assert PrivacyRequest.objects.filter(member=member, kind="export").count() == 1
