"""The back-office import (issue 15, docs/import.md "In the back-office"): an administrator
uploads a file, the worker imports it with progress, the page shows the report; a dry run
first, then "Import for real"; a job interrupted by a dead worker can be run again."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members import import_jobs
from members.import_files import ImportReport
from members.import_jobs import (
    ImportJobError,
    import_job_create,
    import_job_run,
    import_jobs_purge,
    import_kind_register,
)
from members.models import ImportJob, Member
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;language"
)


def _file(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode("cp1252")


GOOD = "K-1;Åsa;Öberg;asa.oberg@example.se;070-123 45 67;1984-03-01;114 55;;2019-06-14;sv"
SECOND = "K-2;Jörgen;Lind;;0701112233;;411 03;;2021-11-02 14:05;en"
BAD = "K-3;Bo;Ek;not-an-email;;;;;2020-01-01;sv"


def _client(role: str | None = ADMINISTRATOR, **extra: Any) -> Client:
    client = Client()
    client.force_login(factories.staff_user(role=role, **extra))
    client.cookies["django_language"] = "en"
    return client


def _upload(client: Client, data: bytes, *, dry_run: bool = True, kind: str = "members") -> Any:
    form = {"kind": kind, "file": SimpleUploadedFile("medlemmar.csv", data)}
    if dry_run:
        form["dry_run"] = "on"
    return client.post(reverse("admin:members_importjob_add"), form)


def test_a_dry_run_then_import_for_real_from_the_back_office(django_capture_on_commit_callbacks):
    client = _client()
    # when an administrator uploads a file with two good lines and a bad one, as a dry run
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, _file(GOOD, SECOND, BAD))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_importjob_change", args=[job.pk])
    # then the worker checked it, wrote nothing, and the page shows the counts and the report
    job.refresh_from_db()
    assert (job.status, job.dry_run, job.summary) == (
        "done",
        True,
        "imported=2 unchanged=0 rejected=1",
    )
    assert Member.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert "What a real import would do" in page
    assert "line 4; email; &quot;not-an-email&quot;;" in page
    assert "Import for real" in page

    # when they import for real
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:members_importjob_again", args=[job.pk]), {"dry_run": "0"}
        )
    real = ImportJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == reverse("admin:members_importjob_change", args=[real.pk])
    # then the two good members are in, the report is kept, and the file is removed
    real.refresh_from_db()
    assert (real.status, real.dry_run, real.summary) == (
        "done",
        False,
        "imported=2 unchanged=0 rejected=1",
    )
    assert set(Member.objects.values_list("external_id", flat=True)) == {"K-1", "K-2"}
    assert real.file_path == ""
    assert ImportJob.objects.get(pk=job.pk).file_path == ""
    page = client.get(response["Location"]).content.decode()
    assert "What the import did" in page
    assert "Import for real" not in page


def test_the_report_is_in_the_uploaders_language(django_capture_on_commit_callbacks):
    client = _client()
    client.cookies["django_language"] = "sv"
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, _file(BAD))
    job = ImportJob.objects.get()
    assert job.language == "sv"
    assert job.report == ['rad 2; email; "not-an-email"; ' + job.report[0].split('"; ', 1)[1]]
    assert "e-post" in job.report[0].lower()


def test_progress_is_reported_after_each_batch_and_served_as_json(
    django_capture_on_commit_callbacks,
):
    seen: list[tuple[int, int, str]] = []

    def run(*, data: bytes, dry_run: bool, actor: Any, progress: Any) -> ImportReport:
        for done in (100, 200, 300):
            progress(done, 300)
            job = ImportJob.objects.get()
            seen.append((job.done, job.total, job.status))
        return ImportReport(dry_run=dry_run, imported=300)

    import_kind_register(
        code="test_progress", label="Test", run=run, permission="members.add_member", template=""
    )
    try:
        client = _client()
        job = import_job_create(
            kind="test_progress",
            file_name="x.csv",
            data=b"a\n1\n",
            dry_run=False,
            actor=None,
            language="en",
        )
        url = reverse("admin:members_importjob_progress", args=[job.pk])
        assert client.get(url).json() == {
            "status": "queued",
            "status_label": "Waiting for the worker",
            "done": 0,
            "total": 0,
            "finished": False,
            "stale": False,
        }
        assert import_job_run(job_id=job.pk)
        assert seen == [(100, 300, "running"), (200, 300, "running"), (300, 300, "running")]
        body = client.get(url).json()
        assert (body["status"], body["finished"], body["done"]) == ("done", True, 300)
        # a second delivery of the same task finds nothing to do
        assert not import_job_run(job_id=job.pk)
    finally:
        import_jobs._kinds.pop("test_progress")


def test_a_job_whose_worker_died_can_be_claimed_again_but_a_live_one_cannot(settings):
    settings.IMPORT_JOB_STALE_SECONDS = 600
    job = import_job_create(
        kind="members",
        file_name="m.csv",
        data=_file(GOOD),
        dry_run=False,
        actor=None,
        language="en",
    )
    now = timezone.now()
    # a worker is busy with it and reported a minute ago: nobody else takes it
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=now - datetime.timedelta(seconds=60)
    )
    assert not import_job_run(job_id=job.pk)
    assert Member.objects.count() == 0
    # its worker died eleven minutes ago: the page says so, and the job runs again
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=now - datetime.timedelta(seconds=660))
    job.refresh_from_db()
    assert import_jobs.import_job_is_stale(job)
    assert import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.summary) == ("done", "imported=1 unchanged=0 rejected=0")


def test_run_again_after_an_interruption_writes_only_what_was_missing(
    django_capture_on_commit_callbacks,
):
    client = _client()
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, _file(GOOD, SECOND), dry_run=False)
    job = ImportJob.objects.get()
    # pretend the worker died after the first run wrote everything but before it finished
    ImportJob.objects.filter(pk=job.pk).update(
        status="running",
        heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
        file_path=storages["private"].save(
            "imports/again.csv", SimpleUploadedFile("a", _file(GOOD, SECOND))
        ),
    )
    page = client.get(reverse("admin:members_importjob_change", args=[job.pk])).content.decode()
    assert "interrupted" in page
    assert "Run again" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:members_importjob_again", args=[job.pk]), {"dry_run": "0"})
    again = ImportJob.objects.latest("pk")
    assert again.summary == "imported=0 unchanged=2 rejected=0"
    assert Member.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"   \r\n", "The file is empty."),
    ],
)
def test_an_empty_file_is_refused_and_nothing_is_kept(data, message):
    client = _client()
    response = _upload(client, data)
    assert response.status_code == 200
    assert (
        message in response.content.decode()
        or "The submitted file is empty." in response.content.decode()
    )
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_refused_with_the_limit_named(settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 2_000_000
    response = _upload(_client(), _file(GOOD) + b"x" * 2_000_001)
    assert "larger than 2 MB" in response.content.decode()
    assert not ImportJob.objects.exists()
    with pytest.raises(ImportJobError):
        import_job_create(
            kind="nope", file_name="a", data=b"a", dry_run=True, actor=None, language="en"
        )


def test_a_file_that_went_missing_fails_the_job_with_a_reason():
    job = import_job_create(
        kind="members",
        file_name="m.csv",
        data=_file(GOOD),
        dry_run=True,
        actor=None,
        language="en",
    )
    storages["private"].delete(job.file_path)
    assert import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error
    assert Member.objects.count() == 0


@pytest.mark.parametrize("role", [STORE_STAFF, MARKETER, DATA_PROTECTION_OFFICER])
def test_only_administrators_upload_or_read_imports(role):
    job = import_job_create(
        kind="members",
        file_name="m.csv",
        data=_file(GOOD),
        dry_run=True,
        actor=None,
        language="en",
    )
    client = _client(role)
    assert client.get(reverse("admin:members_importjob_add")).status_code == 403
    assert _upload(client, _file(GOOD)).status_code == 403
    assert client.get(reverse("admin:members_importjob_change", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:members_importjob_progress", args=[job.pk])).status_code == 403
    assert (
        client.post(
            reverse("admin:members_importjob_again", args=[job.pk]), {"dry_run": "0"}
        ).status_code
        == 403
    )
    assert ImportJob.objects.count() == 1


def test_retention_deletes_old_jobs_and_their_files(settings):
    settings.IMPORT_JOB_RETENTION_DAYS = 30
    old = import_job_create(
        kind="members",
        file_name="old.csv",
        data=_file(GOOD),
        dry_run=True,
        actor=None,
        language="en",
    )
    new = import_job_create(
        kind="members",
        file_name="new.csv",
        data=_file(GOOD),
        dry_run=True,
        actor=None,
        language="en",
    )
    ImportJob.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    assert import_jobs_purge(timezone.now()) == 1
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [new.pk]
    assert not storages["private"].exists(old.file_path)
    assert storages["private"].exists(new.file_path)


def test_opening_balances_are_uploaded_the_same_way(django_capture_on_commit_callbacks):
    member = factories.member_with_user()
    Member.objects.filter(pk=member.pk).update(external_id="K-9")
    client = _client()
    page = client.get(reverse("admin:members_importjob_add")).content.decode()
    assert "Opening points balances" in page
    assert "/static/import/balances.csv" in page
    data = "external_id;points;earned_at\r\nK-9;250;" + timezone.localdate().isoformat() + "\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, data.encode(), kind="balances", dry_run=False)
    job = ImportJob.objects.get()
    assert job.summary == "imported=1 unchanged=0 rejected=0", job.report
    from rewards.selectors import balance_get

    assert balance_get(member=member)["posted"] + balance_get(member=member)["pending"] == 250


def test_historical_purchases_are_uploaded_with_or_without_points(
    django_capture_on_commit_callbacks,
):
    from rewards.models import Purchase
    from rewards.selectors import balance_get

    shop = factories.store(code="sthlm-1")
    member = factories.member_with_user()
    Member.objects.filter(pk=member.pk).update(external_id="K-7")
    header = "purchase_id;external_id;membership_number;store;purchased_at;total;sku;product;"
    header += "category;quantity;amount"
    rows = [
        "P-1;K-7;;sthlm-1;2026-03-01 14:05;1 348,00;100;Löparsko;skor;1;1 099,00",
        "P-1;K-7;;sthlm-1;2026-03-01 14:05;1 348,00;200;Strumpor;strumpor;1;249,00",
        "P-2;K-7;;sthlm-1;2026-03-02;100,00;300;Keps;kepsar;1;100,00",
    ]
    data = ("\r\n".join([header, *rows]) + "\r\n").encode()
    client = _client()
    page = client.get(reverse("admin:members_importjob_add")).content.decode()
    assert "Historical purchases (no points)" in page
    assert "/static/import/purchases.csv" in page

    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, data, kind="purchases", dry_run=False)
    job = ImportJob.objects.get()
    assert job.summary == "imported=2 unchanged=0 rejected=0 lines=3", job.report
    assert Purchase.objects.filter(store=shop, member=member).count() == 2
    assert balance_get(member=member)["pending"] + balance_get(member=member)["posted"] == 0

    # the same file again with points: nothing new is written (the purchases are there)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, data, kind="purchases_earn", dry_run=False)
    again = ImportJob.objects.latest("pk")
    assert again.summary.startswith("imported=0 unchanged=2 rejected=0"), again.report
