"""Consents in the member import (consent.imports, the step consent registers into
members.imports; docs/import.md "Consents"): recorded as imported with their original date
and source, under the policy version in force then; a consent from before the club's first
policy version is not recorded, so the member gets no marketing for it; a bad consent value
rejects its line. Also the import's duplicate hook and a re-import of a merged member."""

from __future__ import annotations

import codecs
import datetime
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import translation

from campaigns.authoring import campaign_launch
from campaigns.models import Delivery
from consent.models import ConsentEvent, ConsentState
from consent.selectors import contact_permission
from members import imports
from members.imports import members_import
from members.models import ActivityEvent, Member
from tests.factories import campaigns as cf

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)  # a Monday
HEADER = [
    "external_id",
    "first_name",
    "last_name",
    "email",
    "consent_marketing_email",
    "consent_marketing_email_at",
    "consent_marketing_email_source",
    "consent_marketing_sms",
    "consent_marketing_sms_at",
]
ROWS = [
    # line 2: email consent from the web in 2021, a "nej" to SMS
    ["K-1", "Åsa", "Öberg", "asa@example.se", "ja", "2021-05-01 14:05", "webbformulär", "nej", ""],
    # line 3: given in 2018, before the club's first policy version (2020-01-01): not recorded
    ["K-2", "Bo", "Ek", "bo@example.se", "JA", "2018-05-01", "pappersblankett", "", ""],
    # line 4: an answer that is neither yes nor no
    ["K-3", "Cia", "Berg", "", "kanske", "2021-01-01", "", "", ""],
    # line 5: a yes without its date
    ["K-4", "Dan", "Ås", "", "", "", "", "yes", ""],
    # line 6: a date in the future
    ["K-5", "Eva", "Ek", "", "1", "2027-01-01", "", "", ""],
    # line 7: no consent columns filled
    ["K-6", "Fia", "Lind", "fia@example.se", "", "", "", "", ""],
]
REPORT = [
    'line 3; consent_marketing_email; "JA"; Not recorded: no policy version of the club was '
    "in force on 2018-05-01, so the member never read what this purpose means here. The "
    "member is imported without this consent and gets no messages for it until they consent "
    "here.",
    'line 4; consent_marketing_email; "kanske"; Write ja or nej (yes or no).',
    'line 5; consent_marketing_sms_at; ""; The date the consent was given is missing; a '
    "consent needs its original date.",
    'line 6; consent_marketing_email_at; "2027-01-01"; The consent\'s date is in the future.',
]


def _file(rows: list[list[str]], *, header: list[str] | None = None) -> bytes:
    text = "\r\n".join(";".join(row) for row in [header or HEADER, *rows])
    return codecs.BOM_UTF8 + (text + "\r\n").encode()


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Any:
    def _run(fn: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


def _member(external_id: str) -> Member:
    return Member.objects.get(external_id=external_id)


def test_consents_come_with_their_original_date_and_source(english):
    report = members_import(data=_file(ROWS), dry_run=False)

    assert report.lines() == REPORT
    assert report.summary == "imported=3 unchanged=0 rejected=3"
    asa = _member("K-1")
    event = ConsentEvent.objects.get(member=asa)
    assert (event.purpose.code, event.channel, event.granted) == ("marketing_email", "email", True)
    assert event.source == ConsentEvent.Source.IMPORT
    assert event.created_at == datetime.datetime(2021, 5, 1, 14, 5, tzinfo=STOCKHOLM)
    assert event.policy_version.version == "2026-1"  # in force since 2020-01-01
    assert not hasattr(event, "proof") or event.proof is None  # no web proof: imported
    state = ConsentState.objects.get(member=asa)
    assert (state.granted, state.event_id, state.changed_at) == (True, event.pk, event.created_at)
    timeline = ActivityEvent.objects.get(member=asa, kind="consent_granted")
    assert timeline.source == "import"
    assert timeline.created_at == event.created_at
    assert timeline.data == {
        "purpose": "marketing_email",
        "channel": "email",
        "consent_event_id": event.pk,
        "imported_source": "webbformulär",
    }
    # The "nej" and the consent from before any policy version wrote nothing.
    assert ConsentEvent.objects.count() == 1
    assert not ConsentEvent.objects.filter(member=_member("K-2")).exists()
    assert contact_permission(member=asa, purpose="marketing_email", channel="email").reason == "ok"
    assert (
        contact_permission(member=asa, purpose="marketing_sms", channel="sms").reason
        == "no_consent"
    )
    assert (
        contact_permission(member=_member("K-2"), purpose="marketing_email", channel="email").reason
        == "no_consent"
    )


def test_an_imported_consent_that_is_not_valid_here_is_not_sent_to(run, english):
    """Bo's consent predates the club's policy: his import leaves him without one, and a
    campaign to everyone sends to Åsa (a valid imported consent) and not to Bo or Fia."""
    members_import(data=_file(ROWS), dry_run=False)
    campaign = cf.campaign(channels=["email"])

    run(campaign_launch, campaign=campaign, actor=None)

    status = {
        m: (s, r)
        for m, s, r in Delivery.objects.filter(campaign=campaign).values_list(
            "member__external_id", "status", "reason"
        )
    }
    assert status["K-1"] == ("sent", "")
    assert status["K-2"] == ("suppressed", "no_consent")
    assert status["K-6"] == ("suppressed", "no_consent")
    assert [message.to for message in mail.outbox] == [["asa@example.se"]]


def test_a_second_run_writes_no_consent_and_a_dry_run_none_at_all(english):
    dry = members_import(data=_file(ROWS), dry_run=True)
    assert (ConsentEvent.objects.count(), Member.objects.count()) == (0, 0)
    assert dry.lines() == REPORT

    members_import(data=_file(ROWS), dry_run=False)
    counts = (ConsentEvent.objects.count(), ConsentState.objects.count())
    again = members_import(data=_file(ROWS), dry_run=False)

    assert again.summary == "imported=0 unchanged=3 rejected=3"
    assert (ConsentEvent.objects.count(), ConsentState.objects.count()) == counts


def test_consent_columns_are_the_club_s_purposes(english):
    """A purpose that does not rest on consent has no columns: its column is unknown."""
    header = ["external_id", "first_name", "last_name", "consent_membership"]

    report = members_import(
        data=_file([["K-1", "Åsa", "Öberg", "ja"]], header=header), dry_run=False
    )

    assert report.lines() == [
        'line 1; consent_membership; ""; Unknown column: its values are not imported.'
    ]
    assert report.summary == "imported=1 unchanged=0 rejected=0"


def test_the_new_members_are_handed_to_the_duplicate_finder_after_each_batch(english, monkeypatch):
    handed: list[list[int]] = []
    monkeypatch.setattr(
        imports, "duplicates_find_later", lambda *, member_ids: handed.append(list(member_ids))
    )

    members_import(data=_file(ROWS), dry_run=False, batch_size=2)

    written = sorted(
        Member.objects.filter(external_id__in=["K-1", "K-2", "K-6"]).values_list("pk", flat=True)
    )
    assert [len(ids) for ids in handed] == [2, 1]
    assert sorted(pk for ids in handed for pk in ids) == written
    members_import(data=_file(ROWS), dry_run=False)  # nothing new: nothing handed
    assert [len(ids) for ids in handed] == [2, 1]


def test_a_merged_member_s_old_id_reimported_changes_neither_the_tombstone_nor_the_survivor(
    english,
):
    members_import(data=_file(ROWS), dry_run=False)
    survivor, merged = _member("K-1"), _member("K-6")
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)
    before = {
        m.pk: (m.first_name, m.last_name, m.merged_into_id, m.erased_at)
        for m in Member.objects.filter(pk__in=[survivor.pk, merged.pk])
    }
    events = ConsentEvent.objects.count()
    changed = [row[:] for row in ROWS]
    changed[5][1:3] = ["Fiona", "Lindqvist"]
    changed[5][4:6] = ["ja", "2021-01-01"]

    report = members_import(data=_file(changed), dry_run=False)

    assert report.summary == "imported=0 unchanged=3 rejected=3"
    after = {
        m.pk: (m.first_name, m.last_name, m.merged_into_id, m.erased_at)
        for m in Member.objects.filter(pk__in=[survivor.pk, merged.pk])
    }
    assert after == before
    assert Member.objects.filter(external_id="K-6").count() == 1  # not brought back as new
    assert ConsentEvent.objects.count() == events
