"""Erasure (GDPR Art. 17): request, confirm, cancel, carry out, anonymise."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from consent import privacy_parts
from consent.deadlines import privacy_deadline
from consent.emails import erasure_confirm_email
from consent.erasure_tokens import ERASURE_SALT
from consent.errors import InvalidConfirmationLinkError
from consent.lock_objects import member_lock
from consent.models import ConsentEvent, PrivacyRequest
from members.activity import Kind, activity_record
from members.models import Member, User
from members.outbox import outbox_emit
from members.selectors import member_resolve

Source = ConsentEvent.Source


def privacy_erasure_request(
    *, member: Member, actor: User | None, origin: str = PrivacyRequest.Origin.MEMBER
) -> PrivacyRequest:
    """Ask for erasure. The member confirms by an emailed link; staff requests are confirmed."""
    with transaction.atomic():
        locked = member_lock(member)
        existing = PrivacyRequest.objects.filter(
            member=locked,
            kind=PrivacyRequest.Kind.ERASURE,
            status__in=PrivacyRequest.OPEN_STATUSES,
        ).first()
        if existing is not None:
            return existing
        now = timezone.now()
        by_staff = origin == PrivacyRequest.Origin.STAFF
        request = PrivacyRequest.objects.create(
            member=locked,
            kind=PrivacyRequest.Kind.ERASURE,
            status=(
                PrivacyRequest.Status.SCHEDULED
                if by_staff
                else PrivacyRequest.Status.AWAITING_CONFIRMATION
            ),
            origin=origin,
            requested_at=now,
            due_at=privacy_deadline(now),
            confirmed_at=now if by_staff else None,
            scheduled_for=now + _grace() if by_staff else None,
            handled_by=actor if by_staff else None,
        )
        activity_record(
            member=locked,
            kind=Kind.ERASURE_REQUESTED,
            data={"privacy_request_id": request.pk},
            source="staff" if by_staff else "web",
            actor=actor,
        )
        if not by_staff:
            request_id = request.pk
            transaction.on_commit(lambda: erasure_confirm_email(request_id=request_id))
    return request


def _grace() -> datetime.timedelta:
    return datetime.timedelta(days=settings.PRIVACY_ERASURE_GRACE_DAYS)


def _link_names(request: PrivacyRequest, member_id: object) -> bool:
    """The link names the request's member, or a member merged into it since the link was
    mailed (the request moved to the survivor with the rest: consent.merging)."""
    if str(request.member_id) == str(member_id):
        return True
    named = Member.objects.filter(pk=member_id if isinstance(member_id, int) else -1).first()
    return named is not None and member_resolve(named).pk == request.member_id


def privacy_erasure_confirm(*, token: str) -> PrivacyRequest:
    """The member clicked the emailed link: schedule the erasure after the grace period."""
    try:
        data = signing.loads(token, salt=ERASURE_SALT, max_age=datetime.timedelta(days=7))
    except signing.BadSignature as exc:
        raise InvalidConfirmationLinkError() from exc
    with transaction.atomic():
        request = (
            PrivacyRequest.objects.select_for_update()
            .filter(pk=data.get("r"), kind=PrivacyRequest.Kind.ERASURE)
            .first()
        )
        if request is None or not _link_names(request, data.get("m")):
            raise InvalidConfirmationLinkError()
        if request.status == PrivacyRequest.Status.SCHEDULED:
            return request  # clicked twice
        if request.status != PrivacyRequest.Status.AWAITING_CONFIRMATION:
            raise InvalidConfirmationLinkError()
        now = timezone.now()
        request.status = PrivacyRequest.Status.SCHEDULED
        request.confirmed_at = now
        request.scheduled_for = now + _grace()
        request.save(update_fields=["status", "confirmed_at", "scheduled_for"])
    return request


def privacy_erasure_cancel(*, member: Member, actor: User | None) -> bool:
    """Cancel an erasure that has not started. Returns False when there was none."""
    with transaction.atomic():
        locked = member_lock(member)
        cancelled = PrivacyRequest.objects.filter(
            member=locked,
            kind=PrivacyRequest.Kind.ERASURE,
            status__in=[
                PrivacyRequest.Status.AWAITING_CONFIRMATION,
                PrivacyRequest.Status.SCHEDULED,
            ],
        ).update(status=PrivacyRequest.Status.CANCELLED, completed_at=timezone.now())
        if cancelled:
            activity_record(
                member=locked,
                kind=Kind.ERASURE_CANCELLED,
                source="web",
                actor=actor,
            )
    return bool(cancelled)


# Erasures are claimed and carried out in one transaction, so they are never left half done:
# a worker killed mid-way rolls back and the request stays scheduled. ``processing`` is
# what releases before that committed first; such a request is resumed like a scheduled one.
_ERASURE_RUNNABLE = (PrivacyRequest.Status.SCHEDULED, PrivacyRequest.Status.PROCESSING)


def privacy_erasure_execute(*, request_id: int, wait: bool = False) -> bool:
    """Anonymise the member of a due erasure and mark it done, in one transaction with the
    member row and the request row locked. A member being erased by another worker (or
    locked by another write) is skipped, unless ``wait``: the next beat run takes it.
    Returns True when this call carried it out."""
    due = PrivacyRequest.objects.filter(
        pk=request_id,
        kind=PrivacyRequest.Kind.ERASURE,
        status__in=_ERASURE_RUNNABLE,
        scheduled_for__lte=timezone.now(),
    )
    member_id = due.values_list("member_id", flat=True).first()
    if member_id is None:
        return False
    with transaction.atomic():
        # The member first, as every other writer locks it (no deadlock with a cancel).
        locked = (
            Member.objects.select_for_update(of=("self",), skip_locked=not wait)
            .filter(pk=member_id)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None or not list(due.select_for_update().values_list("pk", flat=True)):
            return False
        member_anonymise(member_id=member_id)
        PrivacyRequest.objects.filter(pk=request_id).update(
            status=PrivacyRequest.Status.DONE, completed_at=timezone.now()
        )
    return True


def privacy_erasures_run_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: carry out every erasure whose grace period has ended."""
    now = now or timezone.now()
    due = PrivacyRequest.objects.filter(
        kind=PrivacyRequest.Kind.ERASURE,
        status__in=_ERASURE_RUNNABLE,
        scheduled_for__lte=now,
    ).values_list("pk", flat=True)
    return sum(1 for request_id in list(due) if privacy_erasure_execute(request_id=request_id))


def _tombstones_lock(member_id: int) -> list[Member]:
    """Every member merged into this one, directly or through an earlier merge, locked in
    primary-key order. Call with the member's own row locked."""
    found: list[int] = []
    frontier = [member_id]
    while frontier:
        frontier = [
            pk
            for pk in Member.objects.filter(merged_into_id__in=frontier).values_list(
                "pk", flat=True
            )
            if pk not in found and pk != member_id
        ]
        found.extend(frontier)
    return list(
        Member.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk__in=found)
        .order_by("pk")
    )


def member_anonymise(*, member_id: int) -> bool:
    """Replace the member by a tombstone: every registered erasure step runs, in one
    transaction, with the member row locked, for the member and for every member merged into
    it. Idempotent: a second run changes nothing.

    Purchases and ledger entries keep pointing at the tombstone, so every total is unchanged.
    Returns True when the member was erased by this call.
    """
    with transaction.atomic():
        member = (
            Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member_id)
        )
        first_time = member.erased_at is None
        for step in privacy_parts.erasure_steps():
            step.run(member)
        # What came from members merged into this one: each tombstone (its number, card, the
        # consent events and proof that stay on it, anything an app left there) is erased
        # with the same steps, so nothing of either person remains (docs/merging.md).
        for tombstone in _tombstones_lock(member_id):
            for step in privacy_parts.erasure_steps():
                step.run(tombstone)
            if Member.objects.filter(pk=tombstone.pk, erased_at__isnull=True).update(
                erased_at=timezone.now()
            ):
                # Receivers may hold data under the merged member's id too (docs/webhooks.md).
                outbox_emit("member.erased", member=tombstone, data={})
        if first_time:
            Member.objects.filter(pk=member_id, erased_at__isnull=True).update(
                erased_at=timezone.now()
            )
            activity_record(member=member, kind=Kind.ERASED, source="system")
            # An erased member keeps no open requests: exports are cancelled (a build that
            # finishes later deletes its file), other erasure requests are answered by this one.
            PrivacyRequest.objects.filter(
                member_id=member_id,
                kind=PrivacyRequest.Kind.EXPORT,
                status__in=PrivacyRequest.OPEN_STATUSES,
            ).update(status=PrivacyRequest.Status.CANCELLED)
            PrivacyRequest.objects.filter(
                member_id=member_id,
                kind=PrivacyRequest.Kind.ERASURE,
                status__in=[
                    PrivacyRequest.Status.AWAITING_CONFIRMATION,
                    PrivacyRequest.Status.SCHEDULED,
                ],
            ).update(status=PrivacyRequest.Status.DONE, completed_at=timezone.now())
    return first_time
