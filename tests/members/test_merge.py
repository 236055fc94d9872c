"""Merging two members who are one person (issue 15, docs/merging.md): members' side.

Every relation to Member is moved by a step or stays on the tombstone for a stated reason
(read from the model graph), the timeline and profile move, the login moves or is joined,
both cards resolve to the survivor (desk, API identify, card look-up, admin search), the
tombstone holds no personal data, a second call changes nothing and refusals change nothing.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from consent.services.erasure import member_anonymise
from members.activation import Identifier, activation_candidate
from members.activity import Kind
from members.card import card_qr_payload
from members.door import store_door_path
from members.merging import (
    MERGE_STAYS,
    MergeConflictError,
    MergeError,
    member_merge,
)
from members.models import ActivityEvent, Member, MemberMerge, User
from members.roles import ADMINISTRATOR, STORE_STAFF
from members.selectors import (
    member_desk_find,
    member_get_by_card_payload,
    member_identify,
    member_resolve,
)
from members.services import member_create, member_update_profile
from rewards.models import CheckIn
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _relations_to_member() -> list[str]:
    """Every relation to Member in every installed app, ``<app>.<Model>.<field>``."""
    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and not field.auto_created and field.related_model is Member:
                found.append(f"{model._meta.app_label}.{model.__name__}.{field.name}")
    return sorted(found)


def _till_member(**fields: Any) -> Member:
    """A member who joined at a till: no login."""
    fields.setdefault("first_name", "Karin")
    fields.setdefault("last_name", "Lind")
    return member_create(join_channel=Member.JoinChannel.STORE, source="store", **fields)


def _rows() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "members": list(Member.objects.order_by("pk").values_list()),
        "users": list(User.objects.order_by("pk").values_list()),
        "events": list(ActivityEvent.objects.order_by("pk").values_list("pk", "member_id")),
        "addresses": list(EmailAddress.objects.order_by("pk").values_list()),
        "merges": list(MemberMerge.objects.values_list("pk")),
    }


def test_member_merge_every_relation_to_member_is_moved_or_stays_for_a_reason():
    # Given two members, and every relation to Member the installed apps define
    survivor, merged = factories.member_with_user(), factories.member_with_user()
    relations = _relations_to_member()
    assert "members.ActivityEvent.member" in relations  # the graph is really read

    # When they are merged
    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then each relation is reported moved by a step (a count, 0 when there was nothing) or
    # is listed in MERGE_STAYS with the reason it stays on the tombstone
    undecided = [r for r in relations if r not in audit.moved and r not in MERGE_STAYS]
    assert undecided == [], f"no merge decision for: {undecided}"
    both = [r for r in relations if r in audit.moved and r in MERGE_STAYS]
    assert both == [], f"moved and said to stay: {both}"
    assert all(reason.strip() for reason in MERGE_STAYS.values())
    stale = [key for key in MERGE_STAYS if key not in relations]
    assert stale == [], f"MERGE_STAYS names relations that do not exist: {stale}"


def test_member_merge_moves_the_timeline_and_fills_the_survivors_empty_profile():
    # Given a member who signed up online with nothing but a name and an email, and the same
    # person as a till member with a phone, birth date, postcode, home store and old id
    shop = factories.store(name="Kungsgatan")
    survivor = factories.member_with_user(first_name="Karin", last_name="Lind")
    merged = _till_member(
        phone="0701234567",
        birth_date=datetime.date(1985, 3, 14),
        postcode="114 55",
        home_store=shop,
    )
    Member.objects.filter(pk=merged.pk).update(
        external_id="OLD-77", joined_at=survivor.joined_at - datetime.timedelta(days=400)
    )
    merged.refresh_from_db()
    merged_events = set(ActivityEvent.objects.filter(member=merged).values_list("pk", flat=True))
    assert merged_events
    number, token = merged.membership_number, merged.card_token

    # When they are merged by staff, with a reason
    staff = factories.staff_user(role=ADMINISTRATOR)
    audit = member_merge(
        survivor_id=survivor.pk, merged_id=merged.pk, actor=staff, reason="Same person"
    )

    # Then the survivor has the merged member's timeline and the fields it lacked
    kept = Member.objects.get(pk=survivor.pk)
    assert merged_events <= set(
        ActivityEvent.objects.filter(member=kept).values_list("pk", flat=True)
    )
    assert not ActivityEvent.objects.filter(member_id=merged.pk).exists()
    assert (kept.phone, kept.birth_date, kept.postcode, kept.home_store_id) == (
        "+46701234567",
        datetime.date(1985, 3, 14),
        "114 55",
        shop.pk,
    )
    assert kept.external_id == "OLD-77"
    assert kept.joined_at == merged.joined_at  # a member since the earlier of the two
    assert (kept.first_name, kept.last_name) == ("Karin", "Lind")
    # and the tombstone keeps its number and card but nothing personal
    tombstone = Member.objects.get(pk=merged.pk)
    assert tombstone.merged_into_id == kept.pk
    assert tombstone.merged_at is not None
    assert (tombstone.membership_number, tombstone.card_token) == (number, token)
    assert (tombstone.first_name, tombstone.last_name, tombstone.phone, tombstone.postcode) == (
        "",
        "",
        "",
        "",
    )
    assert tombstone.birth_date is None
    assert tombstone.home_store_id is None
    assert tombstone.user_id is None
    assert tombstone.external_id is None
    # and the audit row says who, why and what moved; the survivor's timeline says merged
    assert (audit.survivor_id, audit.merged_id, audit.actor_id) == (kept.pk, merged.pk, staff.pk)
    assert audit.reason == "Same person"
    assert audit.moved["members.ActivityEvent.member"] == len(merged_events)
    assert audit.moved["members.profile_fields"] == 6
    event = ActivityEvent.objects.get(member=kept, kind=Kind.MERGED)
    assert event.data == {"merge": audit.pk, "merged_member": merged.pk}
    assert event.actor_id == staff.pk


def test_member_merge_keeps_the_survivors_own_values_and_the_tombstones_old_id():
    # Given both members with their own phone and an old system id each
    survivor = _till_member(phone="0701111111")
    merged = _till_member(phone="0702222222")
    Member.objects.filter(pk=survivor.pk).update(external_id="S-1")
    Member.objects.filter(pk=merged.pk).update(external_id="M-1")

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then the survivor's values win; the tombstone keeps its old id (an old import file
    # finds it and adds nobody), nothing else personal
    kept, tombstone = Member.objects.get(pk=survivor.pk), Member.objects.get(pk=merged.pk)
    assert (kept.phone, kept.external_id) == ("+46701111111", "S-1")
    assert (tombstone.phone, tombstone.external_id) == ("", "M-1")


def test_member_merge_gives_a_till_survivor_the_merged_members_login(client):
    # Given a till member without a login and the same person signed up online
    survivor = _till_member()
    merged = factories.member_with_user(email="karin@example.se")
    login = merged.user
    assert login is not None

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then the login is the survivor's: signing in lands on the survivor's pages
    assert Member.objects.get(pk=survivor.pk).user_id == login.pk
    assert Member.objects.get(pk=merged.pk).user_id is None
    response = client.post(
        reverse("account_login"), {"login": "karin@example.se", "password": PASSWORD}
    )
    assert response.status_code == 302
    page = client.get(reverse("members:card"))
    assert page.status_code == 200
    assert survivor.formatted_membership_number in page.content.decode()


def test_member_merge_with_two_logins_keeps_the_survivors_and_joins_the_addresses():
    # Given two logins, the merged member signed in on their phone
    survivor = factories.member_with_user(email="karin@example.se")
    merged = factories.member_with_user(email="karin.lind@jobb.se", password="another-pass-123")
    merged_user = merged.user
    assert merged_user is not None
    phone_session = Client()
    phone_session.force_login(merged_user)
    assert phone_session.get(reverse("members:card")).status_code == 200

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then the survivor's login stays and has the merged address as a secondary one
    address = EmailAddress.objects.get(email="karin.lind@jobb.se")
    assert (address.user_id, address.primary, address.verified) == (survivor.user_id, False, True)
    assert EmailAddress.objects.get(email="karin@example.se").primary
    # and the merged login is off and holds nothing personal
    old = User.objects.get(pk=merged_user.pk)
    assert not old.is_active
    assert not old.has_usable_password()
    assert old.email == f"merged-{merged.pk}@merged.invalid"
    assert not EmailAddress.objects.filter(user=old).exists()
    # and the open session on the phone lands on the survivor's pages
    page = phone_session.get(reverse("members:card"))
    assert page.status_code == 200
    assert survivor.formatted_membership_number in page.content.decode()
    # and the person signs in with either address and the survivor's password
    for email in ("karin.lind@jobb.se", "karin@example.se"):
        fresh = Client()
        response = fresh.post(reverse("account_login"), {"login": email, "password": PASSWORD})
        assert response.status_code == 302, email
        assert (
            survivor.formatted_membership_number
            in fresh.get(reverse("members:card")).content.decode()
        )


def test_member_merge_refuses_to_switch_off_a_staff_login():
    survivor = factories.member_with_user()
    merged = factories.member_with_user()
    assert merged.user is not None
    User.objects.filter(pk=merged.user.pk).update(is_staff=True)
    before = _rows()

    with pytest.raises(MergeError):
        member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    assert _rows() == before


def test_member_merge_both_cards_and_numbers_resolve_to_the_survivor(store):
    # Given two members merged
    survivor = factories.member_with_user(first_name="Karin", last_name="Lind")
    merged = _till_member(first_name="Karin", last_name="Lindh")
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    merged.refresh_from_db()

    # Then the card look-up and identify name the survivor for either card and number
    for member in (survivor, merged):
        assert member_get_by_card_payload(card_qr_payload(member)).pk == survivor.pk
        assert member_identify(card=card_qr_payload(member)).pk == survivor.pk
        assert member_identify(membership_number=member.membership_number).pk == survivor.pk
    assert member_resolve(merged).pk == survivor.pk

    # and the till's identify answers with the survivor
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=["members:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    for body in (
        {"card": card_qr_payload(merged)},
        {"membership_number": merged.membership_number},
    ):
        response = api.post("/api/v1/members/identify/", body, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["membership_number"] == survivor.membership_number

    # and the staff desk opens the survivor for the merged card, number or an old link
    desk = Client(HTTP_ACCEPT_LANGUAGE="en")
    desk.force_login(factories.staff_user(role=STORE_STAFF))
    target = reverse("desk:member", args=[survivor.pk])
    for term in (card_qr_payload(merged), merged.formatted_membership_number):
        found = desk.get(reverse("desk:home"), {"q": term})
        assert (found.status_code, found["Location"]) == (302, target), term
    old_link = desk.get(reverse("desk:member", args=[merged.pk]))
    assert old_link.status_code == 302
    assert old_link["Location"] == target


def test_member_admin_lists_no_tombstone_and_its_number_finds_the_survivor():
    survivor = _till_member(first_name="Karin", last_name="Lind")
    merged = _till_member(first_name="Karin", last_name="Lindh")
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    admin.force_login(factories.staff_user(superuser=True))
    changelist = reverse("admin:members_member_changelist")

    listed = admin.get(changelist).context["cl"].result_list
    searched = admin.get(changelist, {"q": merged.membership_number}).context["cl"].result_list
    tombstones = admin.get(changelist, {"merged": "yes"}).context["cl"].result_list

    assert survivor.pk in {m.pk for m in listed}
    assert merged.pk not in {m.pk for m in listed}
    assert [m.pk for m in searched] == [survivor.pk]
    assert [m.pk for m in tombstones] == [merged.pk]


def test_member_merge_a_second_time_changes_nothing():
    survivor, merged = factories.member_with_user(), _till_member()
    first = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    before = _rows()

    again = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    assert again.pk == first.pk
    assert _rows() == before
    assert ActivityEvent.objects.filter(member=survivor, kind=Kind.MERGED).count() == 1


@pytest.mark.parametrize("case", ["self", "erased", "merged_elsewhere", "into_a_tombstone"])
def test_member_merge_refusals_change_nothing(case):
    # Given members, one of them erased or already merged, as the case says
    a, b, c = _till_member(), factories.member_with_user(), _till_member()
    member_merge(survivor_id=c.pk, merged_id=a.pk)  # a is c's tombstone
    if case == "erased":
        member_anonymise(member_id=b.pk)
    before = _rows()
    pairs = {
        "self": (b.pk, b.pk, MergeError),
        "erased": (c.pk, b.pk, MergeConflictError),
        "merged_elsewhere": (b.pk, a.pk, MergeConflictError),
        "into_a_tombstone": (a.pk, b.pk, MergeConflictError),
    }
    survivor_id, merged_id, error = pairs[case]

    with pytest.raises(error):
        member_merge(survivor_id=survivor_id, merged_id=merged_id)

    assert _rows() == before


def test_member_merge_points_earlier_tombstones_at_the_new_survivor():
    # Given a merged into b, then b merged into c
    a, b, c = _till_member(), _till_member(), _till_member()
    member_merge(survivor_id=b.pk, merged_id=a.pk)
    member_merge(survivor_id=c.pk, merged_id=b.pk)

    # Then a points at c directly, and a's card and number name c
    a.refresh_from_db()
    assert a.merged_into_id == c.pk
    assert member_identify(card=card_qr_payload(a)).pk == c.pk
    assert member_identify(membership_number=a.membership_number).pk == c.pk
    assert set(Member.objects.get(pk=c.pk).merged_members.values_list("pk", flat=True)) == {
        a.pk,
        b.pk,
    }


def test_member_merge_the_merged_members_phone_checks_in_at_the_door_as_the_survivor():
    # Given the merged member signed in on their phone before the merge
    shop = factories.store(name="Södermalm")
    survivor = factories.member_with_user(first_name="Karin")
    merged = factories.member_with_user(first_name="Kajsa")
    assert merged.user is not None
    phone = Client(HTTP_ACCEPT_LANGUAGE="en")
    phone.force_login(merged.user)

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # When they scan the store's door poster (the page posts its form by itself)
    page = phone.post(store_door_path(shop), follow=True)

    # Then the survivor is checked in, greeted by the survivor's name
    assert page.status_code == 200
    assert "Welcome, Karin!" in page.content.decode()
    assert list(CheckIn.objects.values_list("member_id", flat=True)) == [survivor.pk]


def test_member_admin_shows_a_tombstone_read_only():
    survivor, merged = _till_member(), _till_member()
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    admin.force_login(factories.staff_user(superuser=True))
    url = reverse("admin:members_member_change", args=[merged.pk])

    page = admin.get(url)
    posted = admin.post(url, {"first_name": "Karin", "last_name": "Lind", "phone": "0701234567"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert posted.status_code == 403
    tombstone = Member.objects.get(pk=merged.pk)
    assert (tombstone.first_name, tombstone.phone) == ("", "")


def test_activation_by_a_merged_members_number_activates_the_survivor():
    # Given two till members without a login, merged
    survivor, merged = _till_member(), _till_member()
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # Then activation by either number finds the survivor, never the tombstone
    for number in (merged.membership_number, survivor.membership_number):
        found = activation_candidate(Identifier("number", number))
        assert found is not None
        assert found.pk == survivor.pk


def test_member_update_profile_of_a_tombstone_changes_the_survivor():
    # Given a profile change that was sent for the merged member and ran after the merge
    survivor, merged = factories.member_with_user(), _till_member()
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    changed = member_update_profile(member=merged, actor=None, postcode="41301")

    # Then it is the survivor's; the tombstone stays empty
    assert changed.pk == survivor.pk
    assert Member.objects.get(pk=survivor.pk).postcode == "413 01"
    assert Member.objects.get(pk=merged.pk).postcode == ""


def test_member_merge_the_merged_members_email_identifies_the_survivor():
    survivor = factories.member_with_user(email="karin@example.se")
    merged = factories.member_with_user(email="Karin.Lind@Jobb.se")
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    assert member_identify(email="karin.lind@jobb.se").pk == survivor.pk
    assert member_identify(email="KARIN@example.se").pk == survivor.pk
    assert [m.pk for m in member_desk_find("Karin.Lind@jobb.se")] == [survivor.pk]
