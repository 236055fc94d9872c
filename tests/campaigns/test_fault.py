"""A real Celery worker, killed with SIGKILL three times mid-campaign: nothing is lost and
nothing is sent twice.

The worker runs against this test's own PostgreSQL database (passed as DATABASE_URL) and
Redis; the test process plays beat, calling the sweeper every couple of seconds as beat
would every minute (with a short "stuck" threshold so the test stays under two minutes).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Count, Value
from django.db.models.functions import Cast, Concat

from bench.fanout import seed_members, worker_name, worker_start, worker_stop, worker_wait_ready
from campaigns.authoring import campaign_launch
from campaigns.models import Campaign, ContactBudget, Delivery, ProviderCall
from campaigns.sending.sweep import deliveries_sweep
from config.celery import app
from tests.factories import campaigns as cf
from tests.processes import test_database_url

MEMBERS = 10_000
STUCK_SECONDS = 8
KILL_AT = (0.15, 0.40, 0.65)  # share of deliveries final when each kill happens
DEADLINE_SECONDS = 110


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.CELERY_BROKER_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            # Small batches: more tasks in flight for each kill to interrupt.
            "CAMPAIGNS_SEND_BATCH": "100",
            "CAMPAIGNS_FANOUT_CHUNK": "2000",
        }
    )
    return env


def _final_share() -> float:
    done = Delivery.objects.filter(status__in=["sent", "suppressed"]).count()
    return done / MEMBERS


@pytest.mark.fault
@pytest.mark.django_db(transaction=True)
def test_campaign_survives_worker_sigkill_three_times_without_loss_or_duplicates():
    # given 10 000 members, 90 % of them with consent to email offers (bulk SQL: seconds)
    with transaction.atomic(), connection.cursor() as cursor:
        seed_members(cursor, count=MEMBERS, prefix="F", consent_every=1)
        # every tenth member has no consent: suppressed, not sent
        cursor.execute("DELETE FROM consent_consentstate WHERE member_id %% %s = 0", [10])
    campaign = cf.campaign(channels=["test"], holdout_percent=0, name="Fault test")
    app.control.purge()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # queue to Redis: the worker does the work
    env = _worker_env()
    name = worker_name()
    worker = worker_start(env, 2, name=name)
    kills = 0
    try:
        worker_wait_ready(app, name)
        # when the campaign is launched and the worker is SIGKILLed three times mid-way
        campaign_launch(campaign=campaign, actor=None)
        started = time.monotonic()
        last_sweep = started
        while time.monotonic() - started < DEADLINE_SECONDS:
            if kills < len(KILL_AT) and _final_share() >= KILL_AT[kills]:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                kills += 1
                name = worker_name()
                worker = worker_start(env, 2, name=name)
                worker_wait_ready(app, name)
            if time.monotonic() - last_sweep > 2:
                deliveries_sweep(stuck_seconds=STUCK_SECONDS)  # what beat does every minute
                last_sweep = time.monotonic()
            if Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE:
                break
            time.sleep(0.2)
    finally:
        worker_stop(worker, signal.SIGKILL)
        app.conf.task_always_eager = eager
        app.control.purge()

    # then every delivery is sent or suppressed, none lost, none sent twice
    assert kills == 3
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE
    statuses = dict(
        Delivery.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    assert statuses == {"sent": MEMBERS - MEMBERS // 10, "suppressed": MEMBERS // 10}
    assert Delivery.objects.values("member_id").distinct().count() == MEMBERS
    accepted = ProviderCall.objects.filter(accepted=True)
    assert accepted.count() == statuses["sent"]
    assert not accepted.values("delivery_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert set(accepted.values_list("delivery_id", flat=True)) == set(
        Delivery.objects.filter(status="sent").values_list("pk", flat=True)
    )
    # every call carried its delivery's id as the idempotency key
    key = Concat(Value("kk-delivery-"), Cast("delivery_id", output_field=CharField()))
    assert not ProviderCall.objects.exclude(idempotency_key=key).exists()
    # the contact budget was taken once per message
    assert sum(ContactBudget.objects.values_list("used", flat=True)) == statuses["sent"]
    retried = ProviderCall.objects.filter(accepted=False).count()
    print(f"kills={kills} sent={statuses['sent']} repeated provider calls deduplicated={retried}")
