"""The groups a member is in on "my data" (campaigns.privacy): criteria segments tested for the
member with one statement that is built once per process and minute."""

from __future__ import annotations

import pytest

from campaigns import privacy
from campaigns.models import Segment
from tests import factories
from tests.factories import campaigns as cf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_statements():
    privacy._TESTS.clear()
    yield
    privacy._TESTS.clear()


def _names(member) -> list[str]:
    return [segment.name for segment in privacy.segments_of(member)]


def test_each_member_gets_their_own_answer_from_the_shared_statement(member):
    other = factories.member_with_user(email="bo@example.se", preferred_language="en")
    cf.segment({"field": "language", "value": ["sv"]}, name="Svensktalande")
    cf.segment({"field": "language", "value": ["en"]}, name="Engelsktalande")
    cf.segment({}, name="Alla")  # no criteria: everyone, never listed

    assert _names(member) == ["Svensktalande"]
    assert _names(other) == ["Engelsktalande"]
    assert len(privacy._TESTS) == 1  # one statement, two members


def test_edited_criteria_apply_at_once(member):
    segment = cf.segment({"field": "language", "value": ["en"]}, name="Grupp")
    assert _names(member) == []
    Segment.objects.filter(pk=segment.pk).update(criteria={"field": "language", "value": ["sv"]})
    assert _names(member) == ["Grupp"]


def test_broken_criteria_do_not_break_the_page(member):
    cf.segment({"field": "language", "value": ["sv"]}, name="Svensktalande")
    broken = cf.segment({"field": "language", "value": ["sv"]}, name="Trasig")
    Segment.objects.filter(pk=broken.pk).update(criteria={"field": "no-such-field"})
    assert _names(member) == ["Svensktalande"]


def test_static_lists_are_listed_with_their_date(member):
    from campaigns.models import SegmentMember

    static = Segment.objects.create(name="Lista", kind=Segment.Kind.STATIC)
    SegmentMember.objects.create(segment=static, member=member)
    rows = privacy._segment_rows(member)
    assert [row["group"] for row in rows] == ["Lista"]
    assert rows[0]["since"] != "—"
