"""The till's hot-path statements (members.rows) build what the ORM builds."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from members.activity import activity_record
from members.models import ActivityEvent, ApiKey, Member
from members.rows import RowInserter
from members.selectors import api_key_by_prefix
from rewards.models import MemberTier
from rewards.selectors import member_by_number_with_tier, member_for_points
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def fields_of(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_api_key_by_prefix_is_the_querysets_key_with_its_store(store) -> None:
    # given a key whose JSON scopes, times and nullable columns are all set
    key, _secret = factories.api_key_with_secret(store_obj=store, scopes=["purchases:write"])
    ApiKey.objects.filter(pk=key.pk).update(
        last_used_at=datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
    )
    expected = ApiKey.objects.select_related("store").get(pk=key.pk)

    # when it is read by prefix
    with CaptureQueriesContext(connection) as queries:
        got = api_key_by_prefix(key.prefix)
        assert got is not None
        store_code = got.store.code

    # then the same field values, converted as the ORM converts them (scopes is a list),
    # the store cached on the key, in one query; and an instance the ORM can save
    assert len(queries) == 1
    assert fields_of(got) == fields_of(expected)
    assert got.scopes == ["purchases:write"]
    assert fields_of(got.store) == fields_of(expected.store)
    assert store_code == store.code
    assert got._state.adding is False
    assert got._state.db == "default"
    got.name = "renamed"
    got.save(update_fields=["name"])
    assert ApiKey.objects.get(pk=key.pk).name == "renamed"
    assert api_key_by_prefix("nosuchprefix") is None


def test_member_by_number_with_tier_matches_select_related(member) -> None:
    # given a member with a tier, and one without
    ladder = rf.ladder()
    MemberTier.objects.create(member=member, tier=ladder["guld"])
    plain = factories.member_with_user(first_name="Utan", last_name="Niva")

    for someone in (member, plain):
        expected = (
            Member.objects.filter(membership_number=someone.membership_number)
            .select_related("member_tier")
            .get()
        )
        # when read by membership number
        with CaptureQueriesContext(connection) as queries:
            got, bonus = member_by_number_with_tier(someone.membership_number)
            assert got is not None
            tier = getattr(got, "member_tier", None)

        # then the same member and tier (or the absent tier) without a second query
        assert len(queries) == 1
        assert bonus is None
        assert fields_of(got) == fields_of(expected)
        expected_tier = getattr(expected, "member_tier", None)
        assert (tier and fields_of(tier)) == (expected_tier and fields_of(expected_tier))
    assert member.member_tier.member is not None


def test_erased_and_unknown_members_are_not_found(member) -> None:
    # given an erased member
    Member.objects.filter(pk=member.pk).update(erased_at=datetime.datetime.now(datetime.UTC))

    # then neither the number nor a made-up one finds anyone
    assert member_by_number_with_tier(member.membership_number) == (None, None)
    assert member_by_number_with_tier("0000000000") == (None, None)
    from members.errors import UnknownMemberError

    with pytest.raises(UnknownMemberError):
        member_for_points({"membership_number": member.membership_number})


def test_row_inserter_writes_what_create_writes(member, store) -> None:
    # when one event is inserted by the ORM and one by the inserter
    data = {"purchase_id": 7, "points": 120, "note": "åäö"}
    by_orm = ActivityEvent.objects.create(
        member=member, kind="purchased", data=data, source="api", store=store
    )
    by_rows = RowInserter(ActivityEvent).insert(
        ActivityEvent(member=member, kind="purchased", data=data, source="api", store=store)
    )

    # then both rows read back alike (the default time set, the JSON intact, the id new)
    assert by_rows.pk is not None
    assert by_rows.pk != by_orm.pk
    assert by_rows._state.adding is False
    orm_row = fields_of(ActivityEvent.objects.get(pk=by_orm.pk))
    rows_row = fields_of(ActivityEvent.objects.get(pk=by_rows.pk))
    for row in (orm_row, rows_row):
        del row["id"]
        row.pop("created_at")
    assert rows_row == orm_row
    assert ActivityEvent.objects.get(pk=by_rows.pk).created_at == by_rows.created_at


def test_activity_record_returns_a_saved_event(member) -> None:
    event = activity_record(member=member, kind="profile_updated", data={"fields": ["phone"]})
    assert ActivityEvent.objects.get(pk=event.pk).data == {"fields": ["phone"]}


# --- CompiledQuery: querysets compiled once -------------------------------------------------


def test_compiled_query_builds_what_the_queryset_builds(member) -> None:
    from campaigns.personalisation import profiling, selectors
    from members.rows import CompiledQuery
    from tests.factories import consent as consent_factories
    from tests.factories import personalisation as pf

    rf.ladder()
    consent_factories.member_with_everything(member)
    other = factories.member_with_user(email="bo@example.se")
    consent_factories.member_with_everything(other)
    for who in (member, other):
        pf.recommendation_with_every_field(who)

    for who in (member, other):  # one statement, each member's own rows
        compiled = selectors._member_rows(who.pk, 10)
        expected = list(selectors._rows([who.pk], 10))
        assert [fields_of(r) for r in compiled] == [fields_of(r) for r in expected]
        assert compiled
        assert all(r.member_id == who.pk for r in compiled)
        for relation in ("product", "category", "reason_product", "reason_interest"):
            with CaptureQueriesContext(connection) as queries:
                related = [getattr(r, relation) for r in compiled]
            assert not queries.captured_queries  # select_related, as the queryset's
            assert [fields_of(x) if x else None for x in related] == [
                fields_of(x) if x else None for x in (getattr(r, relation) for r in expected)
            ]
    assert selectors._member_rows(member.pk, 0) == []
    assert profiling.may_profile(member.pk) is True

    with_user: CompiledQuery[Member] = CompiledQuery(
        lambda pk: Member.objects.filter(pk=pk).select_related("user"), "pk"
    )
    (loaded,) = with_user(pk=other.pk)
    assert fields_of(loaded) == fields_of(other)
    assert loaded.user is not None
    assert loaded.user.email == "bo@example.se"


def test_compiled_query_refuses_a_parameter_it_cannot_replace() -> None:
    from members.rows import CompiledQuery

    sliced: CompiledQuery[Member] = CompiledQuery(lambda n: Member.objects.order_by("pk")[:n], "n")
    with pytest.raises(ValueError, match="parameter of its own"):
        sliced(n=5)


def test_compiled_query_takes_id_lists_and_datetimes(member, store) -> None:
    from members.rows import CompiledQuery

    # given members joined at different times
    others = [factories.member_with_user(email=f"m{n}@example.se") for n in range(3)]
    everyone = [member, *others]
    joined = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for n, who in enumerate(everyone):
        Member.objects.filter(pk=who.pk).update(joined_at=joined + datetime.timedelta(days=n))
    query: CompiledQuery[Member] = CompiledQuery(
        lambda ids, since: Member.objects.filter(pk__in=ids, joined_at__gte=since).order_by("pk"),
        "ids",
        "since",
        lists=["ids"],
        datetimes=["since"],
    )

    # when it runs with lists of any length and with different times
    for ids, since in [
        ([m.pk for m in everyone], joined),
        ([others[0].pk], joined),
        ([], joined),
        ([m.pk for m in everyone], joined + datetime.timedelta(days=2)),
        ([*range(1, 200), member.pk], joined),
    ]:
        expected = list(Member.objects.filter(pk__in=ids, joined_at__gte=since).order_by("pk"))
        # then it finds what the queryset finds
        assert [fields_of(m) for m in query(ids=ids, since=since)] == [
            fields_of(m) for m in expected
        ]


def test_compiled_values_makes_the_querysets_dicts(member, store) -> None:
    from django.db.models import Count, Window

    from members.rows import CompiledValues
    from rewards.selectors import purchase_lines_rows, purchases_for_member_rows

    # given a member with purchases and lines
    for n in range(3):
        rf.purchase(
            store=store,
            member=member,
            lines=[rf.line(f"SKU-{n}", 1 + n, 4900), rf.line("SOCK", 1, 5000)],
        )

    # when their first page is read compiled and through the queryset
    def page(member_id: int) -> Any:
        return purchases_for_member_rows(member=member_id).annotate(total=Window(Count("pk")))[0:2]

    compiled = CompiledValues(page, "member_id")
    rows = compiled(member_id=member.pk)

    # then the same dicts (converted datetimes included), and none for another member
    assert rows == list(page(member.pk))
    assert len(rows) == 2
    assert rows[0]["total"] == 3
    assert rows[0]["purchased_at"].tzinfo is not None
    assert compiled(member_id=member.pk + 1000) == []
    ids = [row["id"] for row in rows]
    lines = purchase_lines_rows(ids)
    assert sorted(lines) == sorted(ids)
    assert all(len(found) == 2 for found in lines.values())
