"""Back-office for the catalogue: code pool upload with its report, voucher lookup by the
printed code, cancellation, liability, and every loyalty list page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rewards.models import PartnerCode, PointBalance, Reward
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(factories.staff_user(superuser=True))
    return client


def test_partner_codes_upload_shows_the_report(admin_client):
    reward = rf.reward(kind=Reward.Kind.PARTNER, points_cost=100)
    upload = SimpleUploadedFile("bio.csv", b"code\nBIO-1\nBIO-2\nBIO-1\nbad code\n")
    response = admin_client.post(f"/admin/rewards/reward/{reward.pk}/codes/", {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Added: 2. Duplicates skipped: 1." in page
    assert "Line 5: bad code" in page
    assert PartnerCode.objects.filter(reward=reward).count() == 2


def test_voucher_lookup_by_printed_code_and_cancel_action(admin_client, member):
    rf.earned(member, 500)
    voucher = rf.claim(member, rf.reward(points_cost=300, amount_off_ore=5000))
    other = rf.claim(member, rf.reward(points_cost=100))

    # when staff search with the code as printed (lower case, dashes)
    page = admin_client.get(
        "/admin/rewards/voucher/", {"q": voucher.formatted_code.lower()}
    ).content.decode()

    # then only that voucher is listed, and the liability shows both vouchers
    assert voucher.code in page
    assert other.code not in page
    assert "Vouchers outstanding" in page

    # when they cancel it, then the points are back
    admin_client.post(
        "/admin/rewards/voucher/", {"action": "cancel_vouchers", "_selected_action": [voucher.pk]}
    )
    assert PointBalance.objects.get(member=member).available == 400


@pytest.mark.parametrize(
    "url",
    [
        "/admin/rewards/reward/",
        "/admin/rewards/reward/add/",
        "/admin/rewards/tierchange/",
        "/admin/rewards/benefit/",
        "/admin/rewards/benefitchoice/",
        "/admin/rewards/waitlistentry/",
        "/admin/rewards/challenge/",
        "/admin/rewards/challengeprogress/",
        "/admin/rewards/badge/",
        "/admin/rewards/memberbadge/",
        "/admin/rewards/referral/",
        "/admin/rewards/review/",
        "/admin/rewards/review/?status=all",
    ],
)
def test_loyalty_admin_pages_open(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_invitation_change_page_lists_tickets_and_attendance(admin_client, member, store):
    from rewards.loyalty import catalogue

    invitation = rf.reward(kind=Reward.Kind.INVITATION, points_cost=0, stock=10)
    ticket = rf.claim(member, invitation)
    catalogue.voucher_redeem(code=ticket.code, store=store, idempotency_key="door")
    page = admin_client.get(f"/admin/rewards/reward/{invitation.pk}/change/").content.decode()
    assert ticket.code in page
    assert member.membership_number in page or str(member) in page
