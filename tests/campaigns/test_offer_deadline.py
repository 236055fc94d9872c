"""An offer's last day to activate: it reaches the member with a deadline, shows it, and
after it the offer can no longer be activated and leaves "My offers" (docs/campaigns.md
"Offers")."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from campaigns.authoring import campaign_launch
from campaigns.errors import OfferExpiredError
from campaigns.models import Delivery, MemberOffer, Offer
from campaigns.offers import offer_activate
from members.roles import STORE_STAFF
from rewards.models import Category
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Sent on a Tuesday morning; 30 days to activate: 10 Nov and 29 more, the last is 9 Dec.
SENT = datetime.datetime(2026, 11, 10, 9, 30, tzinfo=STOCKHOLM)
LAST_MOMENT = datetime.datetime(2026, 12, 9, 23, 59, 59, 999999, tzinfo=STOCKHOLM)


@pytest.fixture
def anna(db):
    member = factories.member_with_user(email="anna@example.se")
    consent_f.granted(member, "profiling")
    return member


def _send(member, django_capture_on_commit_callbacks, **offer_fields) -> MemberOffer:
    shoes, _ = Category.objects.get_or_create(code="shoes", defaults={"name": "Skor"})
    offer_fields.setdefault("kind", Offer.Kind.BONUS_POINTS)
    offer_fields.setdefault("category", shoes)
    offer = cf.offer(
        multiplier=Decimal("3"),
        title_sv="3x poäng på skor",
        title_en="3x points on shoes",
        **offer_fields,
    )
    campaign = cf.campaign(channels=["onsite"], offer_obj=offer)
    with (
        time_machine.travel(SENT, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        campaign_launch(campaign=campaign, actor=None)
    return MemberOffer.objects.get(member=member, campaign=campaign)


def test_an_offer_reaches_the_member_with_the_end_of_its_last_local_day(
    anna, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks)

    # 30 days: the day it came and 29 more, to the end of the club's day
    assert item.available_until == LAST_MOMENT
    assert item.offer.activate_days == 30


def test_an_offer_can_be_activated_on_its_last_evening(anna, django_capture_on_commit_callbacks):
    item = _send(anna, django_capture_on_commit_callbacks)

    with time_machine.travel(LAST_MOMENT - datetime.timedelta(minutes=1), tick=False):
        activated = offer_activate(member=anna, member_offer_id=item.pk)

    assert activated.status == MemberOffer.Status.ACTIVE


def test_an_expired_offer_is_refused_in_the_members_words_and_nothing_changes(
    anna, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks)

    with (
        time_machine.travel(LAST_MOMENT + datetime.timedelta(microseconds=1), tick=False),
        translation.override("sv"),
        pytest.raises(OfferExpiredError) as refused,
    ):
        offer_activate(member=anna, member_offer_id=item.pk)

    assert refused.value.message == (
        "Erbjudandet gick att aktivera till och med 9 dec. 2026. Det har gått ut."
    )
    item.refresh_from_db()
    assert (item.status, item.activated_at, item.active_until) == ("available", None, None)
    assert Delivery.objects.get(pk=item.delivery_id).activated_at is None
    assert not anna.events.filter(kind="offer_activated").exists()


def test_my_offers_shows_the_deadline_and_drops_the_offer_after_it(
    anna, client, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks)

    with time_machine.travel(datetime.datetime(2026, 12, 1, 12, tzinfo=STOCKHOLM)):
        client.force_login(anna.user)
        page = client.get("/mina-sidor/erbjudanden/").content.decode()
    assert page.count('data-testid="offer-card"') == 1
    assert "Aktivera senast 9 dec. 2026." in page
    assert 'data-testid="offer-deadline"' in page

    with time_machine.travel(datetime.datetime(2026, 12, 10, 8, tzinfo=STOCKHOLM)):
        client.force_login(anna.user)
        page = client.get("/mina-sidor/erbjudanden/").content.decode()
        home = client.get("/mina-sidor/").content.decode()
        refused = client.post(f"/mina-sidor/erbjudanden/{item.pk}/aktivera/", follow=True)
    # the offer's card is gone (the message it came with stays in the inbox)
    assert 'data-testid="offer-card"' not in page
    assert 'data-testid="newest-offer"' not in home
    assert 'data-testid="offers-empty"' in home
    assert "Det har gått ut." in refused.content.decode()
    item.refresh_from_db()
    assert item.status == "available"


def test_an_activated_offer_stays_until_its_bonus_period_ends_then_leaves(
    anna, client, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks, bonus_days=14)
    with time_machine.travel(datetime.datetime(2026, 12, 9, 20, tzinfo=STOCKHOLM), tick=False):
        offer_activate(member=anna, member_offer_id=item.pk)

    # past its deadline to activate, but active: it stays, with its own end
    with time_machine.travel(datetime.datetime(2026, 12, 20, 12, tzinfo=STOCKHOLM)):
        client.force_login(anna.user)
        page = client.get("/mina-sidor/erbjudanden/").content.decode()
    assert page.count('data-testid="offer-card"') == 1
    assert 'data-testid="offer-active"' in page

    with time_machine.travel(datetime.datetime(2026, 12, 24, 12, tzinfo=STOCKHOLM)):
        client.force_login(anna.user)
        page = client.get("/mina-sidor/erbjudanden/").content.decode()
    assert 'data-testid="offer-card"' not in page


def test_the_marketer_sets_the_days_to_activate_and_the_member_sees_them(
    anna, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks, activate_days=7)

    assert item.available_until == datetime.datetime(
        2026, 11, 16, 23, 59, 59, 999999, tzinfo=STOCKHOLM
    )


def test_a_deadline_across_the_change_to_summer_time_ends_at_local_midnight(
    anna, django_capture_on_commit_callbacks
):
    offer = cf.offer(kind=Offer.Kind.MESSAGE, activate_days=5)
    # sent on Friday 27 March: summer time starts on Sunday 29 March 2026
    until = offer.activate_until(datetime.datetime(2026, 3, 27, 10, tzinfo=STOCKHOLM))

    assert until == datetime.datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=STOCKHOLM)
    assert until.utcoffset() == datetime.timedelta(hours=2)


def test_the_desk_shows_the_deadline_and_refuses_an_expired_offer(
    anna, client, django_capture_on_commit_callbacks
):
    item = _send(anna, django_capture_on_commit_callbacks)
    staff = factories.staff_user(role=STORE_STAFF)
    action = reverse("desk-campaigns:offer-activate", args=[anna.pk, item.pk])

    with time_machine.travel(datetime.datetime(2026, 12, 1, 12, tzinfo=STOCKHOLM)):
        client.force_login(staff)
        page = client.get(reverse("desk:member", args=[anna.pk])).content.decode()
    assert "aktivera senast 9 december 2026" in page
    assert f'action="{action}"' in page

    with time_machine.travel(datetime.datetime(2026, 12, 10, 8, tzinfo=STOCKHOLM)):
        client.force_login(staff)
        answer = client.post(action, follow=True).content.decode()
    assert "Det har gått ut." in answer
    item.refresh_from_db()
    assert item.status == "available"


def test_an_english_member_reads_the_deadline_and_the_refusal_in_english(
    django_capture_on_commit_callbacks,
):
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    eva = factories.member_with_user(email="eva@example.se", preferred_language="en")
    consent_f.granted(eva, "profiling")
    item = _send(eva, django_capture_on_commit_callbacks, kind=Offer.Kind.BONUS_POINTS)

    with time_machine.travel(datetime.datetime(2026, 12, 1, 12, tzinfo=STOCKHOLM)):
        client.force_login(eva.user)
        page = client.get("/mina-sidor/erbjudanden/").content.decode()
    assert "Activate it by 9 Dec 2026." in page

    with time_machine.travel(datetime.datetime(2026, 12, 10, 8, tzinfo=STOCKHOLM)):
        client.force_login(eva.user)
        answer = client.post(f"/mina-sidor/erbjudanden/{item.pk}/aktivera/", follow=True)
    assert "This offer could be activated until 9 Dec 2026. It has expired." in (
        answer.content.decode()
    )
