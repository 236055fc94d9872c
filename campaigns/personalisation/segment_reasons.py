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

from django.db import connection

from campaigns.models import Segment
from consent.models import Interest, MemberInterest
from members.models import Member
from members.rows import column, table
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


_NAMES_SQL: dict[str, str] = {}


def _names_sql() -> str:
    """The names of the interests (and whether the member chose each), tiers and categories
    that segments' conditions name, by code, in one statement (made once per process)."""
    vendor = connection.vendor
    if vendor not in _NAMES_SQL:
        interest, chose = table(Interest, connection), table(MemberInterest, connection)
        tier, category = table(Tier, connection), table(Category, connection)

        def i(name: str) -> str:
            return f"i.{column(Interest, name, connection)}"

        def m(name: str) -> str:
            return f"m.{column(MemberInterest, name, connection)}"

        def t(name: str) -> str:
            return f"t.{column(Tier, name, connection)}"

        def c(name: str) -> str:
            return f"c.{column(Category, name, connection)}"

        _NAMES_SQL[vendor] = (
            f"SELECT 'i', {i('code')}, {i('name_sv')}, {i('name_en')}, EXISTS (SELECT 1 "  # noqa: S608
            f"FROM {chose} m WHERE {m('member')} = %s AND {m('interest')} = {i('pk')}) "
            f"FROM {interest} i WHERE {i('code')} = ANY(%s) "
            f"UNION ALL SELECT 't', {t('code')}, {t('name_sv')}, {t('name_en')}, FALSE "
            f"FROM {tier} t WHERE {t('code')} = ANY(%s) "
            f"UNION ALL SELECT 'c', {c('code')}, {c('name')}, '', FALSE "
            f"FROM {category} c WHERE {c('code')} = ANY(%s)"
        )
    return _NAMES_SQL[vendor]


def _names(
    member: Member, wanted: dict[str, set[str]], lang: str
) -> tuple[dict[str, Interest], set[str], dict[str, str], dict[str, str]]:
    """The interests named (unsaved instances), those the member chose, and the tiers' and
    categories' names, by code (one query)."""
    interests: dict[str, Interest] = {}
    chosen: set[str] = set()
    tiers: dict[str, str] = {}
    categories: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _names_sql(),
            [
                member.pk,
                sorted(wanted["interest"]),
                sorted(wanted["tier"]),
                sorted(wanted["bought_category"]),
            ],
        )
        for part, code, first, second, member_chose in cursor.fetchall():
            if part == "i":
                interests[code] = Interest(code=code, name_sv=first, name_en=second)
                if member_chose:
                    chosen.add(code)
            elif part == "t":
                tiers[code] = first if lang == "sv" else second
            else:
                categories[code] = first or code
    return interests, chosen, tiers, categories


def segment_reason_texts(
    *,
    member: Member,
    segment_ids: Iterable[int],
    lang: str,
    criteria: Mapping[int, Any] | None = None,
) -> dict[int, tuple[str, bool]]:
    """Segment id -> the sentence for an offer sent to it and whether it is the member's own
    word (an interest they chose: it wins over any reason inferred from their purchases), for
    the segments that have one (see the module's docstring). ``criteria``: segment id -> its
    criteria, for segments already loaded (only the others are read). At most two queries
    (the segments not loaded; the names their conditions use), whatever their number."""
    known = dict(criteria or {})
    wanted_ids = set(segment_ids)
    if wanted_ids - known.keys():
        known.update(
            Segment.objects.filter(pk__in=wanted_ids - known.keys()).values_list("pk", "criteria")
        )
    told: dict[int, dict[str, Any]] = {}
    for segment_id, criteria_of in sorted(known.items()):
        if segment_id not in wanted_ids:
            continue
        conditions = list(required_conditions(criteria_of))
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
    interests, chosen, tiers, categories = _names(member, wanted, lang)
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
