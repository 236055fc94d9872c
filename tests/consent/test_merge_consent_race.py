"""A consent change of the merged member while the merge runs is kept, on the survivor
(consent.lock_objects.member_lock follows a tombstone): real threads, real PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from consent.models import ConsentEvent, ConsentState
from consent.services.consent import consent_set
from members import merging
from members.merging import member_merge, merge_step_register
from members.models import Member
from tests import factories
from tests.factories.consent import granted

pytestmark = [pytest.mark.race, pytest.mark.privacy, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def merge_paused() -> Any:
    """A merge step that holds the merge (both member rows locked) until released."""
    inside, release = threading.Event(), threading.Event()

    def hold(survivor: Member, merged: Member) -> dict[str, int]:
        inside.set()
        assert release.wait(10)
        return {}

    merge_step_register(name="test.hold", run=hold, order=25)
    yield inside, release
    merging._steps.pop("test.hold", None)


def test_member_merge_a_withdrawal_during_the_merge_lands_on_the_survivor(merge_paused):
    # Given both records said yes to email
    inside, release = merge_paused
    survivor, merged = factories.member_with_user(), factories.member_with_user()
    granted(survivor, "marketing_email")
    granted(merged, "marketing_email")
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    # When the merge holds both rows and the person withdraws on the merged record's page
    merge = threading.Thread(
        target=run,
        args=(lambda: member_merge(survivor_id=survivor.pk, merged_id=merged.pk),),
    )
    merge.start()
    assert inside.wait(10)
    withdraw = threading.Thread(
        target=run,
        args=(
            lambda: consent_set(
                member=merged, purpose="marketing_email", granted=False, source="web"
            ),
        ),
    )
    withdraw.start()
    time.sleep(0.3)  # the withdrawal waits on the merge's row lock
    assert withdraw.is_alive()
    release.set()
    merge.join(10)
    withdraw.join(10)

    # Then the withdrawal, made after the merge committed, is the survivor's: no email
    assert errors == []
    state = ConsentState.objects.get(member=survivor, purpose__code="marketing_email")
    assert state.granted is False
    assert ConsentEvent.objects.filter(
        member=survivor, purpose__code="marketing_email", granted=False, source="web"
    ).exists()
    assert not ConsentState.objects.filter(member=merged).exists()
