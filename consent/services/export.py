"""Export (GDPR Art. 15, 20): request, build under a lease, open, expire, sweep."""

from __future__ import annotations

import datetime
import logging
import re
import secrets
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from consent import export as export_zip
from consent.deadlines import privacy_deadline
from consent.emails import export_ready_email
from consent.lock_objects import member_lock
from consent.models import ConsentEvent, PrivacyRequest
from consent.selectors import private_storage
from members.activity import Kind, activity_record
from members.enqueue import task_get
from members.models import Member, User

logger = logging.getLogger(__name__)

Source = ConsentEvent.Source


def privacy_export_request(
    *, member: Member, actor: User | None, origin: str = PrivacyRequest.Origin.MEMBER
) -> PrivacyRequest:
    """Queue an export. A second click while one is running returns the running one."""
    with transaction.atomic():
        locked = member_lock(member)
        running = PrivacyRequest.objects.filter(
            member=locked, kind=PrivacyRequest.Kind.EXPORT, status__in=PrivacyRequest.OPEN_STATUSES
        ).first()
        if running is not None:
            # Never blocked by its own earlier attempt: a build whose worker died is started
            # again, and a queued one is sent again (a duplicate task finds it claimed).
            if privacy_export_resume(request_id=running.pk):
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
    task_get("consent.tasks.privacy_export_build_task").delay(request_id)


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


def privacy_export_resume(*, request_id: int) -> bool:
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
            export_zip.export_build(member=request.member, path=local, progress=progress)
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


def privacy_export_open(request: PrivacyRequest) -> File[bytes]:
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
        privacy_export_file_delete(request=request)
        expired += PrivacyRequest.objects.filter(
            pk=request.pk, status=PrivacyRequest.Status.DONE
        ).update(status=PrivacyRequest.Status.EXPIRED, file_name="")
    return expired


def privacy_export_file_delete(*, request: PrivacyRequest) -> None:
    """Delete the export's archive from private storage (its row keeps the name)."""
    if request.file_name:
        try:
            private_storage().delete(request.file_name)
        except SuspiciousFileOperation:
            logger.warning("Export %s has a file name outside the private storage", request.pk)


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
        elif privacy_export_resume(request_id=request_id):
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
