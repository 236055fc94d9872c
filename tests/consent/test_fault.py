"""A real Celery worker SIGKILLed in the middle of an export build and of an erasure: each
job is done by the next worker within seconds, exactly once, and no file anywhere in the
temporary folders (or the scratch folder) still holds the member's name, phone, email or
card token.

The worker is ``tests.consent.fault_worker`` (the project's app made slow: a sleep per
export section and inside the erasure's transaction) on this test's own database and
Redis. The test plays beat: it sends the real beat task every 1.5 s, as beat does every
minute. The export lease is 4 s here (120 s by default), so the whole test stays well under
a minute.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from consent import tasks
from consent.models import PrivacyRequest
from consent.services.erasure import privacy_erasure_request
from consent.services.export import export_scratch_root, privacy_export_request
from members.activity import Kind
from members.models import ActivityEvent, Member
from tests import factories
from tests.processes import test_database_url

ROOT = Path(settings.BASE_DIR)
LEASE_SECONDS = 4
BEAT_SECONDS = 1.5
DEADLINE_SECONDS = 60

pytestmark = [pytest.mark.fault, pytest.mark.privacy, pytest.mark.django_db(transaction=True)]


class Workers:
    """Starts the fault worker in its own process group, so a kill takes the whole worker."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.marks = tmp / "marks"
        self.mail = tmp / "mail"
        self.marks.mkdir()
        self.mail.mkdir()
        self.env = dict(os.environ)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.consent.fault_settings",
                "DATABASE_URL": test_database_url(),
                "REDIS_URL": settings.CELERY_BROKER_URL,
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "PRIVATE_ROOT": str(settings.PRIVATE_ROOT),
                "PRIVACY_EXPORT_LEASE_SECONDS": str(LEASE_SECONDS),
                "KK_FAULT_SECTION_SECONDS": "0.2",
                "KK_FAULT_ERASURE_SECONDS": "4",
                "KK_FAULT_MARK_DIR": str(self.marks),
                "KK_FAULT_MAIL_DIR": str(self.mail),
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        name = f"privfault-{os.getpid()}-{self.started}@localhost"
        log = (self.tmp / f"worker-{self.started}.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "tests.consent.fault_worker",
                "worker",
                "-P",
                "prefork",
                "-c",
                "1",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                name,
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(destination=[name], timeout=0.5):
                return
        raise RuntimeError("the Celery worker did not start")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def marks_of(self, kind: str) -> list[str]:
        return sorted(p.name for p in self.marks.glob(f"{kind}-*"))

    def mails(self) -> int:
        return sum(p.read_text(errors="replace").count("\nSubject: ") for p in self.mail.iterdir())


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    app.control.purge()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # queue to Redis: the worker does the work
    w = Workers(tmp_path)
    try:
        yield w
    finally:
        w.stop()
        app.conf.task_always_eager = eager
        app.control.purge()


def _member() -> tuple[Member, list[bytes]]:
    """A member whose name, phone and email appear nowhere else on this machine."""
    tag = uuid.uuid4().hex[:10]
    digits = str(uuid.uuid4().int)[:7]
    member = factories.member_with_user(
        email=f"fault-{tag}@example.se",
        first_name="Faultina",
        last_name=f"Kill{tag}",
        phone=f"+4670{digits}",
    )
    assert member.user is not None
    needles = [member.last_name, member.phone, member.user.email, member.card_token]
    return member, [n.encode() for n in needles]


def _texts(data: bytes) -> Iterator[bytes]:
    """The bytes of a file, and the inflated content of every ZIP entry in it, complete or
    cut off (a half-written archive has no central directory, so walk the local headers)."""
    yield data
    pos = data.find(b"PK\x03\x04")
    while pos != -1 and pos + 30 <= len(data):
        header = data[pos : pos + 30]
        method = int.from_bytes(header[8:10], "little")
        start = pos + 30 + int.from_bytes(header[26:28], "little")
        start += int.from_bytes(header[28:30], "little")
        if method == 8:
            with contextlib.suppress(zlib.error):
                yield zlib.decompressobj(-15).decompress(data[start:], 100_000_000)
        pos = data.find(b"PK\x03\x04", pos + 4)


def _files_holding(needles: list[bytes], *, skip: list[Path]) -> list[str]:
    """Every file under the temporary folder, PRIVATE_ROOT and MEDIA_ROOT holding a needle."""
    roots = {Path(tempfile.gettempdir()), Path(settings.PRIVATE_ROOT), Path(settings.MEDIA_ROOT)}
    hits = []
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            if any(Path(folder).is_relative_to(s) for s in skip):
                subfolders[:] = []
                continue
            for name in files:
                path = Path(folder) / name
                try:
                    if path.is_symlink() or not path.is_file() or path.stat().st_size > 50_000_000:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                if path in skip:
                    continue
                found = {n for text in _texts(data) for n in needles if n in text}
                hits += [f"{path}: {n.decode()}" for n in sorted(found)]
    return hits


def _wait(condition: Callable[[], object], timeout: float, what: str, beat: bool = False) -> float:
    """Wait for ``condition``; when ``beat``, send the beat task every BEAT_SECONDS."""
    started = time.monotonic()
    last_beat = 0.0
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        if beat and time.monotonic() - last_beat > BEAT_SECONDS:
            tasks.privacy_erasures_run_due.delay()
            last_beat = time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_export_build_killed_mid_way_is_built_once_by_the_next_worker(workers, tmp_path):
    member, needles = _member()
    workers.start()

    # when the member asks for an export and the worker is SIGKILLed a third of the way
    request = privacy_export_request(member=member, actor=None)
    scratch = export_scratch_root()
    _wait(
        lambda: PrivacyRequest.objects.get(pk=request.pk).progress >= 30,
        30,
        "the build to get a third of the way",
    )
    workers.kill()
    killed_at = time.monotonic()
    stuck = PrivacyRequest.objects.get(pk=request.pk)
    assert stuck.status == PrivacyRequest.Status.PROCESSING
    assert stuck.attempts == 1
    # the half-built archive (with the member in it) was left in the scratch folder
    assert _files_holding(needles, skip=[tmp_path]), "the kill left no partial archive"
    assert list(scratch.glob(f"export-{request.pk}-1/*"))

    # then the next worker builds it once, after the dead build's lease ran out
    workers.start()
    _wait(
        lambda: PrivacyRequest.objects.get(pk=request.pk).status == PrivacyRequest.Status.DONE,
        DEADLINE_SECONDS,
        "the export to be done",
        beat=True,
    )
    kill_to_done = time.monotonic() - killed_at
    _wait(lambda: workers.mails() >= 1, 15, "the export-ready email")
    time.sleep(2 * BEAT_SECONDS)  # room for a duplicate to show up
    # a repeated sweep finds nothing more to do
    tasks.privacy_erasures_run_due.delay()
    time.sleep(2 * BEAT_SECONDS)

    done = PrivacyRequest.objects.get(pk=request.pk)
    assert done.status == PrivacyRequest.Status.DONE
    assert done.attempts == 2
    assert done.progress == 100
    assert done.lease_until is None
    assert workers.mails() == 1
    assert ActivityEvent.objects.filter(member=member, kind=Kind.DATA_EXPORTED).count() == 1
    archives = sorted(p.name for p in (Path(settings.PRIVATE_ROOT) / "exports").iterdir())
    assert [a for a in archives if a.startswith(f"export-{request.pk}-")] == [
        done.file_name.removeprefix("exports/")
    ]
    # and no file but the finished archive holds the member: no scratch, no partial file
    assert not list(scratch.glob(f"export-{request.pk}-*"))
    finished = Path(settings.PRIVATE_ROOT) / done.file_name
    assert _files_holding(needles, skip=[tmp_path, finished]) == []
    print(
        f"export: killed at {stuck.progress} %, kill -> done {kill_to_done:.1f} s "
        f"(lease {LEASE_SECONDS} s, beat every {BEAT_SECONDS} s)"
    )


def test_erasure_killed_mid_way_is_carried_out_once_by_the_next_worker(workers, tmp_path):
    member, needles = _member()
    staff = factories.staff_user()
    erasure = privacy_erasure_request(
        member=member, actor=staff, origin=PrivacyRequest.Origin.STAFF
    )
    PrivacyRequest.objects.filter(pk=erasure.pk).update(
        scheduled_for=timezone.now() - datetime.timedelta(minutes=1)  # the grace period is over
    )
    # an export build of the member died earlier and left its half-made archive behind (its
    # lease still looks valid, so only the erasure may take it)
    export = PrivacyRequest.objects.create(
        member=member,
        kind=PrivacyRequest.Kind.EXPORT,
        status=PrivacyRequest.Status.PROCESSING,
        due_at=timezone.now(),
        scheduled_for=timezone.now(),
        attempts=1,
        lease_until=timezone.now() + datetime.timedelta(hours=1),
    )
    leftover = export_scratch_root() / f"export-{export.pk}-1"
    leftover.mkdir(parents=True)
    (leftover / "export.part").write_bytes(b"\n".join(needles))
    workers.start()

    # when beat runs the erasure and the worker is SIGKILLed inside its transaction
    tasks.privacy_erasures_run_due.delay()
    _wait(lambda: workers.marks_of("erasure"), 30, "the erasure to start")
    workers.kill()
    killed_at = time.monotonic()
    # the killed transaction rolled back: still scheduled (so beat takes it again), not erased
    assert PrivacyRequest.objects.get(pk=erasure.pk).status == PrivacyRequest.Status.SCHEDULED
    assert Member.objects.get(pk=member.pk).erased_at is None

    # then the next worker carries it out, once
    workers.start()
    _wait(
        lambda: PrivacyRequest.objects.get(pk=erasure.pk).status == PrivacyRequest.Status.DONE,
        DEADLINE_SECONDS,
        "the erasure to be done",
        beat=True,
    )
    kill_to_done = time.monotonic() - killed_at
    time.sleep(2 * BEAT_SECONDS)  # room for a duplicate to show up

    assert Member.objects.get(pk=member.pk).erased_at is not None
    assert ActivityEvent.objects.filter(member=member, kind=Kind.ERASED).count() == 1
    assert len(workers.marks_of("erasure")) == 2  # the killed run and the one that finished
    assert PrivacyRequest.objects.get(pk=export.pk).status == PrivacyRequest.Status.CANCELLED
    assert not leftover.exists()
    assert _files_holding(needles, skip=[tmp_path]) == []
    print(f"erasure: kill -> done {kill_to_done:.1f} s (beat every {BEAT_SECONDS} s)")
