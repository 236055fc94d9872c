"""Edits to a campaign are for drafts only, even when the editor holds a stale copy."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from campaigns.authoring import campaign_launch, campaign_save, variant_delete, variant_save
from campaigns.errors import CampaignStateError
from campaigns.models import Campaign, Variant
from tests.factories import campaigns as cf

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 3, 11, 11, tzinfo=datetime.UTC)


@pytest.fixture
def launched_with_stale_copy(django_capture_on_commit_callbacks):
    """A far-future campaign launched in one tab while another tab still shows the draft."""
    campaign = cf.campaign(channels=["email"], send_at=NOON + datetime.timedelta(days=1))
    stale = Campaign.objects.get(pk=campaign.pk)
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign, actor=None)
    return stale


def test_campaign_save_stale_draft_after_launch_is_refused_and_keeps_status(
    launched_with_stale_copy,
):
    stale = launched_with_stale_copy
    assert stale.status == Campaign.Status.DRAFT  # what the second tab believes

    with pytest.raises(CampaignStateError):
        campaign_save(campaign=stale, name="Renamed too late")

    fresh = Campaign.objects.get(pk=stale.pk)
    assert fresh.status == Campaign.Status.SCHEDULED
    assert fresh.name != "Renamed too late"


def test_variant_save_and_delete_on_stale_draft_after_launch_are_refused(
    launched_with_stale_copy,
):
    stale = launched_with_stale_copy
    variants_before = list(Variant.objects.filter(campaign=stale).values_list("pk", flat=True))

    with pytest.raises(CampaignStateError):
        variant_save(campaign=stale, code="Z", weight=0)
    with pytest.raises(CampaignStateError):
        variant_delete(campaign=stale, variant_id=variants_before[0])

    assert list(Variant.objects.filter(campaign=stale).values_list("pk", flat=True)) == (
        variants_before
    )


def test_campaign_save_draft_changes_only_the_edited_fields():
    campaign = cf.campaign(channels=["email"])

    saved = campaign_save(campaign=campaign, name="Vårkampanj")

    fresh = Campaign.objects.get(pk=campaign.pk)
    assert (saved.name, fresh.name, fresh.status) == ("Vårkampanj", "Vårkampanj", "draft")
