"""Campaign results: funnel, revenue uplift against the control group with a 95 % interval
checked by hand, and the plain-language verdict."""

from __future__ import annotations

import datetime
import itertools
import math

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Variant
from campaigns.results.report import (
    Verdict,
    campaign_funnel,
    campaign_results,
    member_outcomes,
    uplift_compute,
    verdict_text,
)
from campaigns.results.stats import Sample, t_cdf, t_ppf, welch_interval
from members.services import member_create
from rewards.purchases.returns import purchase_return
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

SENT_AT = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock():
    # Three weeks after sending: the 14-day goal window has closed.
    with time_machine.travel(SENT_AT + datetime.timedelta(days=21), tick=False):
        yield


def a_member():
    return member_create(first_name="Test", last_name=f"Medlem{next(_names)}")


def a_campaign(*codes: str, goal_days: int = 14, goal: str = "revenue") -> Campaign:
    campaign = Campaign.objects.create(
        name="Vårkampanj",
        status=Campaign.Status.DONE,
        goal=goal,
        goal_days=goal_days,
        channels=["onsite"],
    )
    for code in codes or ("A",):
        Variant.objects.create(campaign=campaign, code=code, weight=100 // max(len(codes), 1))
    return campaign


def contacted(campaign, member, *, code="A", at=SENT_AT, channel="email", **stages):
    variant = Variant.objects.get(campaign=campaign, code=code)
    return Delivery.objects.create(
        campaign=campaign,
        variant=variant,
        member=member,
        channel=channel,
        status=Delivery.Status.SENT,
        sent_at=at,
        **stages,
    )


def held_out(campaign, member, *, at=SENT_AT):
    return Delivery.objects.create(
        campaign=campaign,
        member=member,
        channel="email",
        status=Delivery.Status.CONTROL,
        created_at=at,
    )


def spent(store, member, sek: int, *, days_after: float = 1, lines=None):
    return rf.purchase(
        store=store,
        member=member,
        lines=lines or [rf.line(sku="SKU-1", price_ore=sek * 100)],
        purchased_at=SENT_AT + datetime.timedelta(days=days_after),
    )


# --- the maths, by hand -----------------------------------------------------------------


def test_t_ppf_matches_the_printed_table():
    # Student's t, two-sided 95 %: the values every textbook table prints
    assert t_ppf(0.975, 1) == pytest.approx(12.706205, abs=1e-5)
    assert t_ppf(0.975, 4) == pytest.approx(2.776445, abs=1e-5)
    assert t_ppf(0.975, 10) == pytest.approx(2.228139, abs=1e-5)
    assert t_ppf(0.975, 30) == pytest.approx(2.042272, abs=1e-5)
    assert t_ppf(0.975, math.inf) == pytest.approx(1.959964, abs=1e-5)
    assert t_cdf(0.0, 7) == pytest.approx(0.5)


def test_welch_interval_by_hand_with_unequal_groups():
    # Given 4 contacted members (100, 200, 300, 400 kr) and 3 control (100, 100, 200 kr)
    treatment, control = Sample.of([100, 200, 300, 400]), Sample.of([100, 100, 200])
    # By hand: means 250 and 133.33; variances 50000/3 and 10000/3
    assert treatment.variance == pytest.approx(50000 / 3)
    assert control.variance == pytest.approx(10000 / 3)
    v1, v2 = 50000 / 3 / 4, 10000 / 3 / 3
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / 3 + v2**2 / 2)
    assert df == pytest.approx(4.3494, abs=1e-4)

    interval = welch_interval(treatment, control)

    assert interval is not None
    assert interval.difference == pytest.approx(250 - 400 / 3)
    assert interval.standard_error == pytest.approx(se)
    assert interval.df == pytest.approx(df)
    half = interval.high - interval.difference
    # t(0.975, 4.35) lies between the table's t(0.975, 4) = 2.776 and t(0.975, 5) = 2.571
    assert 2.571 * se < half < 2.776 * se


def test_welch_interval_needs_two_members_per_group():
    assert welch_interval(Sample.of([5.0]), Sample.of([1.0, 2.0])) is None


# --- outcomes from purchases ------------------------------------------------------------


def test_member_outcomes_count_only_the_goal_window_and_subtract_returns(store):
    # Given a member contacted at SENT_AT with a 14-day goal window
    rf.base_rule()
    member = a_member()
    spent(store, member, 100, days_after=-1)  # before: not counted
    spent(store, member, 250, days_after=2)  # counted
    bought = spent(
        store,
        member,
        0,
        days_after=13.9,
        lines=[rf.line(sku="A", price_ore=30000), rf.line(sku="B", price_ore=5000)],
    )
    purchase_return(
        store=store, receipt_id=bought.purchase.receipt_id, return_id="R-1", lines=[(2, 1)]
    )
    spent(store, member, 999, days_after=14)  # the window is [sent, sent + 14 days)

    # When the outcome is read
    outcomes = member_outcomes(anchors={member.pk: SENT_AT}, days=14)

    # Then 250 + (350 - 50 returned) kr in two purchases
    assert outcomes[member.pk].revenue_ore == 25000 + 30000
    assert outcomes[member.pk].purchases == 2


def test_campaign_results_uplift_and_interval_by_hand(store):
    # Given 3 contacted members who spent 100, 200, 300 kr in the window
    # and 3 control members who spent 0, 100, 200 kr (one bought nothing)
    rf.base_rule()
    campaign = a_campaign("A")
    for sek in (100, 200, 300):
        member = a_member()
        contacted(campaign, member)
        spent(store, member, sek)
    for sek in (0, 100, 200):
        member = a_member()
        held_out(campaign, member)
        if sek:
            spent(store, member, sek)

    # When the results are computed
    results = campaign_results(campaign=campaign)
    uplift = results.overall["revenue"]

    # Then by hand: means 200 and 100; both variances 10000; se = sqrt(2 * 10000 / 3);
    # equal sizes and variances give df = 2 (n - 1) = 4, and t(0.975, 4) = 2.776445
    se = math.sqrt(2 * 10000 / 3)
    assert uplift.contacted.n == 3
    assert uplift.control.n == 3
    assert uplift.difference == pytest.approx(100.0)
    assert uplift.relative == pytest.approx(1.0)
    assert uplift.interval is not None
    assert uplift.interval.df == pytest.approx(4.0)
    assert uplift.interval.low == pytest.approx(100 - 2.776445 * se, abs=1e-3)
    assert uplift.interval.high == pytest.approx(100 + 2.776445 * se, abs=1e-3)
    # and with three members a group it is too early to say, in both languages
    assert uplift.verdict == Verdict.TOO_EARLY
    assert uplift.text["en"].startswith("Too early to say: only 3 contacted and 3 control")
    assert uplift.text["sv"].startswith("För tidigt att säga: bara 3 kontaktade")
    purchases = results.overall["purchases"]
    assert purchases.contacted.mean == pytest.approx(1.0)
    assert purchases.control.mean == pytest.approx(2 / 3)


def test_campaign_results_verdict_flips_to_significant_with_enough_data(store):
    # Given the same pattern as a small test, then the full roll-out: contacted members
    # spend 300 or 500 kr, control members 100 or 300 kr
    rf.base_rule()
    campaign = a_campaign("A")

    def add(n: int) -> None:
        for i in range(n):
            member = a_member()
            contacted(campaign, member)
            spent(store, member, 300 if i % 2 else 500)
            member = a_member()
            held_out(campaign, member)
            spent(store, member, 100 if i % 2 else 300)

    add(4)
    early = campaign_results(campaign=campaign).overall["revenue"]
    assert early.verdict == Verdict.TOO_EARLY

    # When 20 more of each have been through the goal window
    add(20)
    late = campaign_results(campaign=campaign).overall["revenue"]

    # Then the verdict is significant: +200 kr per member, interval above zero
    assert late.contacted.n == late.control.n == 24
    assert late.difference == pytest.approx(200.0)
    assert late.interval is not None
    assert late.interval.low > 0
    assert late.verdict == Verdict.SIGNIFICANT
    assert late.text["en"].startswith(
        "Significant: contacted members spent 200.00 kr more per member than the control group"
    )
    assert late.text["sv"].startswith(
        "Signifikant: kontaktade medlemmar handlade för 200,00 kr mer per medlem"
    )


def test_uplift_compute_a_wide_interval_is_too_early_even_with_many_members():
    # Given 30 members a group whose spending differs by 5 kr with a spread of 100 kr
    contacted = [105.0 if i % 2 else 5.0 for i in range(30)]
    control = [100.0 if i % 2 else 0.0 for i in range(30)]

    uplift = uplift_compute(metric="revenue", contacted=contacted, control=control)

    assert uplift.interval is not None
    assert uplift.interval.low < 0 < uplift.interval.high
    assert uplift.verdict == Verdict.TOO_EARLY
    assert "still includes zero" in uplift.text["en"]
    assert "innehåller fortfarande noll" in uplift.text["sv"]


def test_uplift_compute_a_clear_drop_is_significantly_worse():
    contacted = [0.0 if i % 2 else 10.0 for i in range(40)]
    control = [100.0 if i % 2 else 110.0 for i in range(40)]
    uplift = uplift_compute(metric="revenue", contacted=contacted, control=control)
    assert uplift.verdict == Verdict.SIGNIFICANT_NEGATIVE
    assert uplift.text["en"].startswith(
        "Significantly worse: contacted members spent 100.00 kr less"
    )


def test_verdict_text_says_when_the_goal_window_is_still_open():
    texts = verdict_text(
        metric="purchases",
        verdict=Verdict.TOO_EARLY,
        contacted=Sample.of([1.0]),
        control=Sample.of([0.0]),
        interval=None,
        min_group_size=20,
        window_complete=False,
    )
    assert texts["en"].endswith("The goal window is still open.")
    assert texts["sv"].endswith("Målperioden pågår fortfarande.")


def test_campaign_results_window_is_open_until_goal_days_after_the_last_send(store):
    campaign = a_campaign("A")
    contacted(campaign, a_member(), at=timezone.now() - datetime.timedelta(days=3))
    held_out(campaign, a_member(), at=timezone.now() - datetime.timedelta(days=3))
    assert campaign_results(campaign=campaign).window_complete is False


# --- the funnel and the winner ------------------------------------------------------------


def test_campaign_funnel_counts_members_per_stage_and_variant():
    # Given variant A: 3 delivered, 2 opened, 1 clicked and activated; B: 1 delivered,
    # 1 redeemed; one suppressed, two in control
    campaign = a_campaign("A", "B")
    now = timezone.now()
    contacted(campaign, a_member(), opened_at=now, clicked_at=now, activated_at=now)
    contacted(campaign, a_member(), opened_at=now)
    contacted(campaign, a_member())
    contacted(campaign, a_member(), code="B", redeemed_at=now)
    Delivery.objects.create(
        campaign=campaign,
        variant=Variant.objects.get(campaign=campaign, code="B"),
        member=a_member(),
        channel="sms",
        status=Delivery.Status.SUPPRESSED,
        reason="no_consent",
    )
    held_out(campaign, a_member())
    held_out(campaign, a_member())

    rows = {row.code: row for row in campaign_funnel(campaign=campaign)}

    a, b, total = rows["A"], rows["B"], rows[""]
    assert (a.delivered, a.opened, a.clicked, a.activated, a.redeemed) == (3, 2, 1, 1, 0)
    assert (b.delivered, b.redeemed, b.suppressed, b.audience) == (1, 1, 1, 2)
    assert (total.delivered, total.control, total.suppressed) == (4, 2, 1)
    assert a.rate("opened") == pytest.approx(2 / 3)


def test_campaign_results_picks_a_clear_winner_on_revenue(store):
    # Given variant B brings clearly more revenue than A, with 20+ members each
    rf.base_rule()
    campaign = a_campaign("A", "B")
    for i in range(22):
        member = a_member()
        contacted(campaign, member, code="A")
        spent(store, member, 100 + (i % 2) * 20)
        member = a_member()
        contacted(campaign, member, code="B")
        spent(store, member, 300 + (i % 2) * 20)

    winner = campaign_results(campaign=campaign).winner

    assert winner is not None
    assert winner.code == "B"
    assert winner.clear is True
    assert winner.versus is not None
    assert winner.versus.difference == pytest.approx(200.0)


def test_campaign_results_winner_is_not_clear_in_a_small_test(store):
    rf.base_rule()
    campaign = a_campaign("A", "B")
    for code, sek in (("A", 100), ("A", 200), ("B", 150), ("B", 260)):
        member = a_member()
        contacted(campaign, member, code=code)
        spent(store, member, sek)
    winner = campaign_results(campaign=campaign).winner
    assert winner is not None
    assert winner.code == "B"
    assert winner.clear is False


# --- the back-office page -----------------------------------------------------------------


def _significant_campaign(store, codes=("A",)):
    rf.base_rule()
    campaign = a_campaign(*codes)
    for i in range(22):
        for k, code in enumerate(codes):
            member = a_member()
            contacted(campaign, member, code=code)
            spent(store, member, 300 + 100 * k + (i % 2) * 200)
        member = a_member()
        held_out(campaign, member)
        spent(store, member, 100 + (i % 2) * 200)
    return campaign


def test_results_page_shows_verdict_charts_and_tables_to_a_marketer(client, store):
    # Given a finished campaign with a significant uplift, and a marketer
    campaign = _significant_campaign(store, codes=("A", "B"))
    client.force_login(factories.staff_user(role="Marketer"))

    # When the marketer opens the results in English
    response = client.get(f"/admin/campaigns/results/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="en")

    # Then the verdict, three SVG charts and the funnel table are there, with no script
    assert response.status_code == 200
    html = response.content.decode()
    assert "Significant: contacted members spent" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 3
    assert "<script" not in html.split('id="content-main"')[1]
    assert "Variant B is clearly the best" in html
    assert f'action="/admin/campaigns/results/{campaign.pk}/promote/"' in html


def test_results_page_needs_the_view_campaign_permission(client, store):
    campaign = a_campaign("A")
    client.force_login(factories.staff_user(role="Store staff"))
    assert client.get(f"/admin/campaigns/results/{campaign.pk}/").status_code == 403
    client.logout()
    response = client.get(f"/admin/campaigns/results/{campaign.pk}/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_results_page_query_count_does_not_grow_with_members(
    client, store, django_assert_max_num_queries
):
    campaign = _significant_campaign(store)
    client.force_login(factories.staff_user(role="Marketer"))
    with django_assert_max_num_queries(25):
        assert client.get(f"/admin/campaigns/results/{campaign.pk}/").status_code == 200


# --- promote the winner ---------------------------------------------------------------------


def test_campaign_promote_winner_starts_the_clear_winner_for_the_rest(store):
    # Given a finished test where B clearly beat A
    from campaigns.models import FanoutChunk
    from campaigns.results.report import campaign_promote_winner

    campaign = _significant_campaign(store, codes=("A", "B"))

    # When the winner is promoted
    promotion = campaign_promote_winner(campaign=campaign)

    # Then the engine fans out variant B to the rest of the segment
    assert promotion.variant.code == "B"
    assert promotion.winner is not None
    assert promotion.winner.clear
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert FanoutChunk.objects.filter(campaign=campaign, variant=promotion.variant).exists()


def test_campaign_promote_winner_refuses_without_a_clear_winner_unless_chosen(store):
    from campaigns.errors import NoClearWinnerError
    from campaigns.results.report import campaign_promote_winner

    rf.base_rule()
    campaign = a_campaign("A", "B")
    for code, sek in (("A", 100), ("A", 200), ("B", 150), ("B", 260)):
        member = a_member()
        contacted(campaign, member, code=code)
        spent(store, member, sek)

    with pytest.raises(NoClearWinnerError):
        campaign_promote_winner(campaign=campaign)

    chosen = Variant.objects.get(campaign=campaign, code="A")
    assert campaign_promote_winner(campaign=campaign, variant=chosen).variant == chosen


def test_campaign_promote_winner_only_after_the_test_run(store):
    from campaigns.errors import PromoteNotAllowedError
    from campaigns.results.report import campaign_promote_winner

    campaign = a_campaign("A", "B")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    with pytest.raises(PromoteNotAllowedError):
        campaign_promote_winner(
            campaign=campaign, variant=Variant.objects.get(campaign=campaign, code="A")
        )


def test_promote_button_needs_change_permission_and_reports_errors(client, store):
    campaign = a_campaign("A", "B")
    client.force_login(factories.staff_user(role="Data protection officer"))
    url = f"/admin/campaigns/results/{campaign.pk}/promote/"
    assert client.post(url).status_code == 403

    client.force_login(factories.staff_user(role="Marketer"))
    response = client.post(url, {"variant": "not-a-number"}, follow=True)
    assert response.status_code == 200
    assert any(
        "Choose a variant" in str(m) or "Välj" in str(m) for m in response.context["messages"]
    )
    response = client.post(url, follow=True)  # no clear winner: a message, nothing sent
    assert response.status_code == 200
    assert len(list(response.context["messages"])) == 1


def test_results_page_reads_in_swedish(client, store):
    campaign = _significant_campaign(store)
    client.force_login(factories.staff_user(role="Marketer"))
    html = client.get(
        f"/admin/campaigns/results/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="sv"
    ).content.decode()
    assert "Signifikant: kontaktade medlemmar handlade för" in html
    assert "Från leverans till inlösen" in html
    assert "95 % konfidensintervall" in html


def test_uplift_compute_identical_groups_say_no_difference_so_far():
    uplift = uplift_compute(metric="purchases", contacted=[1.0] * 25, control=[1.0] * 25)
    assert uplift.verdict == Verdict.TOO_EARLY
    assert uplift.text["en"].startswith("Too early to say: no difference at all so far")
    assert uplift.text["sv"].startswith("För tidigt att säga: ingen skillnad alls hittills")


def test_results_page_filters_one_occurrence_of_a_recurring_campaign(client, store):
    # Given a recurring campaign sent in two occurrences
    rf.base_rule()
    campaign = a_campaign("A")
    first, second = a_member(), a_member()
    contacted(campaign, first)
    Delivery.objects.filter(member=first).update(occurrence="2026-03-02")
    contacted(campaign, second)
    Delivery.objects.filter(member=second).update(occurrence="2026-03-09")
    client.force_login(factories.staff_user(role="Marketer"))
    url = f"/admin/campaigns/results/{campaign.pk}/"

    # When all are shown, then both count; when one is chosen, only its member
    everything = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert everything.context["results"].funnel[-1].delivered == 2
    assert 'name="occurrence"' in everything.content.decode()
    one = client.get(url, {"occurrence": "2026-03-09"}, HTTP_ACCEPT_LANGUAGE="en")
    assert one.context["results"].funnel[-1].delivered == 1
    unknown = client.get(url, {"occurrence": "nope"}, HTTP_ACCEPT_LANGUAGE="en")
    assert unknown.context["results"].funnel[-1].delivered == 2


def test_campaign_outcomes_in_the_database_match_the_member_by_member_rule(store):
    # Given contacted and control members with purchases before, inside and after their own
    # windows, a partly returned purchase, and one member who is in both groups
    from campaigns.results.report import Outcome, campaign_groups, campaign_outcomes

    rf.base_rule()
    campaign = a_campaign("A")
    later = SENT_AT + datetime.timedelta(days=3)
    members = [a_member() for _ in range(4)]
    contacted(campaign, members[0])
    contacted(campaign, members[1], at=later)
    held_out(campaign, members[2])
    held_out(campaign, members[3], at=later)
    # in both groups (as a data error would have it): counts as contacted, from the send
    contacted(campaign, members[3], at=later + datetime.timedelta(hours=1), channel="sms")
    for member in members:
        spent(store, member, 100, days_after=-0.5)
        spent(store, member, 200, days_after=2)
        spent(store, member, 400, days_after=15)
    returned = spent(
        store,
        members[1],
        0,
        days_after=10,
        lines=[rf.line(sku="A", price_ore=30000), rf.line(sku="B", price_ore=5000)],
    )
    purchase_return(
        store=store, receipt_id=returned.purchase.receipt_id, return_id="R-9", lines=[(1, 1)]
    )
    groups = campaign_groups(campaign=campaign)
    anchors = dict(groups.control)
    for per_variant in groups.contacted.values():
        anchors.update(per_variant)

    # When summed in the database and member by member
    in_db = campaign_outcomes(campaign=campaign, occurrence=None, anchors=anchors)
    by_member = member_outcomes(anchors=anchors, days=campaign.goal_days)

    # Then they agree, and by hand (windows of 14 days from each member's own start):
    # members 0 and 2 start at SENT_AT (the 200 kr purchase on day 2 counts, day 15 not);
    # members 1 and 3 start 3 days later (day 2 is before, day 15 is their day 12)
    assert in_db == by_member
    assert in_db[members[0].pk] == Outcome(revenue_ore=20000, purchases=1)
    assert in_db[members[1].pk] == Outcome(revenue_ore=40000 + 35000 - 30000, purchases=2)
    assert in_db[members[2].pk] == Outcome(revenue_ore=20000, purchases=1)
    assert in_db[members[3].pk] == Outcome(revenue_ore=40000, purchases=1)


def test_campaign_page_links_to_its_results(client):
    campaign = a_campaign("A")
    client.force_login(factories.staff_user(role="Marketer"))
    html = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f'href="/admin/campaigns/results/{campaign.pk}/"' in html
