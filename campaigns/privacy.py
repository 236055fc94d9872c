"""campaigns' parts of the member's export and "my data" page (consent.registry).

Export: the messages the member received (deliveries), offers, the inbox, and the static
segments they are in. The "my data" page lists the segments a member is in (criteria
segments are evaluated now) and the messages received. Erasure keeps delivery rows (they
point at the tombstone and hold no personal data) but deletes the inbox texts and removes the
member from uploaded lists; retention purges messages after 13 months.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Exists, Model, OuterRef, Q, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    ContactBudget,
    Delivery,
    InboxMessage,
    MemberOffer,
    Segment,
    SegmentMember,
)
from consent.registry import (
    erasure_step_register,
    export_section_register,
    free_text_register,
    model_row,
    page_section_register,
    retention_job_register,
)
from members.models import Member

MESSAGE_RETENTION_DAYS = 396  # 13 months


def _rows(model: type[Model], path: str) -> Any:
    def rows(member: Member) -> list[dict[str, Any]]:
        return [
            model_row(obj) for obj in model._default_manager.filter(**{path: member}).order_by("pk")
        ]

    return rows


def _segments_with_since(member: Member) -> list[tuple[Segment, datetime.datetime | None]]:
    """Segments the member is in now, with when they joined an uploaded list: one query for
    the lists and the criteria segments, and one evaluating every criteria segment for the
    member (an EXISTS per segment)."""
    from campaigns.segments import SegmentCriteriaError, members_matching

    since = SegmentMember.objects.filter(segment=OuterRef("pk"), member=member).values("added_at")
    candidates = (
        Segment.objects.filter(
            Q(kind=Segment.Kind.STATIC, static_members__member=member)
            | Q(kind=Segment.Kind.DYNAMIC)
        )
        .annotate(since=Subquery(since[:1]))
        .distinct()
        .order_by("name")
    )
    segments = list(candidates)
    # Every criteria segment's test for this member as one EXISTS each, in one query.
    tests: dict[str, Exists] = {}
    for segment in segments:
        if segment.kind == Segment.Kind.DYNAMIC and segment.criteria:
            try:
                matching = members_matching(segment.criteria)
            except SegmentCriteriaError:
                continue  # an old segment's broken criteria must not break the page
            tests[f"in_{segment.pk}"] = Exists(matching.filter(pk=OuterRef("pk")))
    matched = (
        Member.objects.filter(pk=member.pk).annotate(**tests).values(*tests).first() or {}
        if tests
        else {}
    )
    found: list[tuple[Segment, datetime.datetime | None]] = []
    for segment in segments:
        if segment.kind == Segment.Kind.DYNAMIC and not matched.get(f"in_{segment.pk}"):
            continue  # "everyone" (no criteria) is not a group worth listing
        found.append((segment, getattr(segment, "since", None)))
    return found


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
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _message_rows(member: Member) -> list[dict[str, str]]:
    rows = (
        Delivery.objects.filter(member=member, status=Delivery.Status.SENT)
        .select_related("campaign")
        .order_by("-sent_at")[:100]
    )
    return [
        {"when": _local(d.sent_at), "what": d.campaign.name, "channel": d.channel} for d in rows
    ]


def erase_campaign_data(member: Member) -> None:
    InboxMessage.objects.filter(member=member).update(title="", body="")
    SegmentMember.objects.filter(member=member).delete()


def purge_old_messages(now: datetime.datetime) -> int:
    cutoff = now - datetime.timedelta(days=MESSAGE_RETENTION_DAYS)
    deleted, _by_model = InboxMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted


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
    export_section_register(name=name, title=title, rows=rows, model=model, order=400 + order * 10)

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

# Personalisation's parts (recommendations: export, erasure, retention, "my data", panel).
import campaigns.personalisation_hooks  # noqa: E402, F401
