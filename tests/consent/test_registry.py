"""The privacy registries: how rewards and campaigns add to export, erasure and "my data"."""

from __future__ import annotations

import datetime
import json
import zipfile

import pytest
import time_machine

from consent import privacy_parts
from consent.services.erasure import member_anonymise
from consent.services.export import privacy_export_open
from consent.services.retention import privacy_retention_run
from tests.factories import consent as cf

pytestmark = pytest.mark.django_db


@pytest.fixture
def clean_registry(monkeypatch):
    """Register test parts without leaking them into other tests."""
    for name in ("_export", "_erasure", "_page", "_retention"):
        monkeypatch.setattr(privacy_parts, name, dict(getattr(privacy_parts, name)))


def test_every_app_privacy_module_is_discovered():
    names = {s.name for s in privacy_parts.export_sections()}
    # consent's own (members' data included) and rewards' sections
    assert {"profile", "login", "consent_history", "timeline"} <= names
    assert {"purchases", "points_ledger"} <= names
    assert {s.name for s in privacy_parts.erasure_steps()} >= {"consent", "members"}
    assert {s.name for s in privacy_parts.page_sections()} >= {"profile", "partner_shares"}


def test_export_section_register_adds_a_file_to_the_export(
    clean_registry, member, django_capture_on_commit_callbacks
):
    privacy_parts.export_section_register(
        name="test_messages", title="Messages", rows=lambda m: [{"subject": f"Hi {m.pk}"}]
    )

    with django_capture_on_commit_callbacks(execute=True):
        request = cf.export_requested(member)
    request.refresh_from_db()

    archive = zipfile.ZipFile(privacy_export_open(request))
    assert json.loads(archive.read("test_messages.json")) == [{"subject": f"Hi {member.pk}"}]
    assert archive.read("test_messages.csv").decode().splitlines()[0] == "subject"


def test_erasure_step_register_runs_inside_the_erasure(clean_registry, member):
    seen = []
    privacy_parts.erasure_step_register(name="test_step", run=lambda m: seen.append(m.pk))

    member_anonymise(member_id=member.pk)
    member_anonymise(member_id=member.pk)

    assert seen == [member.pk, member.pk]  # steps must be idempotent: they run every time


def test_page_section_register_adds_a_section_to_my_data(clean_registry, client, member):
    privacy_parts.page_section_register(
        name="test_segments",
        title="Your segments",
        columns=["Segment"],
        rows=lambda m: [{"segment": "Runners in Stockholm"}],
    )
    client.force_login(member.user)

    html = client.get("/mina-sidor/mina-data/").content.decode()

    assert "Runners in Stockholm" in html
    assert html.count("Your segments") == 1


def test_retention_job_register_runs_nightly(clean_registry):
    calls = []
    privacy_parts.retention_job_register(name="test_purged", run=lambda now: calls.append(now) or 3)
    now = datetime.datetime(2026, 3, 1, 3, 30, tzinfo=datetime.UTC)

    with time_machine.travel(now, tick=False):
        counts = privacy_retention_run()

    assert counts["test_purged"] == 3
    assert calls == [now]


def test_my_data_and_preferences_query_counts_do_not_grow(
    client, member, django_assert_max_num_queries
):
    client.force_login(member.user)
    cf.member_with_everything(member)
    for _ in range(5):
        cf.withdrawn(member, "profiling")
        cf.granted(member, "profiling")

    # 13: one more than before for campaigns' "What we recommend and why" section.
    with django_assert_max_num_queries(13):
        assert client.get("/mina-sidor/mina-data/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/mina-sidor/installningar/").status_code == 200
