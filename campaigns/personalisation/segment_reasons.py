"""Why an offer sent to a segment reached the member, in plain words (issue 16).

A segment's criteria are a tree of and/or groups over conditions (campaigns.segments). Only
the conditions every member of the segment must meet (reached through "and" groups only, not
negated) say something true about this member; of those, the first that a member recognises
is told: an interest they chose ("Because you said you like running."), their tier, or a
category they bought in. Anything else is "a group of members you belong to", never "every
member". The member's own word (an interest they chose) wins over a reason inferred from
their purchases; a tier or category the segment required gives way to one ("Because you
bought running wear." says more than "for members who bought running wear").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from campaigns.models import Segment
from consent.models import Interest, MemberInterest
from members.models import Member
from rewards.models import Category, Tier

INTEREST_SAID = {
    "sv": "Eftersom du sa att du gillar {interest}.",
    "en": "Because you said you like {interest}.",
}
FOR_MEMBERS_WHO_LIKE = {
    "sv": "Ett erbjudande till medlemmar som gillar {interest}.",
    "en": "An offer for members who like {interest}.",
}
FOR_TIER = {
    "sv": "Ett erbjudande till medlemmar i nivån {tier}.",
    "en": "An offer for {tier} members.",
}
FOR_BUYERS = {
    "sv": "Ett erbjudande till medlemmar som har handlat {category}.",
    "en": "An offer for members who have bought {category}.",
}
OR = {"sv": " eller ", "en": " or "}

# The conditions told, in this order of preference.
TOLD_FIELDS = ("interest", "tier", "bought_category")


def interest_in_sentence(name: str) -> str:
    """An interest's name inside a sentence: "Löpning" -> "löpning" (an acronym keeps its
    case)."""
    return name if name.isupper() else name[:1].lower() + name[1:]


def interest_name(interest: Interest, lang: str) -> str:
    return interest_in_sentence(interest.name_sv if lang == "sv" else interest.name_en)


def required_conditions(criteria: Any) -> Iterator[dict[str, Any]]:
    """The conditions every member of the segment meets: leaves reached through "and" groups
    only, neither they nor a group above them negated."""
    if not isinstance(criteria, dict) or criteria.get("negate"):
        return
    if "op" in criteria:
        children = criteria.get("children")
        if criteria.get("op") == "and" and isinstance(children, list):
            for child in children:
                yield from required_conditions(child)
        elif isinstance(children, list) and len(children) == 1:
            yield from required_conditions(children[0])  # an "or" of one is that one
        return
    if criteria.get("field") in TOLD_FIELDS:
        yield criteria


def _codes(condition: Mapping[str, Any]) -> list[str]:
    value = condition.get("value")
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def segment_reason_texts(
    *, member: Member, segment_ids: Iterable[int], lang: str
) -> dict[int, tuple[str, bool]]:
    """Segment id -> the sentence for an offer sent to it and whether it is the member's own
    word (an interest they chose: it wins over any reason inferred from their purchases), for
    the segments that have one (see the module's docstring). At most four queries, whatever
    the number of segments."""
    told: dict[int, dict[str, Any]] = {}
    for segment_id, criteria in Segment.objects.filter(pk__in=set(segment_ids)).values_list(
        "pk", "criteria"
    ):
        conditions = list(required_conditions(criteria))
        for field in TOLD_FIELDS:
            found = next((c for c in conditions if c.get("field") == field and _codes(c)), None)
            if found is not None:
                told[segment_id] = found
                break
    if not told:
        return {}
    wanted: dict[str, set[str]] = {field: set() for field in TOLD_FIELDS}
    for condition in told.values():
        wanted[condition["field"]].update(_codes(condition))
    interests = (
        {i.code: i for i in Interest.objects.filter(code__in=wanted["interest"])}
        if wanted["interest"]
        else {}
    )
    chosen = (
        set(
            MemberInterest.objects.filter(
                member=member, interest__code__in=wanted["interest"]
            ).values_list("interest__code", flat=True)
        )
        if wanted["interest"]
        else set()
    )
    tiers = (
        {t.code: t.name_for(lang) for t in Tier.objects.filter(code__in=wanted["tier"])}
        if wanted["tier"]
        else {}
    )
    categories = (
        {
            c.code: c.name or c.code
            for c in Category.objects.filter(code__in=wanted["bought_category"])
        }
        if wanted["bought_category"]
        else {}
    )
    out: dict[int, tuple[str, bool]] = {}
    for segment_id, condition in told.items():
        codes = _codes(condition)
        field = condition["field"]
        if field == "interest":
            mine = [interests[c] for c in codes if c in chosen and c in interests]
            if mine:
                said = INTEREST_SAID[lang].format(interest=interest_name(mine[0], lang))
                out[segment_id] = (said, True)
                continue
            names = [interest_name(interests[c], lang) for c in codes if c in interests]
            if names:
                liked = FOR_MEMBERS_WHO_LIKE[lang].format(interest=OR[lang].join(names))
                out[segment_id] = (liked, False)
        elif field == "tier":
            names = [tiers[c] for c in codes if c in tiers]
            if names:
                out[segment_id] = (FOR_TIER[lang].format(tier=OR[lang].join(names)), False)
        else:
            names = [categories[c] for c in codes if c in categories]
            if names:
                bought = FOR_BUYERS[lang].format(category=OR[lang].join(names))
                out[segment_id] = (bought, False)
    return out
