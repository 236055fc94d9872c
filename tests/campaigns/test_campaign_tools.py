"""Simulation, preview rendering, test send, promote the winner, daily triggers, erasure."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.template import Context, Engine

from campaigns.authoring import campaign_launch, campaign_test_send, segment_import_csv
from campaigns.models import Campaign, Delivery, InboxMessage, Offer, SegmentMember
from campaigns.privacy import erase_campaign_data
from campaigns.selectors import campaign_simulate
from campaigns.sending import rendering
from campaigns.sending.fanout import campaign_promote_start
from campaigns.triggers import triggers_daily
from members.models import Member
from rewards.models import Category
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 3, 11, 12, tzinfo=ZoneInfo("Europe/Stockholm"))


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


@pytest.mark.parametrize(
    "source",
    [
        "Hej {{ first_name }}!",
        "{{first_name}} har {{ points }} p",
        "<b>{{ first_name }}</b> & {{ missing }}",
        "Inget att ersätta",
        "",
    ],
)
@pytest.mark.parametrize("html", [True, False])
def test_plain_merge_fields_render_exactly_as_the_django_engine(source, html):
    ctx = {"first_name": "Åsa <&>", "points": 1200}
    engine = Engine(autoescape=html)
    expected = engine.from_string(source).render(Context(ctx, autoescape=html))
    assert rendering._template(source, html).render(Context(ctx, autoescape=html)) == expected


def test_campaign_simulate_counts_reach_suppression_control_and_cost(run):
    shoes = Category.objects.create(code="shoes", name="Skor")
    store = factories.store()
    rf.base_rule()
    members = [factories.member_with_user() for _ in range(6)]
    for m in members[:4]:
        consent_f.granted(m, "marketing_email")
    consent_f.granted(members[4], "profiling")
    run(
        rf.purchase,
        store=store,
        member=members[0],
        lines=[rf.line("S", 1, 50000, category="shoes")],
    )
    offer = cf.offer(kind=Offer.Kind.BONUS_POINTS, multiplier=Decimal("3"), category=shoes)
    campaign = cf.campaign(channels=["email", "onsite"], offer_obj=offer)
    result = campaign_simulate(campaign)
    assert result["audience"] == 6
    assert result["reached"] == {"A/email": 4, "A/onsite": 1}
    assert result["suppressed"] == {"no_consent": 1}
    assert result["control"] == 0
    assert result["cost_points"] == 1000  # 500 SEK of shoes x (3 - 1) x 1 p/SEK
    assert Delivery.objects.count() == 0  # a simulation writes nothing


def test_campaign_test_send_goes_to_the_staff_address_only():
    campaign = cf.campaign(channels=["email"])
    staff = factories.staff_user(email="marketer@example.se")
    campaign_test_send(
        campaign=campaign,
        variant=campaign.variants.get(),
        email=staff.email,
        language="en",
        actor=staff,
    )
    (message,) = mail.outbox
    assert message.to == ["marketer@example.se"]
    assert message.subject.startswith("[TEST] Hello")
    assert Delivery.objects.count() == 0


def test_campaign_promote_start_sends_the_winner_to_the_rest(run):
    members = [factories.member_with_user() for _ in range(8)]
    for m in members:
        consent_f.granted(m, "marketing_email")
    campaign = cf.campaign(channels=["test"], variants=[("A", 50), ("B", 50)], test_group_size=3)
    run(campaign_launch, campaign=campaign, actor=None)
    assert Delivery.objects.filter(campaign=campaign).count() == 3
    campaign.refresh_from_db()
    winner = campaign.variants.get(code="B")
    run(campaign_promote_start, campaign=campaign, variant=winner)
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.count() == 8
    assert set(
        rows.exclude(pk__in=rows.order_by("pk")[:3]).values_list("variant_id", flat=True)
    ) == {winner.pk}
    assert Campaign.objects.get(pk=campaign.pk).status == "done"


def test_triggers_daily_sends_birthday_greetings_once_a_year(run):
    anna = factories.member_with_user(birth_date=datetime.date(1990, 3, 11))
    factories.member_with_user(birth_date=datetime.date(1990, 3, 12))
    consent_f.granted(anna, "profiling")
    campaign = cf.campaign(schedule_kind="trigger", trigger="birthday", channels=["onsite"])
    run(campaign_launch, campaign=campaign, actor=None)
    with time_machine.travel(NOON, tick=False):
        run(triggers_daily)
        run(triggers_daily)
    rows = Delivery.objects.filter(campaign=campaign)
    assert list(rows.values_list("member_id", "status", "occurrence")) == [
        (anna.pk, "sent", "birthday-2026")
    ]


def test_erase_campaign_data_blanks_the_inbox_and_leaves_lists(run):
    anna = factories.member_with_user()
    consent_f.granted(anna, "profiling")
    segment_import_csv(name="VIP", content=anna.membership_number)
    campaign = cf.campaign(channels=["onsite"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    erase_campaign_data(Member.objects.get(pk=anna.pk))
    inbox = InboxMessage.objects.get(member=anna)
    assert (inbox.title, inbox.body) == ("", "")
    assert not SegmentMember.objects.filter(member=anna).exists()
