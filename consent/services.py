"""Writes for consent, preferences, interests, privacy requests, erasure and retention.

Every change to a member's consent is one ``ConsentEvent`` plus the derived
``ConsentState``, in one transaction with the member row locked, so concurrent changes to the
same member queue up and each sees the other's result.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import logging
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from consent import registry
from consent.errors import (
    ConsentMissingError,
    ConsentNotApplicableError,
    InvalidConfirmationLinkError,
    InvalidUnsubscribeTokenError,
    MemberErasedError,
    NoPolicyVersionError,
    PrivacyRequestStateError,
    UnknownPurposeError,
)
from consent.models import (
    AccessLog,
    ConsentEvent,
    ConsentProof,
    ConsentState,
    ContactPreferences,
    Interest,
    MemberInterest,
    PartnerShare,
    PolicyVersion,
    PrivacyRequest,
    Purpose,
    UsedUnsubscribeToken,
)
from consent.selectors import policy_version_current, private_storage
from members.activity import Kind, activity_record
from members.models import Member, User

logger = logging.getLogger(__name__)

Source = ConsentEvent.Source


def _lock_member(member: Member | int) -> Member:
    """Lock the member row: every consent or privacy change of one member runs in turn."""
    pk = member if isinstance(member, int) else member.pk
    locked = Member.objects.select_for_update().get(pk=pk)
    if locked.erased_at is not None:
        raise MemberErasedError()
    return locked


def _purpose(purpose: Purpose | str) -> Purpose:
    if isinstance(purpose, Purpose):
        return purpose
    found = Purpose.objects.filter(code=purpose).first()
    if found is None:
        raise UnknownPurposeError()
    return found


# --- policy versions ---------------------------------------------------------------------


def policy_text_hash(*, text_sv: str, text_en: str) -> str:
    return hashlib.sha256(f"sv\n{text_sv}\nen\n{text_en}".encode()).hexdigest()


def policy_version_create(
    *, version: str, text_sv: str, text_en: str, effective_at: datetime.datetime
) -> PolicyVersion:
    """Publish a policy version. Its texts are hashed so a consent proves exactly what was shown."""
    if not version.strip() or not text_sv.strip() or not text_en.strip():
        raise ValidationError(_("A version needs a name and both texts."))
    return PolicyVersion.objects.create(
        version=version.strip(),
        text_sv=text_sv,
        text_en=text_en,
        content_hash=policy_text_hash(text_sv=text_sv, text_en=text_en),
        effective_at=effective_at,
    )


# --- consent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    """Where a change came from, for the record. IP and user agent only from the web."""

    source: str
    actor: User | None = None
    ip_address: str | None = None
    user_agent: str = ""
    policy_version: PolicyVersion | None = None


def _consent_set_locked(
    *, member: Member, purpose: Purpose, granted: bool, proof: Proof, channel: str | None = None
) -> ConsentEvent | None:
    """Write one event and the state, unless nothing changes. Caller holds the member lock."""
    if not purpose.needs_consent:
        raise ConsentNotApplicableError()
    if channel is not None and channel != purpose.channel:
        raise ValidationError({"channel": _("This purpose is about another channel.")})
    if proof.source not in Source.values:
        raise ValidationError({"source": _("Unknown source.")})
    if granted and not purpose.active:
        raise UnknownPurposeError()
    state = ConsentState.objects.filter(
        member=member, purpose=purpose, channel=purpose.channel
    ).first()
    if (state is None and not granted) or (state is not None and state.granted == granted):
        return None  # no change, no event: withdrawing what was never given changes nothing
    version = proof.policy_version or policy_version_current()
    if version is None:
        raise NoPolicyVersionError()
    now = timezone.now()
    actor = proof.actor if proof.actor is not None and proof.actor.is_authenticated else None
    event = ConsentEvent.objects.create(
        member=member,
        purpose=purpose,
        channel=purpose.channel,
        granted=granted,
        policy_version=version,
        source=proof.source,
        actor=actor,
        created_at=now,
    )
    if proof.ip_address or proof.user_agent:
        ConsentProof.objects.create(
            event=event, ip_address=proof.ip_address or None, user_agent=proof.user_agent[:400]
        )
    if state is None:
        ConsentState.objects.create(
            member=member,
            purpose=purpose,
            channel=purpose.channel,
            granted=granted,
            event=event,
            changed_at=now,
        )
    else:
        ConsentState.objects.filter(pk=state.pk).update(
            granted=granted, event=event, changed_at=now
        )
    activity_record(
        member=member,
        kind=Kind.CONSENT_GRANTED if granted else Kind.CONSENT_WITHDRAWN,
        data={"purpose": purpose.code, "channel": purpose.channel, "consent_event_id": event.pk},
        source=proof.source,
        actor=actor,
    )
    return event


def consent_set(
    *,
    member: Member,
    purpose: Purpose | str,
    granted: bool,
    source: str,
    actor: User | None = None,
    channel: str | None = None,
    policy_version: PolicyVersion | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent | None:
    """Grant or withdraw one purpose. Returns the new event, or None when nothing changed.

    ``policy_version`` is the version the member saw (default: the one in force now).
    """
    purpose_obj = _purpose(purpose)
    proof = Proof(
        source=source,
        actor=actor,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )
    with transaction.atomic():
        locked = _lock_member(member)
        return _consent_set_locked(
            member=locked, purpose=purpose_obj, granted=granted, proof=proof, channel=channel
        )


def consent_grant(**kwargs: Any) -> ConsentEvent | None:
    return consent_set(granted=True, **kwargs)


def consent_withdraw(**kwargs: Any) -> ConsentEvent | None:
    return consent_set(granted=False, **kwargs)


def consents_set(
    *,
    member: Member,
    choices: dict[str, bool],
    source: str,
    actor: User | None = None,
    policy_version: PolicyVersion | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> list[ConsentEvent]:
    """Set several purposes at once (sign-up, preference centre, import), all or nothing.

    Only changes are recorded: an unticked box for a purpose never granted writes nothing.
    """
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=list(choices))}
    unknown = set(choices) - set(purposes)
    if unknown:
        raise UnknownPurposeError()
    proof = Proof(
        source=source,
        actor=actor,
        ip_address=ip_address,
        user_agent=user_agent,
        policy_version=policy_version,
    )
    events = []
    with transaction.atomic():
        locked = _lock_member(member)
        for code in sorted(choices):
            event = _consent_set_locked(
                member=locked, purpose=purposes[code], granted=choices[code], proof=proof
            )
            if event is not None:
                events.append(event)
    return events


# --- preferences and interests -----------------------------------------------------------


def contact_preferences_update(
    *,
    member: Member,
    max_messages_per_week: int | None,
    quiet_start: datetime.time | None,
    quiet_end: datetime.time | None,
    actor: User | None,
    source: str = "web",
) -> ContactPreferences:
    """Set the weekly limit and quiet hours (both ends, or neither)."""
    errors: dict[str, str] = {}
    if max_messages_per_week is not None and max_messages_per_week < 1:
        errors["max_messages_per_week"] = _("Choose at least one message a week, or no limit.")
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_end"] = _("Give both the start and the end of your quiet hours.")
    elif quiet_start is not None and quiet_start == quiet_end:
        errors["quiet_end"] = _("The quiet hours must end at another time than they start.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock_member(member)
        prefs, _created = ContactPreferences.objects.select_for_update().get_or_create(
            member=locked
        )
        prefs.max_messages_per_week = max_messages_per_week
        prefs.quiet_start = quiet_start
        prefs.quiet_end = quiet_end
        prefs.updated_at = timezone.now()
        prefs.save()
        activity_record(
            member=locked,
            kind=Kind.PREFERENCES_CHANGED,
            data={
                "max_messages_per_week": max_messages_per_week,
                "quiet_hours": bool(quiet_start),
            },
            source=source,
            actor=actor,
        )
    return prefs


def marketing_pause(
    *, member: Member, actor: User | None, days: int | None = None, source: str = "web"
) -> ContactPreferences:
    """Pause every message the member opted into for ``days`` (default 30)."""
    days = days or settings.CONSENT_PAUSE_DAYS
    with transaction.atomic():
        locked = _lock_member(member)
        prefs, _created = ContactPreferences.objects.select_for_update().get_or_create(
            member=locked
        )
        prefs.paused_until = timezone.now() + datetime.timedelta(days=days)
        prefs.updated_at = timezone.now()
        prefs.save(update_fields=["paused_until", "updated_at"])
        activity_record(
            member=locked,
            kind=Kind.PREFERENCES_CHANGED,
            data={"paused_days": days},
            source=source,
            actor=actor,
        )
    return prefs


def marketing_resume(*, member: Member, actor: User | None, source: str = "web") -> None:
    with transaction.atomic():
        locked = _lock_member(member)
        changed = ContactPreferences.objects.filter(
            member=locked, paused_until__isnull=False
        ).update(paused_until=None, updated_at=timezone.now())
        if changed:
            activity_record(
                member=locked,
                kind=Kind.PREFERENCES_CHANGED,
                data={"paused_days": 0},
                source=source,
                actor=actor,
            )


def interests_set(
    *, member: Member, interest_ids: Iterable[int], actor: User | None, source: str = "web"
) -> set[int]:
    """Replace the member's interests with ``interest_ids`` (active interests only)."""
    wanted = set(interest_ids)
    valid = set(Interest.objects.filter(pk__in=wanted, active=True).values_list("pk", flat=True))
    if wanted - valid:
        raise ValidationError({"interests": _("Choose from the list.")})
    with transaction.atomic():
        locked = _lock_member(member)
        current = set(
            MemberInterest.objects.filter(member=locked).values_list("interest_id", flat=True)
        )
        added, removed = wanted - current, current - wanted
        if not added and not removed:
            return current
        MemberInterest.objects.filter(member=locked, interest_id__in=removed).delete()
        MemberInterest.objects.bulk_create(
            [MemberInterest(member=locked, interest_id=pk) for pk in sorted(added)]
        )
        codes = dict(Interest.objects.filter(pk__in=added | removed).values_list("pk", "code"))
        activity_record(
            member=locked,
            kind=Kind.INTERESTS_CHANGED,
            data={
                "added": sorted(codes[pk] for pk in added),
                "removed": sorted(codes[pk] for pk in removed),
            },
            source=source,
            actor=actor,
        )
    return wanted


def partner_share_record(
    *,
    member: Member,
    purpose: Purpose | str,
    data_categories: list[str],
    reference: str = "",
) -> PartnerShare:
    """Record that data went to a partner. Refuses unless the member agreed to that partner."""
    purpose_obj = _purpose(purpose)
    if purpose_obj.category != Purpose.Category.PARTNER:
        raise ValidationError({"purpose": _("Not a partner purpose.")})
    with transaction.atomic():
        locked = _lock_member(member)
        granted = ConsentState.objects.filter(
            member=locked, purpose=purpose_obj, granted=True
        ).exists()
        if not granted:
            raise ConsentMissingError()
        return PartnerShare.objects.create(
            member=locked,
            purpose=purpose_obj,
            data_categories=sorted(set(data_categories)),
            reference=reference[:100],
        )


# --- one-click unsubscribe ---------------------------------------------------------------

UNSUBSCRIBE_SALT = "consent.unsubscribe"


def unsubscribe_token_make(*, member: Member, purpose: str, channel: str) -> str:
    """A signed token naming the member, purpose and channel; a nonce makes each unique."""
    return signing.dumps(
        {"m": member.pk, "p": purpose, "c": channel, "n": secrets.token_hex(6)},
        salt=UNSUBSCRIBE_SALT,
        compress=True,
    )


def unsubscribe_token_read(token: str) -> dict[str, Any]:
    try:
        data = signing.loads(
            token,
            salt=UNSUBSCRIBE_SALT,
            max_age=datetime.timedelta(days=settings.CONSENT_UNSUBSCRIBE_MAX_AGE_DAYS),
        )
    except signing.BadSignature as exc:
        raise InvalidUnsubscribeTokenError() from exc
    if not isinstance(data, dict) or not {"m", "p", "c", "n"} <= set(data):
        raise InvalidUnsubscribeTokenError()
    return data


@dataclass(frozen=True)
class UnsubscribeResult:
    purpose: Purpose
    withdrawn: bool  # False: the link had been used already, or nothing was granted


def unsubscribe_redeem(
    *, token: str, ip_address: str | None = None, user_agent: str = ""
) -> UnsubscribeResult:
    """Withdraw the purpose the link names, without login. Each link works once."""
    data = unsubscribe_token_read(token)
    purpose = Purpose.objects.filter(code=data["p"]).first()
    if purpose is None:
        raise InvalidUnsubscribeTokenError()
    digest = hashlib.sha256(token.encode()).hexdigest()
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(pk=data["m"]).first()
        if member is None:
            raise InvalidUnsubscribeTokenError()
        if member.erased_at is not None:
            return UnsubscribeResult(purpose=purpose, withdrawn=False)
        try:
            with transaction.atomic():
                UsedUnsubscribeToken.objects.create(digest=digest, member=member)
        except IntegrityError:
            return UnsubscribeResult(purpose=purpose, withdrawn=False)
        event = _consent_set_locked(
            member=member,
            purpose=purpose,
            granted=False,
            channel=data["c"],
            proof=Proof(
                source=Source.UNSUBSCRIBE_LINK, ip_address=ip_address, user_agent=user_agent
            ),
        )
    return UnsubscribeResult(purpose=purpose, withdrawn=event is not None)


# --- privacy requests: deadline ----------------------------------------------------------


def months_add(value: datetime.datetime, months: int) -> datetime.datetime:
    """The same day ``months`` later (or earlier), clamped to the month's last day."""
    month_index = value.year * 12 + value.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def privacy_deadline(requested_at: datetime.datetime) -> datetime.datetime:
    """Art. 12(3): answer within one month of receipt."""
    return months_add(requested_at, 1)


# --- export (Art. 15, 20) ----------------------------------------------------------------


def privacy_export_request(
    *, member: Member, actor: User | None, origin: str = PrivacyRequest.Origin.MEMBER
) -> PrivacyRequest:
    """Queue an export. A second click while one is running returns the running one."""
    with transaction.atomic():
        locked = _lock_member(member)
        running = PrivacyRequest.objects.filter(
            member=locked, kind=PrivacyRequest.Kind.EXPORT, status__in=PrivacyRequest.OPEN_STATUSES
        ).first()
        if running is not None:
            return running
        now = timezone.now()
        request = PrivacyRequest.objects.create(
            member=locked,
            kind=PrivacyRequest.Kind.EXPORT,
            status=PrivacyRequest.Status.QUEUED,
            origin=origin,
            requested_at=now,
            confirmed_at=now,
            due_at=privacy_deadline(now),
            handled_by=actor if origin == PrivacyRequest.Origin.STAFF else None,
        )
        request_id = request.pk
        transaction.on_commit(lambda: _export_build_later(request_id))
    return request


def _export_build_later(request_id: int) -> None:
    from consent.tasks import privacy_export_build_task

    privacy_export_build_task.delay(request_id)


def privacy_export_build(*, request_id: int) -> PrivacyRequest | None:
    """Build the ZIP for a queued export. Idempotent: only a queued request is claimed.

    The file is written outside any transaction (slow I/O); progress is committed as each
    section is done, so the member's page can show it.
    """
    from consent.export import export_build

    claimed = PrivacyRequest.objects.filter(
        pk=request_id, kind=PrivacyRequest.Kind.EXPORT, status=PrivacyRequest.Status.QUEUED
    ).update(status=PrivacyRequest.Status.PROCESSING, progress=0, scheduled_for=timezone.now())
    if not claimed:
        return None
    request = PrivacyRequest.objects.select_related("member__user").get(pk=request_id)
    storage = private_storage()

    def progress(percent: int) -> None:
        PrivacyRequest.objects.filter(pk=request_id).update(progress=min(percent, 99))

    # Built in a local scratch folder, then handed to the private storage, which every web
    # and worker machine shares; the stored name is random and never served at any URL.
    with tempfile.TemporaryDirectory(prefix="kk-export-") as scratch:
        local = Path(scratch) / "export.zip"
        try:
            export_build(member=request.member, path=local, progress=progress)
            with local.open("rb") as fh:
                stored_name = storage.save(
                    f"exports/export-{request.pk}-{secrets.token_urlsafe(24)}.zip", File(fh)
                )
        except Exception:
            logger.exception("Export %s failed", request_id)
            PrivacyRequest.objects.filter(pk=request_id).update(status=PrivacyRequest.Status.FAILED)
            raise
    now = timezone.now()
    with transaction.atomic():
        finished = PrivacyRequest.objects.filter(
            pk=request_id, status=PrivacyRequest.Status.PROCESSING
        ).update(
            status=PrivacyRequest.Status.DONE,
            progress=100,
            file_name=stored_name,
            completed_at=now,
            expires_at=now + datetime.timedelta(days=settings.PRIVACY_EXPORT_TTL_DAYS),
        )
        if not finished:
            # Cancelled meanwhile (the member was erased): the file must not survive them.
            storage.delete(stored_name)
            return None
        activity_record(
            member=request.member,
            kind=Kind.DATA_EXPORTED,
            data={"privacy_request_id": request_id},
            source="system",
        )
        from consent.emails import export_ready_email

        transaction.on_commit(lambda: export_ready_email(request_id=request_id))
    request.refresh_from_db()
    return request


def privacy_export_open(request: PrivacyRequest) -> File:
    """The finished archive, opened for reading. Raises ``FileNotFoundError`` when gone.

    The storage refuses names that lead out of its folder (``SuspiciousFileOperation``).
    """
    if not request.file_name:
        raise FileNotFoundError(request.pk)
    return private_storage().open(request.file_name, "rb")


def privacy_exports_expire(*, now: datetime.datetime | None = None) -> int:
    """Delete export files past their expiry; the request row stays as the record."""
    now = now or timezone.now()
    expired = 0
    for request in PrivacyRequest.objects.filter(
        kind=PrivacyRequest.Kind.EXPORT, status=PrivacyRequest.Status.DONE, expires_at__lte=now
    ):
        _export_file_delete(request)
        expired += PrivacyRequest.objects.filter(
            pk=request.pk, status=PrivacyRequest.Status.DONE
        ).update(status=PrivacyRequest.Status.EXPIRED, file_name="")
    return expired


def _export_file_delete(request: PrivacyRequest) -> None:
    if request.file_name:
        try:
            private_storage().delete(request.file_name)
        except SuspiciousFileOperation:
            logger.warning("Export %s has a file name outside the private storage", request.pk)


# --- erasure (Art. 17) -------------------------------------------------------------------

ERASURE_SALT = "consent.erasure-confirm"


def privacy_erasure_request(
    *, member: Member, actor: User | None, origin: str = PrivacyRequest.Origin.MEMBER
) -> PrivacyRequest:
    """Ask for erasure. The member confirms by an emailed link; staff requests are confirmed."""
    with transaction.atomic():
        locked = _lock_member(member)
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
            from consent.emails import erasure_confirm_email

            request_id = request.pk
            transaction.on_commit(lambda: erasure_confirm_email(request_id=request_id))
    return request


def _grace() -> datetime.timedelta:
    return datetime.timedelta(days=settings.PRIVACY_ERASURE_GRACE_DAYS)


def erasure_confirm_token(request: PrivacyRequest) -> str:
    return signing.dumps({"r": request.pk, "m": request.member_id}, salt=ERASURE_SALT)


def privacy_erasure_confirm(*, token: str) -> PrivacyRequest:
    """The member clicked the emailed link: schedule the erasure after the grace period."""
    try:
        data = signing.loads(token, salt=ERASURE_SALT, max_age=datetime.timedelta(days=7))
    except signing.BadSignature as exc:
        raise InvalidConfirmationLinkError() from exc
    with transaction.atomic():
        request = (
            PrivacyRequest.objects.select_for_update()
            .filter(pk=data.get("r"), member_id=data.get("m"), kind=PrivacyRequest.Kind.ERASURE)
            .first()
        )
        if request is None:
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
        locked = _lock_member(member)
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
        if request.status != PrivacyRequest.Status.QUEUED:
            raise PrivacyRequestStateError()
        PrivacyRequest.objects.filter(pk=request.pk).update(handled_by=staff)
        privacy_export_build(request_id=request.pk)
    else:
        updated = PrivacyRequest.objects.filter(
            pk=request.pk,
            status__in=[
                PrivacyRequest.Status.AWAITING_CONFIRMATION,
                PrivacyRequest.Status.SCHEDULED,
            ],
        ).update(
            status=PrivacyRequest.Status.SCHEDULED,
            scheduled_for=timezone.now(),
            confirmed_at=Coalesce(F("confirmed_at"), timezone.now()),
            handled_by=staff,
        )
        if not updated:
            raise PrivacyRequestStateError()
        privacy_erasure_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


def privacy_erasure_execute(*, request_id: int) -> bool:
    """Anonymise the member of a due, scheduled erasure. Claimed first, so runs once."""
    claimed = PrivacyRequest.objects.filter(
        pk=request_id,
        kind=PrivacyRequest.Kind.ERASURE,
        status=PrivacyRequest.Status.SCHEDULED,
        scheduled_for__lte=timezone.now(),
    ).update(status=PrivacyRequest.Status.PROCESSING)
    if not claimed:
        return False
    request = PrivacyRequest.objects.get(pk=request_id)
    try:
        member_anonymise(member_id=request.member_id)
    except Exception:
        # Back to scheduled: the next beat run tries again.
        PrivacyRequest.objects.filter(pk=request_id).update(status=PrivacyRequest.Status.SCHEDULED)
        raise
    PrivacyRequest.objects.filter(pk=request_id).update(
        status=PrivacyRequest.Status.DONE, completed_at=timezone.now()
    )
    return True


def privacy_erasures_run_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: carry out every erasure whose grace period has ended."""
    now = now or timezone.now()
    due = PrivacyRequest.objects.filter(
        kind=PrivacyRequest.Kind.ERASURE,
        status=PrivacyRequest.Status.SCHEDULED,
        scheduled_for__lte=now,
    ).values_list("pk", flat=True)
    return sum(1 for request_id in list(due) if privacy_erasure_execute(request_id=request_id))


def privacy_exports_sweep(*, now: datetime.datetime | None = None) -> int:
    """Re-send exports whose task was lost: queued for 10 minutes, or stuck in processing
    for longer than the task's time limit (its worker died). Building is claimed by a
    conditional update, so a duplicate task does nothing."""
    now = now or timezone.now()
    PrivacyRequest.objects.filter(
        kind=PrivacyRequest.Kind.EXPORT,
        status=PrivacyRequest.Status.PROCESSING,
        scheduled_for__lt=now - datetime.timedelta(hours=1),  # when the build started
    ).update(status=PrivacyRequest.Status.QUEUED, progress=0)
    queued = list(
        PrivacyRequest.objects.filter(
            kind=PrivacyRequest.Kind.EXPORT,
            status=PrivacyRequest.Status.QUEUED,
            requested_at__lt=now - datetime.timedelta(minutes=10),
        ).values_list("pk", flat=True)
    )
    for request_id in queued:
        _export_build_later(request_id)
    return len(queued)


def privacy_requests_run_due(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Beat, every few minutes: due erasures, and exports whose task was lost."""
    return {
        "erased": privacy_erasures_run_due(now=now),
        "exports_resent": privacy_exports_sweep(now=now),
    }


def member_anonymise(*, member_id: int) -> bool:
    """Replace the member by a tombstone: every registered erasure step runs, in one
    transaction, with the member row locked. Idempotent: a second run changes nothing.

    Purchases and ledger entries keep pointing at the tombstone, so every total is unchanged.
    Returns True when the member was erased by this call.
    """
    with transaction.atomic():
        member = (
            Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member_id)
        )
        first_time = member.erased_at is None
        for step in registry.erasure_steps():
            step.run(member)
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


# --- retention (Art. 5(1)(e)) ------------------------------------------------------------


def members_inactive_since(cutoff: datetime.datetime) -> list[int]:
    """Members whose last own activity (joining, logging in, any non-system event) is older."""
    last_event = Max("events__created_at", filter=~Q(events__source="system"))
    return list(
        Member.objects.filter(erased_at__isnull=True)
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
    for job in registry.retention_jobs():
        counts[job.name] = job.run(now)
    return counts


# --- who looked at whom ------------------------------------------------------------------


def access_log_record(*, staff: User, member_id: int, view: str) -> AccessLog | None:
    """Log that a staff user opened a member's record. Members looking at themselves are not."""
    if not staff.is_authenticated or not staff.is_staff:
        return None
    return AccessLog.objects.create(staff=staff, member_id=member_id, view=view[:40])
