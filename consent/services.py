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
import re
import secrets
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files import File
from django.db import IntegrityError, connections, transaction
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
    PrivacyRequestBusyError,
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
            # Never blocked by its own earlier attempt: a build whose worker died is started
            # again, and a queued one is sent again (a duplicate task finds it claimed).
            if _export_resume(running.pk):
                running_id = running.pk
                transaction.on_commit(lambda: _export_build_later(running_id))
            running.refresh_from_db()
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


# The build task's hard time limit (consent.tasks); a build never runs longer than this.
EXPORT_TIME_LIMIT_SECONDS = 900
# Builds of one request started this many times without finishing (each worker died, say
# killed for memory) end as failed instead of killing workers forever.
EXPORT_MAX_ATTEMPTS = 5
_SCRATCH_NAME = re.compile(r"export-(\d+)-(\d+)")
_ARCHIVE_NAME = re.compile(r"export-(\d+)-(?:(\d+)-)?[A-Za-z0-9_-]{32}\.zip")


def _export_lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.PRIVACY_EXPORT_LEASE_SECONDS)


def export_scratch_root() -> Path:
    """Where builds write their half-made archive: ``<PRIVATE_ROOT>/scratch``, one folder per
    attempt (``export-<request id>-<attempt>``), never served, removed by the build itself, by
    the next attempt, by the sweep, at worker start-up and by the member's erasure."""
    return Path(settings.PRIVATE_ROOT) / "scratch"


def _export_stuck() -> Q:
    """A build whose lease ran out: its worker died. Rows without a lease were claimed by a
    release before leases; they count as stuck once the task's time limit is over."""
    now = timezone.now()
    return Q(status=PrivacyRequest.Status.PROCESSING) & (
        Q(lease_until__lt=now)
        | Q(
            lease_until__isnull=True,
            scheduled_for__lt=now - datetime.timedelta(seconds=EXPORT_TIME_LIMIT_SECONDS + 60),
        )
    )


def _export_resume(request_id: int) -> bool:
    """Queue again an export that is queued or whose build died. True when a task should be
    sent (the caller sends it); False while a live worker builds it or it is closed."""
    return bool(
        PrivacyRequest.objects.filter(pk=request_id, kind=PrivacyRequest.Kind.EXPORT)
        .filter(Q(status=PrivacyRequest.Status.QUEUED) | _export_stuck())
        .update(status=PrivacyRequest.Status.QUEUED, progress=0, lease_until=None)
    )


class _LeaseKeeper:
    """Renews a build's lease from a thread while the build runs (every quarter of the
    lease, on its own database connection). It dies with the process: when a worker is
    killed, the lease runs out and the sweep builds again."""

    def __init__(self, request_id: int, attempt: int) -> None:
        self._owned = PrivacyRequest.objects.filter(
            pk=request_id, status=PrivacyRequest.Status.PROCESSING, attempts=attempt
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"export-lease-{request_id}", daemon=True
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.PRIVACY_EXPORT_LEASE_SECONDS / 4):
                try:
                    if not self._owned.update(lease_until=timezone.now() + _export_lease()):
                        return  # no longer ours (cancelled, or taken over): stop renewing
                except Exception:
                    logger.exception("Could not renew an export lease")
        finally:
            connections.close_all()  # this thread's connections only

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def privacy_export_build(*, request_id: int) -> PrivacyRequest | None:
    """Build the ZIP for a queued export. Idempotent: only a queued request is claimed.

    Each claim is an attempt with a lease (``lease_until``) that a thread renews while the
    build runs; every write after the claim is conditional on that attempt, so a build that
    was taken over (its worker presumed dead) changes nothing. The file is written outside
    any transaction (slow I/O) into a scratch folder under ``PRIVATE_ROOT``; progress is
    committed as each section is done, so the member's page can show it.
    """
    from consent.export import export_build

    now = timezone.now()
    claimed = PrivacyRequest.objects.filter(
        pk=request_id, kind=PrivacyRequest.Kind.EXPORT, status=PrivacyRequest.Status.QUEUED
    ).update(
        status=PrivacyRequest.Status.PROCESSING,
        progress=0,
        scheduled_for=now,
        attempts=F("attempts") + 1,
        lease_until=now + _export_lease(),
    )
    if not claimed:
        return None
    request = PrivacyRequest.objects.select_related("member__user").get(pk=request_id)
    attempt = request.attempts
    owned = PrivacyRequest.objects.filter(
        pk=request_id, status=PrivacyRequest.Status.PROCESSING, attempts=attempt
    )
    storage = private_storage()

    def progress(percent: int) -> None:
        owned.update(progress=min(percent, 99), lease_until=timezone.now() + _export_lease())

    # Earlier attempts' leftovers go first; this attempt's folder goes when it ends, and if
    # its worker is killed before that, the next attempt or the sweep removes it.
    _export_scratch_remove(request_id=request_id)
    root = export_scratch_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = root / f"export-{request_id}-{attempt}"
    scratch.mkdir(mode=0o700)
    try:
        with _LeaseKeeper(request_id, attempt):
            local = scratch / "export.zip"
            export_build(member=request.member, path=local, progress=progress)
            # Handed to the private storage, which every web and worker machine shares; the
            # stored name is random and never served at any URL, and only a finished
            # request's file can be downloaded.
            with local.open("rb") as fh:
                stored_name = storage.save(
                    f"exports/export-{request_id}-{attempt}-{secrets.token_urlsafe(24)}.zip",
                    File(fh),
                )
    except Exception:
        if not owned.update(status=PrivacyRequest.Status.FAILED, lease_until=None):
            # No longer ours: cancelled by the member's erasure (which removed the scratch
            # folder under this build) or taken over by another attempt. Nothing failed.
            logger.info("Export %s attempt %s stopped: no longer current", request_id, attempt)
            return None
        logger.exception("Export %s failed", request_id)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    now = timezone.now()
    with transaction.atomic():
        finished = owned.update(
            status=PrivacyRequest.Status.DONE,
            progress=100,
            file_name=stored_name,
            completed_at=now,
            lease_until=None,
            expires_at=now + datetime.timedelta(days=settings.PRIVACY_EXPORT_TTL_DAYS),
        )
        if not finished:
            # Cancelled meanwhile (the member was erased), or taken over by another attempt:
            # this file must not survive.
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


def _export_scratch_remove(*, request_id: int) -> None:
    root = export_scratch_root()
    if root.is_dir():
        for entry in root.glob(f"export-{request_id}-*"):
            if _SCRATCH_NAME.fullmatch(entry.name):
                shutil.rmtree(entry, ignore_errors=True)


def export_leftovers_clean(
    *, request_ids: Iterable[int] | None = None, include_live: bool = False
) -> int:
    """Delete what a killed build left: scratch folders and stored archives that no live
    build and no finished export owns (all of them, or only those of ``request_ids``).
    ``include_live`` (erasure) deletes a running build's files too: that build fails, and
    its request is cancelled by the erasure anyway.

    A folder or file is listed before the database is read, so one made by a build that
    claims later is never taken for a leftover. Returns how many were deleted."""
    root = export_scratch_root()
    folders = list(root.iterdir()) if root.is_dir() else []
    storage = private_storage()
    try:
        archives = storage.listdir("exports")[1]
    except FileNotFoundError:
        archives = []
    wanted = None if request_ids is None else set(request_ids)
    now = timezone.now()
    live = (
        set()
        if include_live
        else set(
            PrivacyRequest.objects.filter(
                kind=PrivacyRequest.Kind.EXPORT,
                status=PrivacyRequest.Status.PROCESSING,
                lease_until__gte=now,
            ).values_list("pk", "attempts")
        )
    )
    live_ids = {pk for pk, _attempt in live}
    kept = set(
        PrivacyRequest.objects.filter(kind=PrivacyRequest.Kind.EXPORT)
        .exclude(file_name="")
        .values_list("file_name", flat=True)
    )
    deleted = 0
    for folder in folders:
        match = _SCRATCH_NAME.fullmatch(folder.name)
        if match is None:
            continue
        request_id, attempt = int(match[1]), int(match[2])
        if (wanted is not None and request_id not in wanted) or (request_id, attempt) in live:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        deleted += 1
    for archive in archives:
        match = _ARCHIVE_NAME.fullmatch(archive)
        name = f"exports/{archive}"
        if match is None or name in kept:
            continue
        request_id = int(match[1])
        if wanted is not None and request_id not in wanted:
            continue
        if match[2] is None and request_id in live_ids:
            continue
        if match[2] is not None and (request_id, int(match[2])) in live:
            continue
        storage.delete(name)
        deleted += 1
    return deleted


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
        # Queued, or processing on a worker that died (its lease ran out): built now.
        if not _export_resume(request.pk):
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


def privacy_exports_sweep(*, now: datetime.datetime | None = None) -> int:
    """Beat: build again exports whose worker died (their lease ran out), send again those
    queued for 10 minutes (the task was lost), and delete what dead builds left (scratch
    folders, unfinished archives). Building is claimed per attempt, so a duplicate task
    does nothing. Returns how many tasks were sent."""
    now = now or timezone.now()
    stuck = list(
        PrivacyRequest.objects.filter(kind=PrivacyRequest.Kind.EXPORT)
        .filter(_export_stuck())
        .values_list("pk", "attempts")
    )
    resend = []
    for request_id, attempts in stuck:
        if attempts >= EXPORT_MAX_ATTEMPTS:
            if (
                PrivacyRequest.objects.filter(pk=request_id)
                .filter(_export_stuck())
                .update(status=PrivacyRequest.Status.FAILED, lease_until=None)
            ):
                logger.error("Export %s gave up after %s attempts", request_id, attempts)
        elif _export_resume(request_id):
            resend.append(request_id)
    resend += [
        request_id
        for request_id in PrivacyRequest.objects.filter(
            kind=PrivacyRequest.Kind.EXPORT,
            status=PrivacyRequest.Status.QUEUED,
            requested_at__lt=now - datetime.timedelta(minutes=10),
        ).values_list("pk", flat=True)
        if request_id not in resend
    ]
    for request_id in resend:
        _export_build_later(request_id)
    export_leftovers_clean()
    return len(resend)


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
