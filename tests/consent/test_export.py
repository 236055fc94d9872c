"""Export (Art. 15, 20): a ZIP with every registered personal-data field, as JSON and CSV."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.test import override_settings

from consent.models import PrivacyRequest
from consent.processing_register import register_entries
from consent.selectors import private_storage
from consent.services.export import privacy_export_build, privacy_export_open
from consent.services.retention import privacy_retention_run
from tests import factories
from tests.factories import consent as cf
from tests.factories.consent import member_with_data_everywhere

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]


@pytest.fixture
def rich_member(store, django_capture_on_commit_callbacks):
    return member_with_data_everywhere(store, django_capture_on_commit_callbacks)


def _build(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = cf.export_requested(member)
    request.refresh_from_db()
    return request


def _open(request):
    return zipfile.ZipFile(privacy_export_open(request))


def test_privacy_export_contains_every_registered_personal_field(
    rich_member, django_capture_on_commit_callbacks
):
    # When the member's export is built (the task runs eagerly after commit)
    request = _build(rich_member, django_capture_on_commit_callbacks)

    # Then it is done, and every personal-data field of the register is in it with a value
    assert request.status == "done"
    assert request.progress == 100
    archive = _open(request)
    manifest = json.loads(archive.read("manifest.json"))
    declared: dict[str, set[str]] = {}
    by_model: dict[str, list[dict]] = {}
    for section in manifest["sections"]:
        rows = json.loads(archive.read(f"{section['name']}.json"))
        assert len(rows) == section["rows"]
        if section["model"]:
            declared.setdefault(section["model"], set()).update(section["fields"])
            by_model.setdefault(section["model"], []).extend(rows)
    not_exported, not_seeded = [], []
    for entry in register_entries():
        label = entry.model._meta.label
        if entry.field_name not in declared.get(label, set()):
            not_exported.append(entry.key)  # no export section carries this model's field
        elif all(row.get(entry.field_name) in (None, "", [], {}) for row in by_model[label]):
            not_seeded.append(entry.key)  # exported, but this test's member has no value
    assert not_exported == [], f"personal fields no export section carries: {not_exported}"
    assert not_seeded == [], (
        f"personal fields without a value for the seeded member: {not_seeded} "
        "(add rows in tests/factories/consent.py::member_with_data_everywhere)"
    )


def test_privacy_export_every_section_is_valid_json_and_csv(
    rich_member, django_capture_on_commit_callbacks
):
    request = _build(rich_member, django_capture_on_commit_callbacks)
    archive = _open(request)
    manifest = json.loads(archive.read("manifest.json"))

    for section in manifest["sections"]:
        rows = json.loads(archive.read(f"{section['name']}.json"))
        table = list(csv.DictReader(io.StringIO(archive.read(f"{section['name']}.csv").decode())))
        assert len(table) == len(rows), section["name"]
        for row, line in zip(rows, table, strict=True):
            assert set(row) <= set(line)
    profile = json.loads(archive.read("profile.json"))[0]
    assert profile["first_name"] == "Karin"
    assert profile["phone"] == "+46701112233"
    assert profile["birth_date"] == "1980-05-17"
    login = json.loads(archive.read("login.json"))[0]
    assert login["email"] == "karin.export@example.se"
    assert "md5" not in json.dumps(login)  # the password hash never leaves


def test_privacy_export_emails_the_member_when_ready(
    rich_member, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    _build(rich_member, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["karin.export@example.se"]
    assert "/mina-sidor/mina-data/" in mail.outbox[0].body


@pytest.mark.parametrize("site_url", ["http://127.0.0.1:8123", "http://127.0.0.1:8123/"])
def test_privacy_export_email_links_to_the_site_url(
    member, django_capture_on_commit_callbacks, site_url
):
    # Given the club served on another address than the default
    mail.outbox.clear()

    # When the export is ready
    with override_settings(SITE_URL=site_url):
        _build(member, django_capture_on_commit_callbacks)

    # Then the mail links to that address
    [message] = mail.outbox
    assert "http://127.0.0.1:8123/mina-sidor/mina-data/" in message.body
    assert re.findall(r"https?://\S+", message.body) == [
        "http://127.0.0.1:8123/mina-sidor/mina-data/"
    ]


def test_privacy_export_build_is_idempotent(rich_member, django_capture_on_commit_callbacks):
    request = _build(rich_member, django_capture_on_commit_callbacks)

    assert privacy_export_build(request_id=request.pk) is None  # a redelivered task does nothing


def test_privacy_export_request_twice_while_running_queues_one(member):
    first = cf.export_requested(member)
    second = cf.export_requested(member)

    assert first.pk == second.pk
    assert PrivacyRequest.objects.filter(member=member, kind="export").count() == 1


def test_export_download_needs_login_and_ownership(
    client, rich_member, django_capture_on_commit_callbacks
):
    request = _build(rich_member, django_capture_on_commit_callbacks)
    url = f"/mina-sidor/mina-data/export/{request.pk}/ladda-ner/"

    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert "/konto/login/" in anonymous["Location"]

    client.force_login(factories.member_with_user().user)
    assert client.get(url).status_code == 404

    client.force_login(rich_member.user)
    own = client.get(url)
    assert own.status_code == 200
    assert own["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(b"".join(own.streaming_content))).testzip() is None


def test_export_download_expires_after_seven_days(
    client, rich_member, django_capture_on_commit_callbacks
):
    request = _build(rich_member, django_capture_on_commit_callbacks)
    stored_name = request.file_name
    url = f"/mina-sidor/mina-data/export/{request.pk}/ladda-ner/"
    client.force_login(rich_member.user)

    with time_machine.travel(request.completed_at + datetime.timedelta(days=6, hours=23)):
        assert client.get(url).status_code == 200
    with time_machine.travel(request.completed_at + datetime.timedelta(days=7, minutes=1)):
        assert client.get(url).status_code == 404
        privacy_retention_run()

    request.refresh_from_db()
    assert request.status == "expired"
    assert not private_storage().exists(stored_name)


def test_export_file_is_not_under_a_public_url(
    rich_member, django_capture_on_commit_callbacks, settings
):
    request = _build(rich_member, django_capture_on_commit_callbacks)
    path = Path(private_storage().path(request.file_name))

    assert path.exists()
    assert not path.is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert not path.is_relative_to(Path(settings.STATIC_ROOT).resolve())
    assert len(path.name) > 40  # unguessable name


def test_export_status_shows_progress(client, member):
    client.force_login(member.user)
    cf.export_requested(member)  # queued: the task runs after commit, which never comes here

    status = client.get("/mina-sidor/mina-data/export/status/").json()
    page = client.get("/mina-sidor/mina-data/").content.decode()

    assert status == {"status": "queued", "progress": 0}
    assert "<progress" in page


def test_privacy_exports_sweep_resends_a_lost_export(member, django_capture_on_commit_callbacks):
    # Given an export whose task never ran (the broker lost it)
    request = cf.export_requested(member)  # on-commit never fires in this test transaction

    # When the beat sweep runs ten minutes later
    from consent.services.requests import privacy_requests_run_due

    with time_machine.travel(request.requested_at + datetime.timedelta(minutes=11)):
        counts = privacy_requests_run_due()

    # Then the export is built (eager Celery in tests)
    request.refresh_from_db()
    assert counts["exports_resent"] == 1
    assert request.status == "done"


def test_privacy_export_build_cancelled_by_erasure_leaves_no_file(member, monkeypatch):
    # Given an export being built when the member's erasure runs
    from consent import export as export_module
    from consent.services.erasure import member_anonymise

    request = cf.export_requested(member)
    real_build = export_module.export_build
    written = []

    def build_then_erase(*, member, path, progress):
        real_build(member=member, path=path, progress=progress)
        written.append(path)
        member_anonymise(member_id=member.pk)

    monkeypatch.setattr(export_module, "export_build", build_then_erase)

    # When the build finishes after the erasure
    assert privacy_export_build(request_id=request.pk) is None

    # Then no export of the erased member remains
    request.refresh_from_db()
    assert request.status == "cancelled"
    assert not written[0].exists()
