from __future__ import annotations

import pytest

from campaigns.authoring import campaign_launch
from campaigns.models import Delivery, ProviderCall
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

pytestmark = pytest.mark.django_db


def test_campaign_launch_sends_to_consenting_members(django_capture_on_commit_callbacks) -> None:
    members = [factories.member_with_user() for _ in range(5)]
    for m in members[:3]:
        consent_f.granted(m, "marketing_email")
    campaign = cf.campaign(segment_obj=cf.segment({}), channels=["test"])
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign, actor=None)
    rows = dict(Delivery.objects.filter(campaign=campaign).values_list("member_id", "status"))
    assert sorted(rows.values()) == ["sent"] * 3 + ["suppressed"] * 2
    assert ProviderCall.objects.count() == 3
    campaign.refresh_from_db()
    assert campaign.status == "done"
