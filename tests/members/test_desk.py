"""The staff desk, /admin/desk/ (issue 14, docs/desk.md): find a member by a scanned card
QR, a phone number in any format, a membership number or an email; one customer view with
every app's section; check in, adjust points, use a voucher and record consent given in
store, each permission-gated; every view shown writes one staff access-log row."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from consent.models import AccessLog, ConsentEvent, ConsentState
from members.activity import Kind
from members.card import card_qr_payload
from members.models import ActivityEvent, Member
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from members.services import card_token_rotate
from rewards.models import CheckIn, EventRule, LedgerEntry, Voucher
from rewards.selectors import balance_get
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.staff_user(role=STORE_STAFF))
    return client


@pytest.fixture
def member() -> Member:
    shop = factories.store(name="Södermalm")
    return factories.member_with_user(
        first_name="Karin",
        last_name="Lind",
        phone="+46701234567",
        email="karin@example.se",
        home_store=shop,
    )


def _find(client: Client, term: str):  # type: ignore[no-untyped-def]
    return client.get(reverse("desk:home"), {"q": term})


@pytest.mark.parametrize(
    "term",
    ["card", "070-123 45 67", "+46 70 123 45 67", "0046701234567", "number", "KARIN@example.se"],
)
def test_one_match_opens_the_customer_view(staff_client: Client, member: Member, term: str) -> None:
    if term == "card":
        term = card_qr_payload(member)
    elif term == "number":
        term = member.membership_number
    response = _find(staff_client, term)
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:member", args=[member.pk])


def test_a_shared_phone_lists_every_member_to_choose_from(
    staff_client: Client, member: Member
) -> None:
    other = factories.member_with_user(first_name="Olle", last_name="Lind", phone="+46701234567")
    response = _find(staff_client, "0701234567")
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 members match" in page
    for m in (member, other):
        assert reverse("desk:member", args=[m.pk]) in page
    # a list is no view of one member's data: nothing is logged
    assert not AccessLog.objects.exists()


def test_an_unknown_or_forged_code_says_so_and_finds_nobody(
    staff_client: Client, member: Member
) -> None:
    response = _find(staff_client, "0709999999")
    assert response.status_code == 404
    assert "No member found for" in response.content.decode()
    forged = card_qr_payload(member)[:-3] + "abc"
    response = _find(staff_client, forged)
    assert response.status_code == 404
    assert "The card code is not valid." in response.content.decode()
    # a card whose token was rotated (a leaked screenshot) finds nobody
    old = card_qr_payload(member)
    card_token_rotate(member=member, actor=None)
    response = _find(staff_client, old)
    assert response.status_code == 404
    assert "No member matches that identifier." in response.content.decode()


def test_the_customer_view_shows_every_section_and_logs_one_access(
    staff_client: Client, member: Member
) -> None:
    shop = member.home_store
    assert shop is not None
    rf.purchase(store=shop, member=member, lines=[rf.line(sku="SKU-RUN", price_ore=129800)])
    rf.earned(member, 500)
    rf.claim(
        member,
        rf.reward(code="coffee", name_sv="Gratis kaffe", name_en="Free coffee", points_cost=100),
    )
    response = staff_client.get(reverse("desk:member", args=[member.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Karin Lind" in page
    assert "070-123 45 67" in page
    for heading in (
        "Points and tier",
        "Vouchers and tickets",
        "What the member allows",
        "Latest purchases",
        "Challenges in progress",
        "Latest events",
    ):
        assert heading in page
    # the timeline in words, not codes: the purchase and the claim, where and how
    assert "Bought for 1,298.00 kr in Södermalm" in page
    assert "Chose the reward Free coffee" in page  # the timeline speaks the page's language
    assert ">purchased<" not in page
    assert "reward_claimed" not in page
    # names of rewards and tiers in the member's language (Swedish), the page in the staff's
    assert "Gratis kaffe" in page
    assert "SKU-RUN" in page
    assert list(AccessLog.objects.values_list("member_id", "view")) == [(member.pk, "desk")]


def test_check_in_counts_once_per_store_and_day(staff_client: Client, member: Member) -> None:
    EventRule.objects.create(
        event=EventRule.Event.CHECK_IN, points=25, name_sv="Incheckning", name_en="Check-in"
    )
    url = reverse("desk-rewards:check-in", args=[member.pk])
    for _ in range(2):  # a double tap
        response = staff_client.post(url, {"store": member.home_store_id}, follow=True)
        assert response.status_code == 200
    assert "Karin is checked in at Södermalm" in response.content.decode()
    assert CheckIn.objects.filter(member=member).count() == 1
    assert balance_get(member=member)["pending"] + balance_get(member=member)["available"] == 25
    event = ActivityEvent.objects.get(member=member, kind=Kind.CHECKED_IN)
    assert event.source == "desk"
    assert event.actor is not None


@pytest.mark.django_db(transaction=True)
def test_the_same_member_checked_in_from_two_tablets_at_once_counts_once(
    member: Member,
) -> None:
    from members.models import User
    from rewards.rules.events import checkin_record_by_staff

    staff = factories.staff_user(role=STORE_STAFF)
    store = member.home_store
    assert store is not None
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def tap() -> None:
        try:
            barrier.wait()
            checkin_record_by_staff(member=member, store=store, staff=User.objects.get(pk=staff.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert CheckIn.objects.filter(member=member).count() == 1
    assert ActivityEvent.objects.filter(member=member, kind=Kind.CHECKED_IN).count() == 1


def test_adjust_points_needs_a_reason_and_changes_nothing_without_one(
    staff_client: Client, member: Member
) -> None:
    url = reverse("desk-rewards:adjust-points", args=[member.pk])
    response = staff_client.post(
        url, {"points": "50", "reason": "", "idempotency_key": "desk:k1"}, follow=True
    )
    assert "This field is required." in response.content.decode()
    assert not LedgerEntry.objects.filter(member=member).exists()
    response = staff_client.post(
        url, {"points": "50", "reason": "Damaged goods", "idempotency_key": "desk:k1"}, follow=True
    )
    assert "50 points were adjusted: Damaged goods" in response.content.decode()
    assert balance_get(member=member)["available"] == 50
    # the same form sent again (a double tap) does not adjust twice
    staff_client.post(
        url, {"points": "50", "reason": "Damaged goods", "idempotency_key": "desk:k1"}
    )
    assert balance_get(member=member)["available"] == 50


def test_a_voucher_used_in_store_is_used_once(staff_client: Client, member: Member) -> None:
    rf.earned(member, 500)
    rf.claim(member, rf.reward(code="bag", points_cost=100))
    voucher = Voucher.objects.get(member=member)
    url = reverse("desk-rewards:voucher-use", args=[member.pk, voucher.pk])
    response = staff_client.post(url, {"store": member.home_store_id}, follow=True)
    assert "The voucher was marked as used." in response.content.decode()
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert voucher.used_store_id == member.home_store_id
    # another member's voucher cannot be reached through this member's desk
    other = factories.member_with_user()
    rf.earned(other, 500)
    rf.claim(other, rf.reward(code="mug", points_cost=100))
    theirs = Voucher.objects.get(member=other)
    response = staff_client.post(
        reverse("desk-rewards:voucher-use", args=[member.pk, theirs.pk]),
        {"store": member.home_store_id},
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Voucher.Status.ISSUED


def test_consent_given_in_store_names_the_staff_member(
    staff_client: Client, member: Member
) -> None:
    from consent.selectors import purposes_needing_consent_list

    purpose = purposes_needing_consent_list()[0]
    response = staff_client.post(
        reverse("desk-consent:given-in-store", args=[member.pk]),
        {"purpose": purpose.pk},
        follow=True,
    )
    assert "The consent was recorded." in response.content.decode()
    event = ConsentEvent.objects.get(member=member, purpose=purpose)
    assert event.source == ConsentEvent.Source.STORE
    assert event.actor is not None
    assert event.actor.is_staff
    assert ConsentState.objects.get(member=member, purpose=purpose).granted


@pytest.mark.parametrize(
    ("role", "status"),
    [(STORE_STAFF, 200), (DATA_PROTECTION_OFFICER, 200), (ADMINISTRATOR, 200), (MARKETER, 403)],
)
def test_only_roles_that_see_members_open_the_desk(member: Member, role: str, status: int) -> None:
    client = Client()
    client.force_login(factories.staff_user(role=role))
    assert client.get(reverse("desk:member", args=[member.pk])).status_code == status
    assert client.get(reverse("desk:home")).status_code == status


def test_the_dpo_sees_but_cannot_act(member: Member) -> None:
    client = Client()
    client.force_login(factories.staff_user(role=DATA_PROTECTION_OFFICER))
    page = client.get(reverse("desk:member", args=[member.pk])).content.decode()
    assert reverse("desk-rewards:check-in", args=[member.pk]) not in page
    response = client.post(
        reverse("desk-rewards:check-in", args=[member.pk]), {"store": member.home_store_id}
    )
    assert response.status_code == 403
    assert not CheckIn.objects.exists()


def test_members_and_strangers_are_sent_to_the_back_office_login(member: Member) -> None:
    response = Client().get(reverse("desk:member", args=[member.pk]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client = Client()
    client.force_login(member.user)
    response = client.get(reverse("desk:home"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_next_best_offer_is_shown_with_its_reason_only_with_profiling_consent(
    staff_client: Client, member: Member
) -> None:
    from tests.factories import consent as consent_factories
    from tests.factories.personalisation import recommendation_with_every_field

    recommendation_with_every_field(member)
    url = reverse("desk:member", args=[member.pk])
    page = staff_client.get(url).content.decode()
    assert "Regnjacka" not in page
    assert "has not said yes to personal offers" in page  # why there is none
    consent_factories.granted(member, "profiling")
    page = staff_client.get(url).content.decode()
    assert 'data-testid="desk-nbo">Regnjacka<' in page
    assert "Stövlar" in page  # the reason, in the member's language: "... köpte Stövlar ..."
    # with consent but nothing computed yet, staff learn when it comes
    from campaigns.models import MemberRecommendation

    MemberRecommendation.objects.filter(member=member).delete()
    page = staff_client.get(url).content.decode()
    assert "they are computed every night" in page


def test_arrivals_list_todays_check_ins_from_the_door_and_the_desk(
    staff_client: Client, member: Member
) -> None:
    from rewards.rules.events import checkin_record

    other_store = factories.store(name="Kungsholmen")
    door = factories.member_with_user(first_name="Olle", last_name="Berg")
    checkin_record(member=door, store=other_store, idempotency_key="door-scanner-1")
    staff_client.post(
        reverse("desk-rewards:check-in", args=[member.pk]), {"store": member.home_store_id}
    )
    # the desk now works at Södermalm (the store last chosen): only its arrivals
    page = staff_client.get(reverse("desk:home")).content.decode()
    assert "Arrived today at Södermalm" in page
    assert "Karin Lind" in page
    assert "Olle Berg" not in page
    fragment = staff_client.get(reverse("desk-arrivals:list")).content.decode()
    assert fragment.lstrip().startswith("<section")
    assert "Karin Lind" in fragment
    # before any store is chosen, every store's arrivals
    fresh = Client(HTTP_ACCEPT_LANGUAGE="en")
    fresh.force_login(factories.staff_user(role=STORE_STAFF))
    page = fresh.get(reverse("desk:home")).content.decode()
    assert "Karin Lind" in page
    assert "Olle Berg" in page
    assert "Kungsholmen" in page
    # a list of names is not a view of one member's data
    assert not AccessLog.objects.exclude(view="desk").exists()


def test_staff_send_the_confirmation_mail_again_once_in_a_while(
    staff_client: Client, mailoutbox: list, django_capture_on_commit_callbacks
) -> None:
    from allauth.account.models import EmailAddress

    member = factories.member_with_user(first_name="Nils", verified=False)
    page = staff_client.get(reverse("desk:member", args=[member.pk])).content.decode()
    assert "not confirmed" in page
    url = reverse("desk:verification-resend", args=[member.pk])
    with django_capture_on_commit_callbacks(execute=True):  # mails leave through a task
        response = staff_client.post(url, follow=True)
    assert f"A new confirmation link was sent to {member.user.email}." in response.content.decode()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [member.user.email]
    assert "/konto/confirm-email/" in mailoutbox[0].body
    # a second tap right away sends nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, follow=True)
    assert "A mail was sent a moment ago." in response.content.decode()
    assert len(mailoutbox) == 1
    # a confirmed address gets no mail and no button
    EmailAddress.objects.filter(user=member.user).update(verified=True)
    page = staff_client.get(reverse("desk:member", args=[member.pk])).content.decode()
    assert url not in page


def test_an_invitation_ticket_shows_its_event(staff_client: Client, member: Member) -> None:
    from django.utils import timezone

    from rewards.models import Reward

    rf.earned(member, 500)
    rf.claim(
        member,
        rf.reward(
            code="kvall",
            kind=Reward.Kind.INVITATION,
            name_sv="Löparkväll",
            amount_off_ore=None,
            event_starts_at=timezone.now() + timezone.timedelta(days=2),
            event_place="Södermalm",
            points_cost=100,
        ),
    )
    page = staff_client.get(reverse("desk:member", args=[member.pk])).content.decode()
    assert "Löparkväll" in page
    assert "ticket for" in page


def test_the_timeline_speaks_in_sentences_in_the_pages_language(member: Member) -> None:
    from consent.services.consent import consent_set

    consent_set(member=member, purpose="marketing_email", granted=True, source="web")
    consent_set(member=member, purpose="profiling", granted=True, source="web")
    shop = member.home_store
    assert shop is not None
    rf.purchase(store=shop, member=member, lines=[rf.line(price_ore=129800)])
    client = Client(HTTP_ACCEPT_LANGUAGE="sv")
    client.force_login(factories.staff_user(role=STORE_STAFF))
    client.cookies["django_language"] = "sv"
    page = client.get(reverse("desk:member", args=[member.pk])).content.decode()
    assert (
        "Köpte för 1\xa0298,00 kr i Södermalm" in page
        or "Köpte för 1 298,00 kr i Södermalm" in page
    )
    assert "Gav samtycke till Erbjudanden via e-post" in page
    assert "Gav samtycke till Personliga erbjudanden" in page
    assert " via E-post" not in page


@pytest.mark.django_db(transaction=True)
def test_a_voucher_used_at_the_desk_and_at_the_till_at_once_is_used_once(
    member: Member,
) -> None:
    from rewards.errors import VoucherUsedError
    from rewards.loyalty.catalogue import voucher_redeem

    rf.earned(member, 500)
    rf.claim(member, rf.reward(code="bag", points_cost=100))
    voucher = Voucher.objects.get(member=member)
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(factories.staff_user(role=STORE_STAFF))
    url = reverse("desk-rewards:voucher-use", args=[member.pk, voucher.pk])
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def desk() -> None:
        try:
            barrier.wait()
            page = staff.post(url, {"store": member.home_store_id}, follow=True)
            text = page.content.decode()
            outcomes["desk"] = "used" if "The voucher was marked as used." in text else text
        finally:
            connection.close()

    def till() -> None:
        try:
            barrier.wait()
            voucher_redeem(code=voucher.code, store=member.home_store, idempotency_key="till-1")
            outcomes["till"] = "used"
        except VoucherUsedError:
            outcomes["till"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=desk), threading.Thread(target=till)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # exactly one of them used it; the other was told so, clearly
    assert sorted(v if v in ("used", "refused") else "refused-page" for v in outcomes.values()) in (
        ["refused", "used"],
        ["refused-page", "used"],
    ), outcomes
    if outcomes["desk"] != "used":
        assert "already been used" in outcomes["desk"]
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert ActivityEvent.objects.filter(member=member, kind=Kind.VOUCHER_USED).count() == 1


def test_staff_activate_a_members_offer_at_the_desk(staff_client: Client, member: Member) -> None:
    from campaigns.models import MemberOffer, Offer
    from rewards.models import Category
    from tests.factories import campaigns as cf

    coffee = Category.objects.create(code="kaffe", name="Kaffe")
    offer = cf.offer(
        kind=Offer.Kind.BONUS_POINTS, title_en="Double points on coffee", category=coffee
    )
    campaign = cf.campaign(offer_obj=offer)
    mine = MemberOffer.objects.create(member=member, offer=offer, campaign=campaign)
    page = staff_client.get(reverse("desk:member", args=[member.pk])).content.decode()
    action = reverse("desk-campaigns:offer-activate", args=[member.pk, mine.pk])
    assert f'action="{action}"' in page
    assert "Activate for the member" in page

    answer = staff_client.post(action, follow=True).content.decode()
    assert "The offer is activated: it counts on the member&#x27;s purchases." in answer
    mine.refresh_from_db()
    assert mine.status == MemberOffer.Status.ACTIVE
    event = ActivityEvent.objects.get(member=member, kind=Kind.OFFER_ACTIVATED)
    assert event.source == "desk"
    assert event.actor is not None
    assert event.actor.is_staff  # the staff member, not the member
    # once active there is nothing more to activate, and saying so changes nothing
    answer = staff_client.post(action, follow=True).content.decode()
    assert "already active" in answer
    assert ActivityEvent.objects.filter(member=member, kind=Kind.OFFER_ACTIVATED).count() == 1
    # another member's offer cannot be reached through this member's desk
    other = factories.member_with_user()
    theirs = MemberOffer.objects.create(member=other, offer=offer, campaign=campaign)
    url = reverse("desk-campaigns:offer-activate", args=[member.pk, theirs.pk])
    assert staff_client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == MemberOffer.Status.AVAILABLE


def test_the_member_record_and_the_desk_lead_to_each_other_and_to_every_point(
    staff_client: Client, member: Member
) -> None:
    # the member's back-office record opens the desk, even for a member with no balance yet
    record = staff_client.get(reverse("admin:members_member_change", args=[member.pk]))
    desk = reverse("desk:member", args=[member.pk])
    assert f'href="{desk}"' in record.content.decode()
    # and the desk's points section opens the points page, entry by entry
    page = staff_client.get(desk).content.decode()
    points = reverse("admin:rewards_member_points", args=[member.pk])
    assert f'href="{points}"' in page
    assert staff_client.get(points).status_code == 200


def test_the_back_office_member_search_finds_a_scanned_card(
    staff_client: Client, member: Member
) -> None:
    # a USB scanner types the card's QR into the member list's search box
    other = factories.member_with_user(first_name="Nils")
    url = reverse("admin:members_member_changelist")
    page = staff_client.get(url, {"q": card_qr_payload(member)}).content.decode()
    assert reverse("admin:members_member_change", args=[member.pk]) in page
    assert reverse("admin:members_member_change", args=[other.pk]) not in page
    # a forged code finds nobody (and is no error page)
    forged = staff_client.get(url, {"q": card_qr_payload(member)[:-3] + "abc"})
    assert forged.status_code == 200
    assert reverse("admin:members_member_change", args=[member.pk]) not in forged.content.decode()
