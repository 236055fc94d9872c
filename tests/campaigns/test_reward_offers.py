"""Reward offers: collecting one on "My offers" issues the catalogue's voucher as a gift (no
points, stock and the reward's rules enforced), once; using the voucher marks the delivery
redeemed; an offer cannot name a reward that does not exist; simulation counts their cost."""

from __future__ import annotations

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import override

from campaigns.admin import OfferForm
from campaigns.authoring import campaign_launch
from campaigns.errors import OfferNotActivatableError
from campaigns.models import Delivery, MemberOffer, Offer
from campaigns.offers import offer_activate, offer_voucher_used_record
from campaigns.selectors import campaign_simulate
from members.activity import Kind
from members.models import ActivityEvent
from rewards.errors import MemberLimitReachedError, SoldOutError, TierRequiredError
from rewards.loyalty.catalogue import reward_grant, voucher_redeem
from rewards.models import LedgerEntry, MemberTier, Reward, Voucher
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f
from tests.factories import rewards as rf

NOON = datetime.datetime(2026, 3, 11, 12, tzinfo=ZoneInfo("Europe/Stockholm"))


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


@pytest.fixture
def noon():
    with time_machine.travel(NOON, tick=False):
        yield NOON


def _reward_offer_to(members, launch, *, stock=None, **reward_fields) -> Reward:
    """A 50 SEK voucher (300 points in the catalogue) sent as an onsite reward offer."""
    reward = rf.reward(code="fifty-off", points_cost=300, stock=stock, **reward_fields)
    for member in members:
        consent_f.granted(member, "profiling")
    offer = cf.offer(
        kind=Offer.Kind.REWARD,
        reward_code=reward.code,
        title_sv="50 kr i present",
        title_en="SEK 50 as a gift",
    )
    launch(cf.campaign(channels=["onsite"], offer_obj=offer))
    return reward


@pytest.mark.django_db
def test_offer_activate_reward_issues_one_gift_voucher(run, noon):
    # given a member who got a reward offer, and has no points at all
    anna = factories.member_with_user()
    reward = _reward_offer_to(
        [anna], lambda c: run(campaign_launch, campaign=c, actor=None), stock=5
    )
    item = MemberOffer.objects.get(member=anna)

    # when she taps "Hämta" twice
    activated = offer_activate(member=anna, member_offer_id=item.pk)
    with pytest.raises(OfferNotActivatableError):
        offer_activate(member=anna, member_offer_id=item.pk)

    # then exactly one voucher is issued, free of charge, and one unit of stock is taken
    voucher = Voucher.objects.get()
    assert (voucher.member_id, voucher.reward_id, voucher.points_spent) == (anna.pk, reward.pk, 0)
    assert voucher.claim_key == f"grant:offer:{item.pk}"
    assert voucher.valid_until == NOON.astimezone(datetime.UTC) + datetime.timedelta(
        days=reward.valid_days
    )
    assert not LedgerEntry.objects.filter(member=anna).exists()
    reward.refresh_from_db()
    assert reward.stock_left == 4
    assert activated.status == MemberOffer.Status.ACTIVE
    assert activated.active_until == voucher.valid_until
    assert Delivery.objects.get(member=anna).activated_at == NOON
    claimed = ActivityEvent.objects.get(member=anna, kind=Kind.REWARD_CLAIMED)
    assert claimed.data["gift"] is True
    assert claimed.data["points"] == 0
    assert claimed.source == "campaign"
    assert ActivityEvent.objects.get(member=anna, kind=Kind.OFFER_ACTIVATED).data["voucher_id"] == (
        voucher.pk
    )


@pytest.mark.django_db
def test_offer_activate_reward_sold_out_is_refused_and_changes_nothing(run, noon):
    # given a reward offer to two members and one voucher left in stock
    anna, bo = factories.member_with_user(), factories.member_with_user()
    reward = _reward_offer_to(
        [anna, bo], lambda c: run(campaign_launch, campaign=c, actor=None), stock=1
    )
    offer_activate(member=bo, member_offer_id=MemberOffer.objects.get(member=bo).pk)
    item = MemberOffer.objects.get(member=anna)
    events_before = ActivityEvent.objects.filter(member=anna).count()

    # when Anna collects hers
    with override("en"), pytest.raises(SoldOutError) as refused:
        offer_activate(member=anna, member_offer_id=item.pk)

    # then she is told it is sold out, and nothing changed for her
    assert refused.value.message == "Sorry, this reward is sold out."
    item.refresh_from_db()
    assert (item.status, item.activated_at) == (MemberOffer.Status.AVAILABLE, None)
    assert Delivery.objects.get(member=anna).activated_at is None
    assert not Voucher.objects.filter(member=anna).exists()
    assert ActivityEvent.objects.filter(member=anna).count() == events_before
    reward.refresh_from_db()
    assert reward.stock_left == 0


@pytest.mark.django_db
def test_reward_grant_applies_tier_limit_and_idempotency_like_a_claim(noon):
    # given a Gold-only reward, a reward limited to one per member, and a member without tier
    ladder = rf.ladder()
    anna = factories.member_with_user()
    gold_only = rf.reward(code="gold-lounge", min_tier=ladder["guld"])
    one_each = rf.reward(code="one-each", per_member_limit=1)

    # when each is granted
    with pytest.raises(TierRequiredError):
        reward_grant(member=anna, reward=gold_only, idempotency_key="t-1")
    first = reward_grant(member=anna, reward=one_each, idempotency_key="l-1")
    replay = reward_grant(member=anna, reward=one_each, idempotency_key="l-1")
    with pytest.raises(MemberLimitReachedError):
        reward_grant(member=anna, reward=one_each, idempotency_key="l-2")

    # then the tier rule and the limit hold, and a replayed key returns the same voucher
    assert replay.pk == first.pk
    assert Voucher.objects.filter(member=anna).count() == 1
    MemberTier.objects.create(member=anna, tier=ladder["guld"])
    assert reward_grant(member=anna, reward=gold_only, idempotency_key="t-1").points_spent == 0


@pytest.mark.django_db
def test_voucher_use_marks_the_reward_offer_delivery_redeemed(run, noon, store):
    # given a collected reward offer
    anna = factories.member_with_user()
    _reward_offer_to([anna], lambda c: run(campaign_launch, campaign=c, actor=None))
    item = MemberOffer.objects.get(member=anna)
    offer_activate(member=anna, member_offer_id=item.pk)
    assert Delivery.objects.get(member=anna).redeemed_at is None

    # when the till uses the voucher (the timeline consumer runs after commit)
    voucher = Voucher.objects.get(member=anna)
    run(voucher_redeem, code=voucher.code, store=store, idempotency_key="till-1")

    # then the delivery is redeemed and the offer used; a redelivered event changes nothing
    delivery = Delivery.objects.get(member=anna)
    assert delivery.redeemed_at == NOON
    item.refresh_from_db()
    assert item.status == MemberOffer.Status.USED
    event = ActivityEvent.objects.get(member=anna, kind=Kind.VOUCHER_USED)
    with time_machine.travel(NOON + datetime.timedelta(hours=1), tick=False):
        offer_voucher_used_record(event)
    assert Delivery.objects.get(member=anna).redeemed_at == NOON


@pytest.mark.django_db
def test_voucher_use_of_a_claimed_voucher_marks_no_delivery(run, noon, store):
    # given a reward offer not collected, and the same reward claimed with points
    anna = factories.member_with_user()
    reward = _reward_offer_to([anna], lambda c: run(campaign_launch, campaign=c, actor=None))
    rf.earned(anna, 500)
    voucher = rf.claim(anna, reward)

    # when that voucher is used
    run(voucher_redeem, code=voucher.code, store=store, idempotency_key="till-2")

    # then the offer's delivery is not redeemed: the voucher did not come from it
    assert Delivery.objects.get(member=anna).redeemed_at is None


@pytest.mark.django_db
def test_offer_save_refuses_a_reward_code_not_in_the_catalogue():
    # given a catalogue with one reward
    rf.reward(code="fifty-off")

    # when a marketer saves reward offers naming a missing and an existing reward
    with override("en"), pytest.raises(ValidationError) as refused:
        cf.offer(kind=Offer.Kind.REWARD, reward_code="fifty-of")
    ok = cf.offer(kind=Offer.Kind.REWARD, reward_code="fifty-off")

    # then the typo is refused with the code named, on the field
    assert refused.value.message_dict["reward_code"] == [
        "No reward in the catalogue has the code \u201cfifty-of\u201d."
    ]
    assert Offer.objects.get() == ok
    form = OfferForm(
        data={
            "name": "Present",
            "kind": "reward",
            "title_sv": "Present",
            "title_en": "Gift",
            "multiplier": "2",
            "bonus_days": "14",
            "reward_code": "nope",
        }
    )
    assert not form.is_valid()
    assert "nope" in form.errors["reward_code"][0]


@pytest.mark.django_db
def test_campaign_simulate_counts_reward_offers_within_stock():
    # given a reward offer (300 points, 2 left in stock) that would reach 3 members
    members = [factories.member_with_user() for _ in range(3)]
    for member in members:
        consent_f.granted(member, "marketing_email")
    reward = rf.reward(code="fifty-off", points_cost=300, stock=2)
    offer = cf.offer(kind=Offer.Kind.REWARD, reward_code=reward.code)
    campaign = cf.campaign(channels=["email"], offer_obj=offer)

    # when the marketer simulates it
    result = campaign_simulate(campaign)

    # then two vouchers are counted at their points value, and one member would miss out
    assert result["reached_total"] == 3
    assert result["cost_rewards"] == 2
    assert result["cost_reward_points"] == 600
    assert result["rewards_short"] == 1


@pytest.mark.django_db
def test_my_offers_page_collects_a_reward_with_hamta(run, noon, client):
    # given a member with a reward offer on "My offers"
    anna = factories.member_with_user()
    _reward_offer_to([anna], lambda c: run(campaign_launch, campaign=c, actor=None))
    item = MemberOffer.objects.get(member=anna)
    client.force_login(anna.user)
    page = client.get("/mina-sidor/erbjudanden/").content.decode()
    assert 'data-testid="offer-collect"' in page
    assert "Hämta" in page

    # when she presses "Hämta"
    response = client.post(f"/mina-sidor/erbjudanden/{item.pk}/aktivera/", follow=True)

    # then the card shows her voucher, with a link to it
    voucher = Voucher.objects.get(member=anna)
    html = response.content.decode()
    assert 'data-testid="offer-voucher"' in html
    assert f"/mina-sidor/vouchers/{voucher.pk}/" in html
    assert 'data-testid="offer-collect"' not in html


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_offer_activate_reward_concurrent_taps_issue_one_voucher(noon):
    # given a member with a reward offer (one member offer, 8 taps at the same moment)
    anna = factories.member_with_user()
    _reward_offer_to([anna], lambda c: campaign_launch(campaign=c, actor=None), stock=10)
    item = MemberOffer.objects.get(member=anna)
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def tap() -> None:
        try:
            barrier.wait(timeout=30)
            outcomes.append(offer_activate(member=anna, member_offer_id=item.pk).status)
        except Exception as error:  # the test inspects every outcome
            outcomes.append(error)
        finally:
            connection.close()

    # when all tap at once
    threads = [threading.Thread(target=tap) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then one tap collects it, the others are told it is already collected: one voucher
    assert outcomes.count(MemberOffer.Status.ACTIVE) == 1
    assert sum(isinstance(o, OfferNotActivatableError) for o in outcomes) == 7
    assert Voucher.objects.filter(member=anna).count() == 1
    assert Reward.objects.get(code="fifty-off").stock_left == 9
