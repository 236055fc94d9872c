"""Mina data's "Shared with partners" read compiled once per process (consent.privacy,
docs/benchmarks.md "Member pages"): the same sentences as consent.webhooks.shares makes, in
either language, with as many groups, and the shares module's own read for a member with
more shares than the compiled read holds."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from consent import privacy
from consent.models import PartnerShare, Purpose
from consent.webhooks import shares
from tests import factories

pytestmark = pytest.mark.django_db


def share(member: Any, days: int, **fields: Any) -> PartnerShare:
    return PartnerShare.objects.create(
        member=member,
        purpose=Purpose.objects.get(code="partner_sportresor"),
        shared_at=timezone.now() - datetime.timedelta(days=days, minutes=len(fields)),
        **fields,
    )


@pytest.fixture
def shared(member: Any) -> Any:
    other = factories.member_with_user(email="bo@example.se")
    share(other, 1, recipient="Webbutiken", data_categories=["points"])
    for days in (1, 1, 2, 5):
        share(
            member,
            days,
            recipient="Webbutiken",
            data_categories=["membership_number", "points"] if days > 1 else ["points"],
            reason_sv="visa dina poäng i kassan",
            reason_en="show your points at the till",
        )
    share(member, 1, recipient="Kassan", data_categories=["tier", "purchases"])
    share(member, 3, data_categories=["name", "email"], reference="SR-4711")
    return member


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_compiled_read_says_what_the_shares_module_says(shared: Any, language: str) -> None:
    with translation.override(language):
        expected = shares.partner_share_rows(shared)
        with CaptureQueriesContext(connection) as queries:
            got = privacy._partner_rows(shared)
    assert got == expected
    assert len(got) == 5  # three days with Webbutiken, the till, the partner
    assert len(queries) == 1


def test_as_many_groups_as_shown(shared: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(shares, "SHOWN_GROUPS", 2)
    monkeypatch.setattr(privacy, "SHOWN_GROUPS", 2)
    assert privacy._partner_rows(shared) == shares.partner_share_rows(shared)
    assert len(privacy._partner_rows(shared)) == 2


def test_more_shares_than_the_compiled_read_holds_are_all_read(
    shared: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(privacy, "_SHARES_FIRST", 3)
    called = []

    def read_all(member: Any) -> list[dict[str, str]]:
        called.append(member)
        return shares.partner_share_rows(member)

    monkeypatch.setattr(privacy, "partner_share_rows", read_all)
    assert privacy._partner_rows(shared) == shares.partner_share_rows(shared)
    assert called == [shared]


def test_no_shares_no_rows(member: Any) -> None:
    assert privacy._partner_rows(member) == []
