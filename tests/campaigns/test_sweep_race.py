"""The beat sweep and the workers touch the same delivery rows at once."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.sending.sweep import deliveries_sweep
from tests import factories
from tests.factories import campaigns as cf

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


def test_deliveries_sweep_skips_rows_a_worker_holds_instead_of_waiting() -> None:
    # given a sending campaign with two deliveries whose send tasks were lost an hour ago
    now = timezone.now()
    campaign = cf.campaign(channels=["test"])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    variant = campaign.variants.get()
    held, lost = Delivery.objects.bulk_create(
        [
            Delivery(
                campaign=campaign,
                variant=variant,
                member=factories.member_with_user(),
                channel="test",
                queued_at=now - datetime.timedelta(hours=1),
            )
            for _ in range(2)
        ]
    )
    # and a worker that holds the first row in its open transaction
    worker = connections.create_connection("default")
    worker.ensure_connection()
    raw = worker.connection
    raw.execute("BEGIN")
    raw.execute("SELECT id FROM campaigns_delivery WHERE id = %s FOR UPDATE", [held.pk])
    try:
        # when the sweep runs, with a lock timeout that turns any wait into an error
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        result = deliveries_sweep(now=now, stuck_seconds=60)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
        raw.execute("ROLLBACK")
        worker.close()

    # then it re-queued the free row and left the held one to its worker, without waiting
    assert result["requeued"] == 1
    held.refresh_from_db()
    lost.refresh_from_db()
    assert held.queued_at == now - datetime.timedelta(hours=1)
    assert lost.queued_at == now
