"""The duplicate review queue in a real browser, in Swedish (issue 15, docs/duplicates.md): a
data protection officer opens the queue, opens the pair the sign-up hook proposed, merges
the till membership into the online one, and lands on the survivor's record with the
message saying so."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from members.models import DuplicateCandidate, Member, MemberMerge
from members.roles import DATA_PROTECTION_OFFICER
from members.services import member_create
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}
BIRTH = datetime.date(1980, 5, 1)


def test_dpo_merges_a_pair_from_the_queue_in_swedish(live_server, new_page) -> None:
    # Given a member who joined at a till, and the same person signing up online later
    # (member_create's hook queues the check after commit; eager Celery runs it at once)
    till = member_create(
        first_name="Åsa",
        last_name="Lindström",
        phone="070-222 33 44",
        birth_date=BIRTH,
        join_channel=Member.JoinChannel.STORE,
    )
    online = factories.member_with_user(
        email="asa.lindstrom@example.se",
        first_name="Asa",
        last_name="Lindstrom",
        phone="+46702223344",
        birth_date=BIRTH,
    )
    pair = DuplicateCandidate.objects.get(member_a=till, member_b=online)
    assert pair.status == DuplicateCandidate.Status.OPEN

    # and a data protection officer in the back-office, in Swedish
    client = Client()
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    page = new_page(locale="sv-SE", viewport=DESKTOP)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": "sv", "url": live_server.url},
        ]
    )

    # When they open the queue, the pair is listed with its score, in Swedish
    page.goto(live_server.url + "/admin/members/duplicatecandidate/")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.locator(".breadcrumbs")).to_contain_text("Hem")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(till.formatted_membership_number)
    expect(row).to_contain_text(online.formatted_membership_number)
    expect(row).to_contain_text(f"{round(100 * pair.score)} %")

    # and open it: both members side by side
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/admin/members/duplicatecandidate/{pair.pk}/change/$"))
    expect(page.get_by_test_id("duplicate-member-1")).to_contain_text("Åsa Lindström")
    expect(page.get_by_test_id("duplicate-member-2")).to_contain_text("Asa Lindstrom")
    expect(page.locator(".kk-dup-table")).to_contain_text("asa.lindstrom@example.se")
    expect(page.get_by_test_id("duplicate-reasons").locator("li")).to_have_count(2)

    # and merge into the online membership (the second column), with a reason, confirmed
    form = page.get_by_test_id("merge-form-2")
    form.locator("input[name='reason']").fill("Samma mobilnummer och födelsedag")
    form.locator("input[name='confirm']").check()
    form.locator("button[type='submit']").click()

    # Then they land on the survivor's record, with the message naming both memberships
    expect(page).to_have_url(re.compile(rf"/admin/members/member/{online.pk}/change/$"))
    message = page.locator(".messagelist .success")
    expect(message).to_contain_text(till.formatted_membership_number)
    expect(message).to_contain_text(online.formatted_membership_number)
    expect(page.locator(".field-first_name")).to_contain_text("Asa")  # read-only for the DPO
    expect(page.locator("html")).to_have_attribute("lang", "sv")

    # and the till membership is the survivor's tombstone, the pair merged by the DPO
    till.refresh_from_db()
    pair.refresh_from_db()
    assert till.merged_into_id == online.pk
    assert pair.status == DuplicateCandidate.Status.MERGED
    assert pair.decided_by is not None
    assert MemberMerge.objects.get(merged=till).reason == "Samma mobilnummer och födelsedag"
