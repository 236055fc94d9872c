"""Imports uploaded in the back-office (issue 15, docs/import.md "In the back-office").

An administrator uploads a file and picks what it holds (members, opening balances,
historical purchases). The file waits in the private storage; the worker runs the same
import service as the management command (``members_import``, ``balances_import``, ...) and
reports its progress after each batch, which the job's page shows as a bar. A dry run comes
first; its page offers "Import for real", which runs the same file again.

The kinds are registered by the apps that own them (``import_kind_register``): members
registers its own, rewards its balances and purchases (members cannot import rewards).

A worker killed mid-run leaves the job ``running`` with a heartbeat that stops. The task is
acknowledged late, so the broker hands it out again, and a job whose heartbeat is older than
``IMPORT_JOB_STALE_SECONDS`` may be claimed again; the page also offers "Run again". Every
import is idempotent, so a second run writes only what the first did not: the lines the
first wrote count as unchanged.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from members.enqueue import task_get
from members.errors import DomainError, NotFoundError
from members.import_files import ImportReport
from members.models import ImportJob, User

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class ImportRun(Protocol):
    def __call__(
        self, *, data: bytes, dry_run: bool, actor: User | None, progress: Progress | None
    ) -> ImportReport: ...


@dataclass(frozen=True)
class ImportKind:
    code: str
    label: str | Promise
    run: ImportRun
    # The permission an uploader needs besides ``members.add_importjob``.
    permission: str
    # The template to start from, under static/ (docs/import.md).
    template: str
    order: int = 100


_kinds: dict[str, ImportKind] = {}


def import_kind_register(
    *,
    code: str,
    label: str | Promise,
    run: ImportRun,
    permission: str,
    template: str,
    order: int = 100,
) -> None:
    _kinds[code] = ImportKind(
        code=code, label=label, run=run, permission=permission, template=template, order=order
    )


def import_kinds() -> list[ImportKind]:
    return sorted(_kinds.values(), key=lambda kind: (kind.order, kind.code))


def import_kind(code: str) -> ImportKind | None:
    return _kinds.get(code)


class ImportJobError(DomainError):
    code = "import_refused"
    default_message = _("The file could not be taken in.")


def _storage() -> Storage:
    return storages["private"]


def import_job_create(
    *,
    kind: str,
    file_name: str,
    data: bytes,
    dry_run: bool,
    actor: User | None,
    language: str,
) -> ImportJob:
    """Keep the uploaded file and queue its import. Refuses an unknown kind, an empty file
    and one larger than ``IMPORT_UPLOAD_MAX_BYTES`` before anything is kept."""
    if import_kind(kind) is None:
        raise ImportJobError(_("Choose what the file holds."))
    if not data.strip():
        raise ImportJobError(_("The file is empty."))
    if len(data) > settings.IMPORT_UPLOAD_MAX_BYTES:
        raise ImportJobError(
            _("The file is larger than %(mb)d MB: split it, or use the management command.")
            % {"mb": settings.IMPORT_UPLOAD_MAX_BYTES // 1_000_000}
        )
    path = _storage().save(f"imports/{uuid.uuid4().hex}.csv", ContentFile(data))
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            file_name=file_name[:200],
            file_path=path,
            dry_run=dry_run,
            language=language,
            created_by=actor,
        )
        _enqueue(job.pk)
    return job


def import_job_again(*, job_id: int, dry_run: bool, actor: User | None) -> ImportJob:
    """Run a job's file again: "Import for real" after a dry run, "Run again" after a failure
    or an interruption. The file must still be kept (a real run's file is removed when it
    finishes)."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFoundError()
    if not job.file_path or not _storage().exists(job.file_path):
        raise ImportJobError(_("The file is no longer kept: upload it again."))
    with transaction.atomic():
        again = ImportJob.objects.create(
            kind=job.kind,
            file_name=job.file_name,
            file_path=job.file_path,
            dry_run=dry_run,
            language=job.language,
            created_by=actor,
        )
        _enqueue(again.pk)
    return again


def _enqueue(job_id: int) -> None:
    transaction.on_commit(lambda: task_get("members.tasks.import_job_run").delay(job_id))


def import_job_is_stale(job: ImportJob, *, now: datetime.datetime | None = None) -> bool:
    """A running job whose worker stopped reporting (killed, or the machine went away)."""
    if job.status != ImportJob.Status.RUNNING or job.heartbeat_at is None:
        return False
    limit = datetime.timedelta(seconds=settings.IMPORT_JOB_STALE_SECONDS)
    return job.heartbeat_at < (now or timezone.now()) - limit


def import_job_run(*, job_id: int) -> bool:
    """The worker's part: claim the job, run its import with progress, store the report.
    Returns False when the job is not there to run (done, or running in another worker)."""
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=settings.IMPORT_JOB_STALE_SECONDS)
    claimed = ImportJob.objects.filter(
        Q(status=ImportJob.Status.QUEUED)
        | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale),
        pk=job_id,
    ).update(status=ImportJob.Status.RUNNING, started_at=now, heartbeat_at=now, done=0, total=0)
    if not claimed:
        return False
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    kind = import_kind(job.kind)
    try:
        if kind is None:
            raise ImportJobError(_("This kind of import is no longer available."))
        with _storage().open(job.file_path, "rb") as file:
            data = file.read()
        with translation.override(job.language):
            report = kind.run(
                data=data,
                dry_run=job.dry_run,
                actor=job.created_by,
                progress=lambda done, total: _progress(job_id, done, total),
            )
            lines = report.lines()
    except (OSError, DomainError) as error:
        _fail(job, str(getattr(error, "message", "") or error))
        return True
    except Exception:
        logger.exception("import job %s failed", job_id)
        _fail(job, str(_("The import stopped on an unexpected error; run it again.")))
        raise
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.DONE,
        imported=report.imported,
        unchanged=report.unchanged,
        rejected=report.rejected,
        summary=report.summary,
        report=lines[: settings.IMPORT_REPORT_LINES],
        problems_total=len(lines),
        finished_at=timezone.now(),
    )
    if not job.dry_run:
        _file_release(job)
    return True


def _progress(job_id: int, done: int, total: int) -> None:
    ImportJob.objects.filter(pk=job_id).update(done=done, total=total, heartbeat_at=timezone.now())


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, error=message[:500], finished_at=timezone.now()
    )


def _file_release(job: ImportJob) -> None:
    """Remove a file no job needs any more (a real run has finished with it; no other job
    waiting on it)."""
    if not job.file_path:
        return
    waiting = (
        ImportJob.objects.filter(file_path=job.file_path)
        .exclude(pk=job.pk)
        .exclude(status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED])
        .exists()
    )
    if waiting:
        return
    ImportJob.objects.filter(file_path=job.file_path).update(file_path="")
    _storage().delete(job.file_path)


def import_jobs_purge(now: datetime.datetime) -> int:
    """Retention: delete jobs (and their reports and files) past IMPORT_JOB_RETENTION_DAYS."""
    cutoff = now - datetime.timedelta(days=settings.IMPORT_JOB_RETENTION_DAYS)
    old = ImportJob.objects.filter(created_at__lt=cutoff)
    paths = set(old.exclude(file_path="").values_list("file_path", flat=True))
    still_used = set(
        ImportJob.objects.filter(created_at__gte=cutoff, file_path__in=paths).values_list(
            "file_path", flat=True
        )
    )
    count, _deleted = old.delete()
    for path in paths - still_used:
        _storage().delete(path)
    return count
