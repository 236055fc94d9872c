"""Privacy requests (export and erasure): deadlines, staff refusing or carrying out a
request now, and the beat run over due requests."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.errors import PrivacyRequestBusyError, PrivacyRequestStateError
from consent.models import ConsentEvent, PrivacyRequest
from consent.services.erasure import privacy_erasure_execute, privacy_erasures_run_due
from consent.services.export import (
    privacy_export_build,
    privacy_export_resume,
    privacy_exports_sweep,
)
from members.models import User

Source = ConsentEvent.Source


def privacy_request_refuse(*, request: PrivacyRequest, reason: str, staff: User) -> PrivacyRequest:
    """Staff refuse an open request (e.g. the books require keeping data); a reason is required."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for refusing.")})
    with transaction.atomic():
        updated = PrivacyRequest.objects.filter(
            pk=request.pk,
            status__in=[
                PrivacyRequest.Status.AWAITING_CONFIRMATION,
                PrivacyRequest.Status.SCHEDULED,
                PrivacyRequest.Status.QUEUED,
            ],
        ).update(
            status=PrivacyRequest.Status.REFUSED,
            refusal_reason=reason.strip(),
            handled_by=staff,
            completed_at=timezone.now(),
        )
        if not updated:
            raise PrivacyRequestStateError()
    request.refresh_from_db()
    return request


def privacy_request_process_now(*, request: PrivacyRequest, staff: User) -> PrivacyRequest:
    """Staff carry out a request now instead of waiting for the grace period or the queue."""
    if request.kind == PrivacyRequest.Kind.EXPORT:
        # Queued, or processing on a worker that died (its lease ran out): built now.
        if not privacy_export_resume(request_id=request.pk):
            if PrivacyRequest.objects.filter(
                pk=request.pk, status=PrivacyRequest.Status.PROCESSING
            ).exists():
                raise PrivacyRequestBusyError()
            raise PrivacyRequestStateError()
        PrivacyRequest.objects.filter(pk=request.pk).update(handled_by=staff)
        privacy_export_build(request_id=request.pk)
    else:
        updated = PrivacyRequest.objects.filter(
            pk=request.pk,
            status__in=[
                PrivacyRequest.Status.AWAITING_CONFIRMATION,
                PrivacyRequest.Status.SCHEDULED,
                PrivacyRequest.Status.PROCESSING,  # left by an older release: resumed
            ],
        ).update(
            status=PrivacyRequest.Status.SCHEDULED,
            scheduled_for=timezone.now(),
            confirmed_at=Coalesce(F("confirmed_at"), timezone.now()),
            handled_by=staff,
        )
        if not updated:
            raise PrivacyRequestStateError()
        privacy_erasure_execute(request_id=request.pk, wait=True)
    request.refresh_from_db()
    return request


def privacy_requests_run_due(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Beat, every few minutes: due erasures, and exports whose task was lost."""
    return {
        "erased": privacy_erasures_run_due(now=now),
        "exports_resent": privacy_exports_sweep(now=now),
    }
