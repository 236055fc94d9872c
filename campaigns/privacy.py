"""campaigns' parts of the member's export and "my data" page (consent.privacy_parts).

Export: the messages the member received (deliveries), offers, the inbox, and the static
segments they are in. The "my data" page lists the segments a member is in (criteria
segments are evaluated now) and the messages received. Erasure keeps delivery rows (they
point at the tombstone and hold no personal data) but deletes the inbox texts and removes the
member from uploaded lists; retention purges messages after 13 months.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.db import connection
from django.db.models import Exists, Model, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.errors import SegmentCriteriaError
from campaigns.labels import CHANNEL_LABELS
from campaigns.models import (
    ContactBudget,
    Delivery,
    InboxMessage,
    MemberOffer,
    Segment,
    SegmentMember,
)
from campaigns.segments import members_matching
from consent.privacy_parts import (
    erasure_step_register,
    export_section_register,
    free_text_register,
    model_row,
    page_section_register,
    retention_job_register,
)
from members.formats import datetime_short
from members.models import Member
from members.rows import CompiledQuery

MESSAGE_RETENTION_DAYS = 396  # 13 months


def _rows(model: type[Model], path: str) -> Any:
    def rows(member: Member) -> list[dict[str, Any]]:
        return [
            model_row(obj) for obj in model._default_manager.filter(**{path: member}).order_by("pk")
        ]

    return rows


def _segment_candidates(member_id: int) -> Any:
    """Uploaded lists the member is on (with when they were added) and every criteria
    segment, by name."""
    since = SegmentMember.objects.filter(segment=OuterRef("pk"), member_id=member_id).values(
        "added_at"
    )
    return (
        Segment.objects.filter(
            Q(kind=Segment.Kind.STATIC, static_members__member_id=member_id)
            | Q(kind=Segment.Kind.DYNAMIC)
        )
        .annotate(since=Subquery(since[:1]))
        .distinct()
        .order_by("name")
    )


_SEGMENT_CANDIDATES: CompiledQuery[Segment] = CompiledQuery(_segment_candidates, "member_id")
_MESSAGES: CompiledQuery[Delivery] = CompiledQuery(
    lambda member_id: (
        Delivery.objects.filter(member_id=member_id, status=Delivery.Status.SENT)
        .select_related("campaign")
        .order_by("-sent_at")[:100]
    ),
    "member_id",
)


def _segments_with_since(member: Member) -> list[tuple[Segment, datetime.datetime | None]]:
    """Segments the member is in now, with when they joined an uploaded list: one query for
    the lists and the criteria segments, and one evaluating every criteria segment for the
    member (an EXISTS per segment, :func:`_segment_tests`)."""
    segments = _SEGMENT_CANDIDATES(member_id=member.pk)
    matched = _segment_tests(
        [s for s in segments if s.kind == Segment.Kind.DYNAMIC and s.criteria], member
    )
    found: list[tuple[Segment, datetime.datetime | None]] = []
    for segment in segments:
        if segment.kind == Segment.Kind.DYNAMIC and not matched.get(segment.pk):
            continue  # "everyone" (no criteria) is not a group worth listing
        found.append((segment, getattr(segment, "since", None)))
    return found


# The statement testing a set of criteria segments for one member, built by the ORM once per
# process and minute (criteria are compiled against "now", so a test is at most a minute
# behind) instead of on every "my data" page: compiling an EXISTS per segment cost the page
# more than running it. Keyed by the segments and their criteria, so an edit applies at once.
# The member's id is a parameter: the statement holds no member data.
_TESTS: dict[tuple[Any, ...], tuple[str, list[Any], list[int]] | None] = {}
_MEMBER_PLACEHOLDER = -7_352_917_004_113  # never a member id; replaced by the member's


def _segment_tests(segments: list[Segment], member: Member) -> dict[int, bool]:
    """Which of these criteria segments the member is in now (one query; an EXISTS each)."""
    if not segments:
        return {}
    now = timezone.now().replace(second=0, microsecond=0)
    key = (
        connection.alias,
        now,
        tuple((s.pk, json.dumps(s.criteria, sort_keys=True, default=str)) for s in segments),
    )
    if key not in _TESTS:
        tests: dict[str, Exists] = {}
        for segment in segments:
            try:
                matching = members_matching(segment.criteria, now=now)
            except SegmentCriteriaError:
                continue  # an old segment's broken criteria must not break the page
            tests[f"in_{segment.pk}"] = Exists(matching.filter(pk=OuterRef("pk")))
        compiled = None
        if tests:
            query = Member.objects.filter(pk=_MEMBER_PLACEHOLDER).annotate(**tests)
            sql, params = query.values_list(*tests).query.sql_with_params()
            # the member's id must be a parameter of its own, never inside the SQL text
            assert [p for p in params if _is_placeholder(p)] == [_MEMBER_PLACEHOLDER]
            compiled = (sql, list(params), [int(name[3:]) for name in tests])
        if len(_TESTS) > 256:
            _TESTS.clear()
        _TESTS[key] = compiled
    statement = _TESTS[key]
    if statement is None:
        return {}
    text, arguments, pks = statement
    bound = [member.pk if _is_placeholder(p) else p for p in arguments]
    with connection.cursor() as cursor:
        cursor.execute(text, bound)
        row = cursor.fetchone()
    return dict(zip(pks, row, strict=True)) if row else {}


def _is_placeholder(param: Any) -> bool:
    return type(param) is int and param == _MEMBER_PLACEHOLDER


def segments_of(member: Member) -> list[Segment]:
    return [segment for segment, _since in _segments_with_since(member)]


def _segment_rows(member: Member) -> list[dict[str, str]]:
    return [
        {"group": s.name, "since": _local(since) or "—"}
        for s, since in _segments_with_since(member)
    ]


def _segment_export(member: Member) -> list[dict[str, Any]]:
    return [{"id": s.pk, "name": s.name, "kind": s.kind} for s in segments_of(member)]


def _local(value: datetime.datetime | None) -> str:
    """ "4 dec. 2026 14:05" (members.formats); "" for ``None``."""
    return datetime_short(value)


def _message_rows(member: Member) -> list[dict[str, str]]:
    rows = _MESSAGES(member_id=member.pk)
    return [
        {
            "when": _local(d.sent_at),
            "what": d.campaign.name,
            "channel": str(CHANNEL_LABELS.get(d.channel, d.channel)),
        }
        for d in rows
    ]


def erase_campaign_data(member: Member) -> None:
    InboxMessage.objects.filter(member=member).update(title="", body="")
    SegmentMember.objects.filter(member=member).delete()


def purge_old_messages(now: datetime.datetime) -> int:
    cutoff = now - datetime.timedelta(days=MESSAGE_RETENTION_DAYS)
    deleted, _by_model = InboxMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def register() -> None:
    """campaigns' parts of export, erasure, "my data" and retention (``CampaignsConfig.ready``)."""
    for order, (name, title, rows, model) in enumerate(
        [
            ("messages_received", _("Messages we sent you"), _rows(Delivery, "member"), Delivery),
            ("offers", _("Your offers"), _rows(MemberOffer, "member"), MemberOffer),
            ("inbox", _("Messages on your pages"), _rows(InboxMessage, "member"), InboxMessage),
            (
                "segment_lists",
                _("Uploaded lists you are on"),
                _rows(SegmentMember, "member"),
                SegmentMember,
            ),
            ("segments", _("Groups (segments) you are in"), _segment_export, None),
            (
                "contact_budget",
                _("Messages counted per week"),
                _rows(ContactBudget, "member"),
                ContactBudget,
            ),
        ],
        start=1,
    ):
        export_section_register(
            name=name, title=title, rows=rows, model=model, order=400 + order * 10
        )

    # These names replace consent's placeholders on the "my data" page.
    page_section_register(
        name="segments",
        title=_("Groups you are in"),
        description=_("The groups of members we use to choose which offers you get."),
        empty_text=_("You are not in any group right now."),
        rows=_segment_rows,
        columns=[_("Group"), _("Since")],
        order=40,
    )
    page_section_register(
        name="messages",
        title=_("Messages we sent you"),
        empty_text=_("We have not sent you any offers or news."),
        rows=_message_rows,
        columns=[_("When"), _("What"), _("Channel")],
        order=50,
    )
    erasure_step_register(name="campaigns", run=erase_campaign_data, order=50)
    # Marketers' names, descriptions and upload reports of segments: searched in every segment.
    free_text_register(model=Segment, fields=["name", "description", "import_report"])
    retention_job_register(name="campaigns.messages", run=purge_old_messages)
