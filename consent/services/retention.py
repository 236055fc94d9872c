"""Retention (GDPR Art. 5(1)(e)): anonymise long-inactive members, purge old data."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from consent import privacy_parts
from consent.deadlines import months_add
from consent.models import AccessLog, ConsentEvent, PrivacyRequest, UsedUnsubscribeToken
from consent.services.erasure import member_anonymise
from consent.services.export import privacy_exports_expire
from members.models import Member

Source = ConsentEvent.Source


def members_inactive_since(cutoff: datetime.datetime) -> list[int]:
    """Members whose last own activity (joining, logging in, any non-system event) is older.
    Never a merged member's tombstone: its timeline is the survivor's now, and it is erased
    with the survivor (``member_anonymise``), never before (its card must still resolve)."""
    last_event = Max("events__created_at", filter=~Q(events__source="system"))
    return list(
        Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
        .annotate(last_event=last_event)
        .annotate(
            last_seen=Greatest(
                F("joined_at"),
                Coalesce(F("last_event"), F("joined_at")),
                Coalesce(F("user__last_login"), F("joined_at")),
            )
        )
        .filter(last_seen__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def privacy_retention_run(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Nightly: anonymise long-inactive members, purge logs and files past retention.

    Idempotent: a second run the same night finds nothing more to do.
    """
    now = now or timezone.now()
    counts: dict[str, int] = {}
    cutoff = months_add(now, -settings.PRIVACY_INACTIVITY_MONTHS)
    anonymised = 0
    for member_id in members_inactive_since(cutoff):
        with transaction.atomic():
            if member_anonymise(member_id=member_id):
                anonymised += 1
                PrivacyRequest.objects.create(
                    member_id=member_id,
                    kind=PrivacyRequest.Kind.ERASURE,
                    status=PrivacyRequest.Status.DONE,
                    origin=PrivacyRequest.Origin.RETENTION,
                    requested_at=now,
                    confirmed_at=now,
                    scheduled_for=now,
                    completed_at=timezone.now(),
                    due_at=now,
                )
    counts["members_anonymised"] = anonymised
    counts["access_log_purged"] = AccessLog.objects.filter(
        viewed_at__lt=now - datetime.timedelta(days=settings.PRIVACY_ACCESS_LOG_RETENTION_DAYS)
    ).delete()[0]
    counts["exports_expired"] = privacy_exports_expire(now=now)
    counts["unsubscribe_links_purged"] = UsedUnsubscribeToken.objects.filter(
        used_at__lt=now - datetime.timedelta(days=settings.CONSENT_UNSUBSCRIBE_MAX_AGE_DAYS)
    ).delete()[0]
    for job in privacy_parts.retention_jobs():
        counts[job.name] = job.run(now)
    return counts
