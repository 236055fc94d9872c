"""Consent is an append-only record with proof; the state follows it in the same transaction."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from consent.errors import ConsentNotApplicableError, MemberErasedError, UnknownPurposeError
from consent.models import ConsentEvent, ConsentProof, ConsentState, PolicyVersion
from consent.selectors import policy_version_current
from consent.services.consent import consent_set, consents_set
from consent.services.erasure import member_anonymise
from consent.services.policy import policy_version_create
from members.activity import Kind
from members.models import ActivityEvent
from tests.factories import consent as cf

pytestmark = pytest.mark.django_db


def _events(member, purpose="marketing_email"):
    return list(ConsentEvent.objects.filter(member=member, purpose__code=purpose).order_by("pk"))


def test_consent_set_grant_creates_exactly_one_event_with_policy_version(member):
    # Given the policy in force
    policy = policy_version_current()

    # When the member says yes on the web
    cf.granted(member, "marketing_email")

    # Then one event records it, with the version, the proof and the state in step
    [event] = _events(member)
    assert event.granted is True
    assert event.policy_version == policy
    assert event.channel == "email"
    assert event.source == "web"
    assert event.actor == member.user
    assert event.proof.ip_address == "203.0.113.7"
    assert event.proof.user_agent == "Mozilla/5.0 (test phone)"
    state = ConsentState.objects.get(member=member, purpose__code="marketing_email")
    assert state.granted is True
    assert state.event == event
    assert ActivityEvent.objects.filter(member=member, kind=Kind.CONSENT_GRANTED).count() == 1


def test_consent_set_same_answer_twice_creates_no_second_event(member):
    cf.granted(member, "marketing_email")
    cf.granted(member, "marketing_email")

    assert len(_events(member)) == 1


def test_consent_set_withdraw_creates_exactly_one_event(member):
    cf.granted(member, "marketing_email")

    cf.withdrawn(member, "marketing_email")
    cf.withdrawn(member, "marketing_email")

    events = _events(member)
    assert [e.granted for e in events] == [True, False]
    assert ConsentState.objects.get(member=member, purpose__code="marketing_email").granted is False
    assert ActivityEvent.objects.filter(member=member, kind=Kind.CONSENT_WITHDRAWN).count() == 1


def test_consent_set_withdrawing_what_was_never_given_records_nothing(member):
    assert cf.withdrawn(member, "marketing_sms") is None
    assert _events(member, "marketing_sms") == []


def test_consent_set_points_at_the_version_the_member_saw(member):
    # Given a newer version published while the member had the old page open
    seen = policy_version_current()
    newer = policy_version_create(
        version="2099-1",
        text_sv="Ny text",
        text_en="New text",
        effective_at=seen.effective_at.replace(year=2025),
    )
    assert policy_version_current() == newer

    # When the form posts the version it showed
    event = consent_set(
        member=member, purpose="profiling", granted=True, source="web", policy_version=seen
    )

    # Then the consent proves the old text
    assert event.policy_version == seen
    assert event.policy_version.content_hash != newer.content_hash


def test_consent_set_membership_rests_on_contract_not_consent(member):
    with pytest.raises(ConsentNotApplicableError):
        consent_set(member=member, purpose="membership", granted=False, source="web")
    assert not ConsentEvent.objects.filter(member=member).exists()


def test_consent_set_refuses_erased_member(member):
    member_anonymise(member_id=member.pk)
    with pytest.raises(MemberErasedError):
        cf.granted(member, "marketing_email")


def test_consents_set_is_all_or_nothing(member):
    # An unknown purpose in the batch: nothing is written
    with pytest.raises(UnknownPurposeError):
        consents_set(
            member=member, choices={"marketing_email": True, "nope": True}, source="signup"
        )
    assert not ConsentEvent.objects.filter(member=member).exists()


def test_consent_events_cannot_be_updated_in_the_database(member):
    [event] = cf.granted(member, "marketing_email")

    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).update(granted=False)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentevent SET source = 'import' WHERE id = %s", [event.pk]
        )

    event.refresh_from_db()
    assert event.granted is True
    assert event.source == "web"


def test_consent_events_cannot_be_deleted_in_the_database(member):
    [event] = cf.granted(member, "marketing_email")
    ConsentProof.objects.filter(event=event).delete()  # the proof is mutable: erasure wipes it
    ConsentState.objects.filter(event=event).delete()

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [event.pk])

    assert ConsentEvent.objects.filter(pk=event.pk).exists()


def test_policy_versions_hash_their_texts():
    version = policy_version_create(
        version="t-1",
        text_sv="Hej",
        text_en="Hi",
        effective_at=PolicyVersion.objects.first().effective_at,
    )
    assert len(version.content_hash) == 64
    other = policy_version_create(
        version="t-2", text_sv="Hej!", text_en="Hi", effective_at=version.effective_at
    )
    assert other.content_hash != version.content_hash


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_consent_set_concurrent_grants_write_one_event():
    from tests import factories

    member = factories.member_with_user()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def grant() -> None:
        try:
            barrier.wait()
            consent_set(member=member, purpose="marketing_email", granted=True, source="web")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=grant) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert ConsentEvent.objects.filter(member=member).count() == 1
    assert ConsentState.objects.filter(member=member).count() == 1
