"""The batched send-time check equals consent's own, reason by reason; the contact budget
and claims hold under real concurrency."""

from __future__ import annotations

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from campaigns.models import ContactBudget, Delivery, ProviderCall
from campaigns.sending.batch import deliveries_send
from campaigns.sending.fanout import campaign_start, fanout_chunk_run
from campaigns.sending.sendtime import Rank, budget_take
from consent.selectors import contact_permission, contact_permissions
from consent.services.preferences import marketing_pause
from members.models import User
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOON = datetime.datetime(2026, 3, 11, 12, tzinfo=STOCKHOLM)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("purpose", "channel"),
    [
        ("marketing_email", "email"),
        ("marketing_sms", "sms"),
        ("marketing_sms", "email"),
        ("profiling", "onsite"),
        ("membership", "email"),
        ("no_such_purpose", "email"),
        ("marketing_email", "pigeon"),
    ],
)
@pytest.mark.parametrize("hour", [12, 22])
def test_contact_permissions_batch_answers_exactly_as_contact_permission(purpose, channel, hour):
    members = {
        "granted": factories.member_with_user(),
        "never": factories.member_with_user(),
        "withdrawn": factories.member_with_user(),
        "quiet": factories.member_with_user(),
        "paused": factories.member_with_user(),
        "blocked": factories.member_with_user(),
        "erased": factories.member_with_user(),
    }
    everything = ("marketing_email", "marketing_sms", "profiling")
    for name in ("granted", "withdrawn", "quiet", "paused", "blocked", "erased"):
        consent_f.granted(members[name], *everything)
    for code in everything:
        consent_f.withdrawn(members["withdrawn"], code)
    consent_f.preferences(
        members["quiet"], per_week=None, quiet=(datetime.time(21), datetime.time(8))
    )
    marketing_pause(member=members["paused"], actor=None)
    User.objects.filter(pk=members["blocked"].user_id).update(is_active=False)
    members["erased"].__class__.objects.filter(pk=members["erased"].pk).update(erased_at=NOON)
    at = NOON.replace(hour=hour)
    batch = contact_permissions(
        member_ids=[m.pk for m in members.values()], purpose=purpose, channel=channel, at=at
    )
    for name, member in members.items():
        one = contact_permission(member=member.pk, purpose=purpose, channel=channel, at=at)
        assert batch[member.pk] == one, name


def _close(fn):
    def wrapped(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        finally:
            connection.close()

    return wrapped


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_budget_take_concurrent_senders_never_exceed_the_cap(settings):
    settings.CAMPAIGNS_MAX_MESSAGES_PER_WEEK = 3
    member = factories.member_with_user()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    @_close
    def take(campaign_id: int) -> None:
        from django.db import transaction

        barrier.wait()
        with transaction.atomic():
            result = budget_take(member_ids=[member.pk], rank=Rank(campaign_id, 0), at=NOON)
        outcomes.append(result[member.pk])

    threads = [threading.Thread(target=take, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["contact_limit"] * 5 + ["ok"] * 3
    assert ContactBudget.objects.get(member=member).used == 3


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_deliveries_send_duplicated_tasks_in_parallel_send_each_delivery_once():
    members = [factories.member_with_user() for _ in range(20)]
    for m in members:
        consent_f.granted(m, "marketing_email")
    campaign = cf.campaign(channels=["test"])
    campaign.__class__.objects.filter(pk=campaign.pk).update(status="scheduled", send_at=NOON)
    with time_machine.travel(NOON, tick=False):
        campaign_start(campaign_id=campaign.pk)
        for chunk in campaign.chunks.all():
            fanout_chunk_run(chunk_id=chunk.pk)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    barrier = threading.Barrier(4)

    @_close
    def send() -> None:
        barrier.wait()
        deliveries_send(delivery_ids=ids)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Delivery.objects.filter(status="sent").count() == 20
    assert ProviderCall.objects.count() == 20
    assert set(ContactBudget.objects.values_list("used", flat=True)) == {1}
