"""Audience selection in SQL: stable hash buckets and the chunked INSERT ... SELECT.

Members are split by a stable hash of (campaign, member): ``md5`` of a salted string, its
first 32 bits modulo 10 000. The same function exists in Python (``bucket``, and ``assign``
for the variant and control split) for the campaign simulation, which reads only and assigns
its sample without writing rows; tests hold the twins to the SQL member by member
(tests/campaigns/test_sending.py). The holdout takes buckets
below ``holdout_percent x 100``; the variants share the rest of a second, independent hash
by their weights, so a variant's share does not depend on the holdout.

A fan-out chunk is one statement: the segment's ORM query for one member id range, with the
assignments as annotations, compiled by Django and wrapped in ``INSERT ... SELECT ... ON
CONFLICT DO NOTHING``: the SQL comes from the ORM's compiler, values are bound parameters,
and a chunk run twice inserts nothing the second time.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    F,
    Func,
    IntegerField,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast

from campaigns.models import Campaign, Delivery, SegmentMember, Variant
from campaigns.segments import members_matching
from members.models import Member

BUCKETS = 10_000


def salt(campaign_id: int, purpose: str) -> str:
    return f"{campaign_id}:{purpose}:"


def bucket(salt_value: str, member_id: int) -> int:
    """The Python twin of ``HashBucket`` (the simulation's split; must stay equal to it)."""
    digest = hashlib.md5(f"{salt_value}{member_id}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % BUCKETS


class HashBucket(Func):
    """``mod(('x' || substr(md5(salt || id), 1, 8))::bit(32)::bigint, 10000)``."""

    template = "mod(('x' || substr(md5(%(expressions)s), 1, 8))::bit(32)::bigint, 10000)"
    arg_joiner = " || "
    output_field = IntegerField()

    def __init__(self, salt_value: str, field: str = "pk") -> None:
        super().__init__(Value(salt_value, output_field=TextField()), Cast(F(field), TextField()))


def variant_thresholds(variants: list[Variant]) -> list[tuple[int, int]]:
    """[(variant id, upper bucket bound)] by code; the last variant takes the rest."""
    total = sum(v.weight for v in variants) or 1
    bounds, running = [], 0
    for variant in variants:
        running += variant.weight
        bounds.append((variant.pk, running * BUCKETS // total))
    return bounds


def assign(campaign: Campaign, variants: list[Variant], member_id: int) -> tuple[int, bool]:
    """(variant id, in control group) for one member: the Python twin of the split that
    ``insert_deliveries`` writes, for the simulation."""
    control = bucket(salt(campaign.pk, "holdout"), member_id) < campaign.holdout_percent * 100
    vb = bucket(salt(campaign.pk, "variant"), member_id)
    for variant_id, upper in variant_thresholds(variants):
        if vb < upper:
            return variant_id, control
    return variants[-1].pk, control


def audience(campaign: Campaign) -> QuerySet[Member]:
    """Everyone the campaign is for (never erased or merged members: a tombstone's person is
    its survivor)."""
    segment = campaign.segment
    members = Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
    if segment is None:
        return members
    if segment.kind == segment.Kind.STATIC:
        return members.filter(
            pk__in=SegmentMember.objects.filter(segment=segment).values("member_id")
        )
    return members_matching(segment.criteria)


COLUMNS = (
    "campaign_id",
    "variant_id",
    "member_id",
    "channel",
    "occurrence",
    "status",
    "reason",
    "attempts",
    "created_at",
    "queued_at",
    "budget_taken",
    "provider_ref",
)


def insert_deliveries(
    *,
    campaign: Campaign,
    members: QuerySet[Member],
    variants: list[Variant],
    channel: str,
    occurrence: str,
    now: datetime.datetime,
    forced_variant: Variant | None = None,
    limit: int | None = None,
) -> int:
    """Insert one delivery per member of ``members`` (control rows included); returns the
    number of rows inserted (0 when the chunk had run before)."""
    holdout = HashBucket(salt(campaign.pk, "holdout"))
    if forced_variant is not None:
        variant_expr: Any = Value(forced_variant.pk, output_field=BigIntegerField())
    else:
        vb = HashBucket(salt(campaign.pk, "variant"))
        bounds = variant_thresholds(variants)
        variant_expr = Case(
            *[When(condition=_lt(vb, upper), then=Value(vid)) for vid, upper in bounds[:-1]],
            default=Value(bounds[-1][0]),
            output_field=BigIntegerField(),
        )
    qs = members.order_by()
    if limit is not None:
        qs = qs.order_by(HashBucket(salt(campaign.pk, "sample")).asc(), "pk")[:limit]
    status = Case(
        When(condition=_lt(holdout, campaign.holdout_percent * 100), then=Value("control")),
        default=Value("pending"),
        output_field=CharField(),
    )
    selected = qs.annotate(
        c_campaign=Value(campaign.pk, output_field=BigIntegerField()),
        c_variant=variant_expr,
        c_member=F("pk"),
        c_channel=Value(channel, output_field=CharField()),
        c_occurrence=Value(occurrence, output_field=CharField()),
        c_status=status,
        c_reason=Value("", output_field=CharField()),
        c_attempts=Value(0, output_field=IntegerField()),
        c_created=Value(now, output_field=DateTimeField()),
        c_queued=Value(now, output_field=DateTimeField()),
        c_budget=Value(False, output_field=BooleanField()),
        c_ref=Value("", output_field=CharField()),
    ).values(
        "c_campaign",
        "c_variant",
        "c_member",
        "c_channel",
        "c_occurrence",
        "c_status",
        "c_reason",
        "c_attempts",
        "c_created",
        "c_queued",
        "c_budget",
        "c_ref",
    )
    sql, params = selected.query.sql_with_params()
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) {sql} "
            "ON CONFLICT (campaign_id, occurrence, member_id, channel) DO NOTHING",
            params,
        )
        return int(cursor.rowcount)


def _lt(expression: Any, value: int) -> Any:
    from django.db.models.lookups import LessThan

    return LessThan(expression, Value(value))
