"""``__in`` rendering of config.db.postgresql: a long list of values is ``= ANY(%s)`` with
one array parameter, and finds exactly the rows Django's own ``IN (...)`` finds, for every
column type, with parameters bound on the server and on the client."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.backends.postgresql.compiler import SQLCompiler as DjangoSQLCompiler
from django.db.models import ExpressionWrapper, F, Transform
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext, register_lookup
from django.utils import timezone

from config.db.postgresql.compiler import IN_LIST_MAX
from members.models import Member

# Tables of their own, created and dropped by the fixture (no app, no migration).
APP = "kk_db_probe"


class ProbeGroup(models.Model):
    name = models.CharField(max_length=10)

    class Meta:
        app_label = APP
        db_table = "kk_db_probe_group"

    def __str__(self) -> str:
        return self.name


class Colour(models.TextChoices):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    INDIGO = "indigo"
    VIOLET = "violet"
    BLACK = "black"
    WHITE = "white"
    GREY = "grey"


class Size(models.IntegerChoices):
    XXS = 1
    XS = 2
    S = 3
    M = 4
    L = 5
    XL = 6
    XXL = 7
    XXXL = 8
    HUGE = 9
    GIANT = 10


class Probe(models.Model):
    small = models.SmallIntegerField(null=True)
    number = models.IntegerField(null=True)
    big = models.BigIntegerField(null=True)
    code = models.CharField(max_length=10, null=True)  # noqa: DJ001 - NULL is a case
    text = models.TextField(null=True)  # noqa: DJ001
    key = models.UUIDField(null=True)
    day = models.DateField(null=True)
    at = models.DateTimeField(null=True)
    clock = models.TimeField(null=True)
    span = models.DurationField(null=True)
    amount = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    ratio = models.FloatField(null=True)
    raw = models.BinaryField(null=True)
    colour = models.CharField(max_length=6, choices=Colour.choices, null=True)  # noqa: DJ001
    size = models.IntegerField(choices=Size.choices, null=True)
    group = models.ForeignKey(ProbeGroup, null=True, on_delete=models.DO_NOTHING, related_name="+")
    tags = ArrayField(models.CharField(max_length=10), null=True)
    data = models.JSONField(null=True)

    class Meta:
        app_label = APP
        db_table = "kk_db_probe"

    def __str__(self) -> str:
        return f"probe {self.pk}"


ROWS = 20
BASE_AT = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)


def key(i: int) -> uuid.UUID:
    return uuid.UUID(int=i)


def probe_values(i: int) -> dict[str, Any]:
    return {
        "small": i,
        "number": i * 1000,
        "big": 2**40 + i,
        "code": f"c{i:02d}",
        "text": f"text {i}",
        "key": key(i),
        "day": datetime.date(2026, 1, 1) + datetime.timedelta(days=i),
        "at": BASE_AT + datetime.timedelta(minutes=i),
        "clock": datetime.time(8, i),
        "span": datetime.timedelta(seconds=i),
        "amount": decimal.Decimal(i) / 4,
        "ratio": i / 8,
        "raw": bytes([i]),
        "colour": list(Colour)[i % 10].value,
        "size": list(Size)[i % 10].value,
        "tags": [f"t{i}", f"t{i % 3}"],
        "data": {"k": i, "s": f"v{i}"},
    }


@pytest.fixture
def probes(binding: str) -> Iterator[list[Probe]]:
    """``ROWS`` probes with values in every column, and one with none."""
    with connection.schema_editor() as editor:
        editor.create_model(ProbeGroup)
        editor.create_model(Probe)
    try:
        groups = ProbeGroup.objects.bulk_create([ProbeGroup(name=f"g{i}") for i in range(ROWS)])
        rows = [Probe(group=groups[i - 1], **probe_values(i)) for i in range(1, ROWS + 1)]
        yield [*Probe.objects.bulk_create(rows), Probe.objects.create()]
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Probe)
            editor.delete_model(ProbeGroup)


def ids(queryset: models.QuerySet[Any]) -> list[int]:
    return sorted(queryset.values_list("pk", flat=True))


def django_ids(queryset: models.QuerySet[Any]) -> list[int]:
    """The rows Django's own PostgreSQL compiler finds for ``queryset``."""
    query = queryset.values_list("pk", flat=True).query
    try:
        sql, params = DjangoSQLCompiler(query, connection, "default").as_sql()
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def rendered(queryset: models.QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    return queryset.query.get_compiler(connection=connection).as_sql()


@dataclass
class Rows:
    probes: list[Probe]
    groups: list[ProbeGroup]
    wanted: list[int]  # 1-based numbers of the rows a case asks for


def picked(field: str) -> Callable[[Rows], list[Any]]:
    return lambda rows: [probe_values(i)[field] for i in rows.wanted]


# (case, lookup, values, rendered as ANY): every list is longer than IN_LIST_MAX and
# holds values that no row has.
TYPE_CASES: list[tuple[str, str, Callable[[Rows], list[Any]], bool]] = [
    ("smallint", "small", lambda r: [*picked("small")(r), 101, 102, 103], True),
    ("integer", "number", lambda r: [*picked("number")(r), 101, 102], True),
    ("bigint", "big", lambda r: [*picked("big")(r), 101, -(2**62)], True),
    ("bigint primary key", "pk", lambda r: [r.probes[i - 1].pk for i in r.wanted] + [0], True),
    ("varchar", "code", lambda r: [*picked("code")(r), "c99", "nope"], True),
    ("varchar, a longer value", "code", lambda r: [*picked("code")(r), "c01-x"], True),
    ("text", "text", lambda r: [*picked("text")(r), "text 99", ""], True),
    ("ints as text", "number", lambda r: [str(v) for v in picked("number")(r)] + ["7"], True),
    ("uuid", "key", lambda r: [*picked("key")(r), key(999)], True),
    ("uuid given as text", "key", lambda r: [str(v) for v in picked("key")(r)] + ["0" * 32], True),
    ("date", "day", lambda r: [*picked("day")(r), datetime.date(1999, 1, 1)], True),
    ("dates given as text", "day", lambda r: [v.isoformat() for v in picked("day")(r)], True),
    ("timestamptz", "at", lambda r: [*picked("at")(r), BASE_AT], True),
    ("local times", "at", lambda r: [timezone.localtime(v) for v in picked("at")(r)], True),
    ("time", "clock", lambda r: [*picked("clock")(r), datetime.time(23, 59)], True),
    ("interval", "span", lambda r: [*picked("span")(r), datetime.timedelta(days=9)], True),
    ("numeric", "amount", lambda r: [*picked("amount")(r), decimal.Decimal("0.01")], True),
    ("numeric given ints and floats", "amount", lambda r: [i / 4 for i in r.wanted] + [0, 1], True),
    ("double precision", "ratio", lambda r: [*picked("ratio")(r), 0.001], True),
    ("bytea (Django wraps it)", "raw", lambda r: [*picked("raw")(r), b"-"], False),
    ("TextChoices members", "colour", lambda r: list(Colour), True),
    ("TextChoices members and strings", "colour", lambda r: [*Colour, "pink", "red"], True),
    ("IntegerChoices members", "size", lambda r: [*Size, 99], True),
    ("foreign key, ids", "group", lambda r: [r.groups[i - 1].pk for i in r.wanted] + [0], True),
    ("foreign key, instances", "group", lambda r: [r.groups[i - 1] for i in r.wanted], True),
    ("foreign key column", "group_id", lambda r: [r.groups[i - 1].pk for i in r.wanted], True),
    ("related field", "group__name", lambda r: [f"g{i}" for i in r.wanted] + ["x"], True),
    ("ArrayField element", "tags__0", lambda r: [f"t{i}" for i in r.wanted] + ["zz"], True),
    ("ArrayField length", "tags__len", lambda r: list(range(1, 12)), True),
    ("ArrayField values (ANY would flatten)", "tags", lambda r: picked("tags")(r), False),
    ("JSONField key (its own lookup)", "data__k", lambda r: [*r.wanted, 101], False),
    ("JSONField key, text", "data__s", lambda r: [f"v{i}" for i in r.wanted] + ["zz"], False),
    ("JSONField values", "data", lambda r: picked("data")(r), False),
]
ROWS_WANTED = [1, 2, 3, 5, 8, 13, 15, 19, 20]


class UpperBilateral(Transform):
    lookup_name = "upper_bilateral"
    function = "UPPER"
    bilateral = True


def test_every_column_type_finds_what_django_finds(probes):
    groups = list(ProbeGroup.objects.order_by("pk"))
    rows = Rows(probes=probes, groups=groups, wanted=ROWS_WANTED)
    for case, lookup, make, as_any in TYPE_CASES:
        values = make(rows)
        assert len(values) > IN_LIST_MAX, case
        queryset = Probe.objects.filter(**{f"{lookup}__in": values})
        # None is dropped from the list (ArrayField's own lookup cannot take it at all)
        excluded = Probe.objects.exclude(
            **{f"{lookup}__in": values if lookup == "tags" else [*values, None]}
        )

        found = ids(queryset)

        assert found, case
        assert found == django_ids(queryset), case
        assert ids(excluded) == django_ids(excluded), case
        sql, params = rendered(queryset)
        assert ("= ANY(%s" in sql) is as_any, case
        if as_any:
            assert sum(isinstance(param, list) for param in params) == 1, case


def test_rows_found_by_type(probes):
    # spot checks against the data itself, not only against Django's rendering
    def found(**lookup: Any) -> list[int]:
        return sorted(Probe.objects.filter(**lookup).values_list("small", flat=True))

    assert found(small__in=[*ROWS_WANTED, 999]) == ROWS_WANTED
    assert found(code__in=["c01-longer", *[f"c{i:02d}" for i in range(2, 12)]]) == list(
        range(2, 12)
    )
    assert found(key__in=[str(key(i)) for i in ROWS_WANTED] + [key(1000)]) == ROWS_WANTED
    assert found(at__in=[BASE_AT + datetime.timedelta(minutes=i) for i in ROWS_WANTED]) == (
        ROWS_WANTED
    )
    assert found(colour__in=[Colour.RED, Colour.ORANGE, *Colour]) == list(range(1, ROWS + 1))
    assert found(big__in=[2**40 + i for i in range(1, 10)] + [-(2**62)]) == list(range(1, 10))


def test_long_lists_are_one_array_parameter(probes):
    pks = [p.pk for p in probes]
    values = list(range(1, 70_001))

    with CaptureQueriesContext(connection) as queries:
        by_pk = ids(Probe.objects.filter(pk__in=[*values, *pks]))
        by_number = ids(Probe.objects.filter(number__in=[v * 1000 for v in values]))
        beyond_bigint = ids(Probe.objects.filter(pk__in=[*pks, *range(2**70, 2**70 + 20)]))

    assert by_pk == beyond_bigint == pks
    assert by_number == pks[:ROWS]
    # primary keys are plain ints: the array is cast to the column's type, unless a value
    # does not fit it; integer fields' values come typed (psycopg's Int4) from Django
    assert "::bigint[]" in queries[0]["sql"]
    assert "::integer[]" in queries[1]["sql"] or "'::int4[]" in queries[1]["sql"]
    assert "::bigint[]" not in queries[2]["sql"]
    assert all("= ANY(" in query["sql"] for query in queries)


def test_long_arrays_are_not_prepared(probes, binding):
    # Given parameters bound on the server, and two queries run ten times on a connection:
    # one with a short array, one with a long one
    if binding != "server":
        pytest.skip("statements are prepared only with server-side binding")
    short = list(range(1, 20))
    long = list(range(1, 1000))
    for _run in range(10):
        ids(Probe.objects.filter(number__in=short))
        ids(Probe.objects.filter(small__in=long))

    # Then only the short one became a prepared statement: a generic plan chosen on short
    # arrays never runs a long one
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('"number" = ANY($1::integer[])' in sql for sql in prepared)
    assert not any('"small" = ANY(' in sql for sql in prepared)


def test_short_lists_stay_django_in(probes):
    sql, params = rendered(Probe.objects.filter(number__in=[1000, 2000, None, 1000]))

    assert sql.endswith('"kk_db_probe"."number" IN (%s, %s)')
    assert list(params) == [1000, 2000]
    assert ids(Probe.objects.filter(number__in=[1000, 2000])) == [probes[0].pk, probes[1].pk]


def test_empty_and_none_keep_djangos_meaning(probes):
    everyone = ids(Probe.objects.all())
    with CaptureQueriesContext(connection) as queries:
        assert ids(Probe.objects.filter(number__in=[])) == []
        assert ids(Probe.objects.filter(number__in=[None] * 20)) == []
    assert queries.captured_queries == []  # EmptyResultSet: no query at all

    values = [None, *[i * 1000 for i in range(1, 12)]]
    with_none = Probe.objects.filter(number__in=values)
    assert rendered(with_none)[1][-1] == [i * 1000 for i in range(1, 12)]  # None dropped
    assert ids(with_none) == [p.pk for p in probes[:11]]
    # NULL is in no list, and exclude() keeps the row whose value is NULL, as Django does
    excluded = Probe.objects.exclude(number__in=values)
    assert ids(excluded) == django_ids(excluded) == [p.pk for p in probes[11:]]
    assert ids(Probe.objects.exclude(number__in=[])) == everyone


def test_subqueries_expressions_transforms_and_mixed_types_stay_djangos(probes):
    untyped = Probe.objects.annotate(n=ExpressionWrapper(F("small"), output_field=models.Field()))
    cases = {
        "subquery": Probe.objects.filter(pk__in=Probe.objects.filter(small__lt=5).values("pk")),
        "expressions": Probe.objects.filter(number__in=[F("small"), *range(1000, 12000, 1000)]),
        # psycopg refuses an array of mixed types
        "ints and decimals": untyped.filter(n__in=[*range(1, 6), *map(decimal.Decimal, "6789")]),
    }
    with register_lookup(models.CharField, UpperBilateral):
        cases["bilateral transform"] = Probe.objects.filter(
            code__upper_bilateral__in=[f"c{i:02d}" for i in range(1, 12)]
        )
        for case, queryset in cases.items():
            sql, _params = rendered(queryset)
            assert "= ANY(%s" not in sql, case
            assert ids(queryset) == django_ids(queryset), case
    assert len(ids(cases["ints and decimals"])) == 9
    assert len(ids(cases["bilateral transform"])) == 11


def test_lookups_on_expressions_and_relations(probes):
    groups = list(ProbeGroup.objects.order_by("pk"))
    lowered = Probe.objects.annotate(low=Lower("code")).filter(
        low__in=[f"C{i:02d}".lower() for i in range(1, 12)]
    )
    related = Probe.objects.filter(group__name__in=[f"g{i}" for i in range(11)])
    instances = Probe.objects.filter(group__in=groups[:11])
    prefetched = list(ProbeGroup.objects.filter(pk__in=[g.pk for g in groups]).order_by("pk"))

    assert len(ids(lowered)) == 11
    assert ids(related) == django_ids(related)
    assert len(ids(related)) == 11
    assert ids(instances) == django_ids(instances)
    assert len(ids(instances)) == 11
    assert len(prefetched) == ROWS
    assert Probe.objects.in_bulk([p.pk for p in probes]).keys() == {p.pk for p in probes}


@pytest.mark.django_db
def test_project_models_render_long_lists_as_arrays():
    # Given a members queryset with a long list of ids, numbers and languages
    queryset = Member.objects.filter(
        pk__in=range(1, 20),
        membership_number__in=[str(n) for n in range(20)],
        preferred_language__in=[*Member.Language, "fi", "de", "no", "da", "is", "et", "lv"],
    )

    sql, params = rendered(queryset)

    assert '"members_member"."id" = ANY(%s::bigint[])' in sql
    assert '"members_member"."membership_number" = ANY(%s)' in sql
    assert '"members_member"."preferred_language" = ANY(%s)' in sql
    assert len(params) == 3
    assert list(queryset) == []
