"""Finding members who may be one person, and deciding about them (issue 15, docs/duplicates.md).

Two members are proposed as a pair (``DuplicateCandidate``) when they share

- an email address once normalised (``email_normalise``: case always; dots and plus-tags only
  for the providers in ``EMAIL_DOTS_IGNORED`` / ``EMAIL_PLUS_TAGS`` where they reach the same
  mailbox),
- a mobile number (E.164, as every service stores it),
- a birth date, with names alike (trigram similarity of ``unaccent(lower(first last))`` of at
  least ``NAME_BIRTH_DATE_SIMILARITY``),
- a postcode, with names more alike (``NAME_POSTCODE_SIMILARITY``).

The shared value is the *block*: only members in the same block are compared, so the nightly
scan over hundreds of thousands of members stays a few hash joins, and the similarity is
computed for the pairs in a block only (``unaccent`` is not IMMUTABLE, so no index could hold
the normalised name anyway). Each pair gets a score in 0..1 (``pair_score``) and its reasons:
rule codes with small facts (the name similarity, whether an address matched only once
normalised), never a copy of a personal value.

A pair is stored once. A pair that has a row is never proposed again: "not the same person"
(dismissed) is remembered for good, and a merged pair stays merged. An open pair found again
gets its score and reasons refreshed. Erased members and tombstones (``merged_into``) are never
compared.

Callers: sign-up and profile changes (``members.services``), the import, and the nightly
``duplicates_scan`` (beat). The review queue in the back-office (``members.admin_duplicates``)
decides with ``duplicate_dismiss`` and ``duplicate_merge``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from psycopg.types.json import Jsonb

from members.enqueue import task_get
from members.errors import ConflictError, DomainError
from members.merging import member_merge
from members.models import DuplicateCandidate, Member, MemberMerge, User
from members.sql_names import sql_names

logger = logging.getLogger(__name__)

# Providers where dots in the local part do not matter (a.nna@ and anna@ are one mailbox).
EMAIL_DOTS_IGNORED = frozenset({"gmail.com", "googlemail.com"})
# Providers where "+anything" before the @ is delivered to the same mailbox.
EMAIL_PLUS_TAGS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.se",
        "hotmail.com",
        "hotmail.se",
        "live.com",
        "live.se",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "fastmail.com",
    }
)
# Domains that are one provider under two names.
EMAIL_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}

NAME_BIRTH_DATE_SIMILARITY = 0.5
NAME_POSTCODE_SIMILARITY = 0.6
# Below this a pair is not worth a reviewer's time (a phone a family shares, different names).
MIN_SCORE = 0.5

RULE_EMAIL = "email"
RULE_PHONE = "phone"
RULE_NAME_BIRTH_DATE = "name_birth_date"
RULE_NAME_POSTCODE = "name_postcode"
RULES = (RULE_EMAIL, RULE_PHONE, RULE_NAME_BIRTH_DATE, RULE_NAME_POSTCODE)


# --- normalising ----------------------------------------------------------------------------


def email_normalise(email: str) -> str:
    """The mailbox an address reaches: lower case; dots and plus-tags dropped where the
    provider ignores them; ``googlemail.com`` as ``gmail.com``. The same as ``_email_key_sql``."""
    text = (email or "").strip().lower()
    if not text:
        return ""
    local, _at, domain = text.partition("@")
    domain = domain.split("@", 1)[0]
    if domain in EMAIL_PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in EMAIL_DOTS_IGNORED:
        local = local.replace(".", "")
    return f"{local}@{EMAIL_DOMAIN_ALIASES.get(domain, domain)}"


def _sql_list(values: Iterable[str]) -> str:
    # Constants of this module only (domain names): quoted as SQL literals.
    return ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(values))


def _email_key_sql(column: str) -> str:
    """``email_normalise`` in SQL, for ``column`` (an email column); NULL when empty."""
    email = f"lower(btrim({column}))"
    local = f"split_part({email}, '@', 1)"
    domain = f"split_part({email}, '@', 2)"
    untagged = f"split_part({local}, '+', 1)"
    aliases = " ".join(
        f"WHEN {domain} = '{alias}' THEN '{target}'"
        for alias, target in sorted(EMAIL_DOMAIN_ALIASES.items())
    )
    return (
        f"CASE WHEN coalesce({column}, '') = '' THEN NULL ELSE "
        f"(CASE WHEN {domain} IN ({_sql_list(EMAIL_DOTS_IGNORED)}) "
        f"THEN replace({untagged}, '.', '') "
        f"WHEN {domain} IN ({_sql_list(EMAIL_PLUS_TAGS)}) THEN {untagged} "
        f"ELSE {local} END) || '@' || (CASE {aliases} ELSE {domain} END) END"
    )


# --- scoring ----------------------------------------------------------------------------------


def rule_score(rule: str, similarity: float) -> float:
    """One rule's weight of evidence, given the names' similarity (0..1).

    - email: 0.6 + 0.35 x similarity (a family's shared address with other names stays low);
    - phone: 0.4 + 0.5 x similarity (partners share a phone: different names score little);
    - name and birth date: 0.3 + 0.65 x similarity;
    - name and postcode: 0.2 + 0.6 x similarity (a postcode is shared by thousands).
    """
    weights = {
        RULE_EMAIL: (0.6, 0.35),
        RULE_PHONE: (0.4, 0.5),
        RULE_NAME_BIRTH_DATE: (0.3, 0.65),
        RULE_NAME_POSTCODE: (0.2, 0.6),
    }
    base, per_similarity = weights[rule]
    return base + per_similarity * max(0.0, min(1.0, similarity))


def pair_score(rules: Iterable[str], similarity: float) -> float:
    """The rules' scores combined as independent evidence: 1 - prod(1 - score), in 0..1."""
    doubt = 1.0
    for rule in set(rules):
        doubt *= 1.0 - rule_score(rule, similarity)
    return round(max(0.0, min(1.0, 1.0 - doubt)), 3)


# --- finding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundPair:
    member_a: int
    member_b: int
    rules: frozenset[str]
    similarity: float
    email_as_typed: bool  # the two addresses were equal before normalising

    @property
    def score(self) -> float:
        return pair_score(self.rules, self.similarity)

    @property
    def reasons(self) -> list[dict[str, Any]]:
        similarity = round(self.similarity, 2)
        reasons: list[dict[str, Any]] = []
        for rule in RULES:
            if rule not in self.rules:
                continue
            reason: dict[str, Any] = {"rule": rule, "similarity": similarity}
            if rule == RULE_EMAIL:
                reason["normalised"] = not self.email_as_typed
            reasons.append(reason)
        return reasons


def _live_sql(where: str = "") -> str:
    """One row per member who may be compared: not erased, not a tombstone (and ``where``,
    a condition on ``m``, the member)."""
    return sql_names(
        "SELECT m.[Member.pk] AS id, m.[Member.phone] AS phone, "  # noqa: S608
        "m.[Member.birth_date] AS birth_date, m.[Member.postcode] AS postcode, "
        "unaccent(lower(m.[Member.first_name] || ' ' || m.[Member.last_name])) AS name, "
        # the initials of both names, in alphabetical order (blocking for the postcode rule)
        "(SELECT string_agg(i, '' ORDER BY i) FROM unnest(ARRAY["
        "left(unaccent(lower(btrim(m.[Member.first_name]))), 1), "
        "left(unaccent(lower(btrim(m.[Member.last_name]))), 1)]) AS i) AS initials, "
        f"{_email_key_sql('u.[User.email]')} AS email_key, "
        "lower(btrim(u.[User.email])) AS email "
        "FROM [Member] m LEFT JOIN [User] u ON u.[User.pk] = m.[Member.user] "
        "WHERE m.[Member.erased_at] IS NULL AND m.[Member.merged_into] IS NULL"
        + (f" AND {where}" if where else ""),
        Member,
        User,
    )


def _near_sql() -> str:
    """A condition on ``m``: the member shares a block (phone, birth date, postcode, email
    mailbox) with one of ``seed``'s members, read from the plain columns, so the expensive
    normalising is done for these members only."""
    return sql_names(
        "m.[Member.pk] IN ("  # noqa: S608
        "SELECT n.[Member.pk] FROM [Member] n WHERE n.[Member.phone] IN "
        "(SELECT phone FROM seed WHERE phone <> '') "
        "UNION SELECT n.[Member.pk] FROM [Member] n WHERE n.[Member.birth_date] IN "
        "(SELECT birth_date FROM seed) "
        "UNION SELECT n.[Member.pk] FROM [Member] n WHERE n.[Member.postcode] IN "
        "(SELECT postcode FROM seed WHERE postcode <> '') "
        "UNION SELECT n.[Member.pk] FROM [Member] n JOIN [User] v ON v.[User.pk] = n.[Member.user] "
        f"WHERE {_email_key_sql('v.[User.email]')} IN "
        "(SELECT email_key FROM seed WHERE email_key IS NOT NULL))",
        Member,
        User,
    )


def _pairs_sql(*, scan: bool) -> str:
    """The pairs found by the four rules, one row per pair with its rules.

    ``scan``: every live member against every other (the nightly job); the members' rows are
    materialised once and joined to themselves. Otherwise the members in ``%(ids)s`` against
    the members who share a block with them (``_near_sql``). Pairs that have a decided row
    (dismissed or merged) are left out."""
    if scan:
        head = f"WITH live AS MATERIALIZED ({_live_sql()}), seed AS (SELECT * FROM live)"  # noqa: S608
        other = "live"
        newer = "o.id > s.id"
    else:
        seed = _live_sql(sql_names("m.[Member.pk] = ANY(%(ids)s)", Member))
        head = (
            f"WITH seed AS MATERIALIZED ({seed}), near AS MATERIALIZED ({_live_sql(_near_sql())})"
        )
        other = "near"
        newer = "o.id <> s.id"
    similar = "similarity(s.name, o.name)"
    branches = [
        f"SELECT s.id AS s, o.id AS o, '{RULE_EMAIL}' AS rule, s.email = o.email AS as_typed "  # noqa: S608
        f"FROM seed s JOIN {other} o ON o.email_key = s.email_key AND {newer} "
        "WHERE s.email_key IS NOT NULL",
        f"SELECT s.id, o.id, '{RULE_PHONE}', NULL "  # noqa: S608
        f"FROM seed s JOIN {other} o ON o.phone = s.phone AND {newer} WHERE s.phone <> ''",
        f"SELECT s.id, o.id, '{RULE_NAME_BIRTH_DATE}', NULL "  # noqa: S608
        f"FROM seed s JOIN {other} o ON o.birth_date = s.birth_date AND {newer} "
        f"WHERE {similar} >= %(birth_date_similarity)s",
        f"SELECT s.id, o.id, '{RULE_NAME_POSTCODE}', NULL "  # noqa: S608
        f"FROM seed s JOIN {other} o ON o.postcode = s.postcode "
        f"AND o.initials = s.initials AND {newer} "
        # A postcode holds hundreds of members: only those whose names start with the same
        # two letters (first and last name in either order) are compared by similarity.
        f"WHERE s.postcode <> '' AND {similar} >= %(postcode_similarity)s",
    ]
    hits = " UNION ALL ".join(f"({branch})" for branch in branches)
    candidates = sql_names(
        "SELECT 1 FROM [DuplicateCandidate] d WHERE d.[DuplicateCandidate.member_a] = p.a "
        "AND d.[DuplicateCandidate.member_b] = p.b AND d.[DuplicateCandidate.status] <> 'open'",
        DuplicateCandidate,
    )
    names = sql_names(
        "SELECT unaccent(lower(m.[Member.first_name] || ' ' || m.[Member.last_name])) "
        "FROM [Member] m WHERE m.[Member.pk] = ",
        Member,
    )
    return (
        f"{head}, hits AS ({hits}), "  # noqa: S608
        "pairs AS (SELECT least(s, o) AS a, greatest(s, o) AS b, "
        "array_agg(DISTINCT rule) AS rules, bool_or(coalesce(as_typed, false)) AS as_typed "
        "FROM hits GROUP BY 1, 2) "
        f"SELECT p.a, p.b, p.rules, similarity(({names} p.a), ({names} p.b)), p.as_typed "
        f"FROM pairs p WHERE NOT EXISTS ({candidates})"
    )


def _find(*, member_ids: list[int] | None) -> list[FoundPair]:
    params: dict[str, Any] = {
        "ids": member_ids or [],
        "birth_date_similarity": NAME_BIRTH_DATE_SIMILARITY,
        "postcode_similarity": NAME_POSTCODE_SIMILARITY,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner's estimates for these joins are far above jit_above_cost, and compiling
        # the statement took longer (seconds) than running it.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_pairs_sql(scan=member_ids is None), params)
        rows = cursor.fetchall()
    found = [
        FoundPair(
            member_a=a,
            member_b=b,
            rules=frozenset(rules),
            similarity=float(similarity or 0.0),
            email_as_typed=bool(as_typed),
        )
        for a, b, rules, similarity, as_typed in rows
    ]
    return [pair for pair in found if pair.score >= MIN_SCORE]


def _store(pairs: list[FoundPair]) -> int:
    """Insert new pairs; refresh the score and reasons of open ones; never touch a decided
    pair (the database decides, so a pair dismissed meanwhile stays dismissed). Returns how
    many pairs are new."""
    if not pairs:
        return 0
    table = sql_names(
        "INSERT INTO [DuplicateCandidate] AS d ([DuplicateCandidate.member_a], "
        "[DuplicateCandidate.member_b], [DuplicateCandidate.score], "
        "[DuplicateCandidate.reasons], [DuplicateCandidate.status], "
        "[DuplicateCandidate.found_at]) "
        "SELECT a, b, score, reasons, 'open', %s FROM unnest(%s::bigint[], %s::bigint[], "
        "%s::double precision[], %s::jsonb[]) AS t(a, b, score, reasons) "
        "ON CONFLICT ([DuplicateCandidate.member_a], [DuplicateCandidate.member_b]) "
        "DO UPDATE SET [DuplicateCandidate.score] = EXCLUDED.[DuplicateCandidate.score], "
        "[DuplicateCandidate.reasons] = EXCLUDED.[DuplicateCandidate.reasons] "
        "WHERE d.[DuplicateCandidate.status] = 'open' "
        "RETURNING (xmax = 0)",
        DuplicateCandidate,
    )
    inserted = 0
    batch = 5000
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), batch):
            part = pairs[start : start + batch]
            cursor.execute(
                table,
                [
                    timezone.now(),
                    [p.member_a for p in part],
                    [p.member_b for p in part],
                    [p.score for p in part],
                    [Jsonb(p.reasons) for p in part],
                ],
            )
            inserted += sum(1 for (new,) in cursor.fetchall() if new)
    return inserted


def duplicates_find_for_members(*, member_ids: Iterable[int]) -> int:
    """Compare ``member_ids`` with every other member and store the pairs found; returns how
    many pairs are new. Erased members and tombstones are skipped."""
    ids = sorted({int(member_id) for member_id in member_ids})
    if not ids:
        return 0
    return _store(_find(member_ids=ids))


def duplicates_scan() -> int:
    """The nightly job: compare every member with every other (by blocks, see the module's
    docstring), store new pairs and refresh open ones; drop open pairs whose member was erased
    or merged meanwhile. Returns how many pairs are new."""
    stale = DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN).filter(
        Q(member_a__erased_at__isnull=False)
        | Q(member_b__erased_at__isnull=False)
        | Q(member_a__merged_into__isnull=False)
        | Q(member_b__merged_into__isnull=False)
    )
    stale.delete()
    return _store(_find(member_ids=None))


def duplicates_find_later(*, member_ids: Iterable[int]) -> None:
    """Queue the duplicate check for ``member_ids`` once the current transaction commits
    (outside a transaction: at once). Ids only, never instances."""
    ids = sorted({int(member_id) for member_id in member_ids})
    if not ids:
        return
    transaction.on_commit(lambda: task_get("members.tasks.duplicates_find").delay(ids))


# --- merging (a step of members.merging) --------------------------------------------------------


def duplicates_after_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """``member_merge``'s step for the pairs (runs in its transaction, both members locked).

    - The pair of the two is marked merged.
    - "Not the same person" decisions about the merged member now hold for the survivor (the
      survivor *is* the merged person too): each becomes a dismissed pair of the survivor,
      with the original decision's time and staff member, unless the survivor's pair is
      already decided; an open one is dismissed.
    - Other open pairs of the merged member are removed, and the survivor is checked again
      after the commit: its pairs are found afresh from its merged data.
    """
    now = timezone.now()
    low, high = sorted((survivor.pk, merged.pk))
    rows = DuplicateCandidate.objects.filter(Q(member_a=merged) | Q(member_b=merged))
    rows.filter(member_a_id=low, member_b_id=high).update(
        status=DuplicateCandidate.Status.MERGED, decided_at=now
    )
    carried = 0
    for row in rows.filter(status=DuplicateCandidate.Status.DISMISSED).order_by("pk"):
        other = row.member_b_id if row.member_a_id == merged.pk else row.member_a_id
        if other == survivor.pk:
            continue
        a, b = sorted((survivor.pk, other))
        updated = DuplicateCandidate.objects.filter(
            member_a_id=a, member_b_id=b, status=DuplicateCandidate.Status.OPEN
        ).update(
            status=DuplicateCandidate.Status.DISMISSED,
            decided_at=row.decided_at,
            decided_by=row.decided_by_id,
        )
        _obj, created = DuplicateCandidate.objects.get_or_create(
            member_a_id=a,
            member_b_id=b,
            defaults={
                "score": row.score,
                "reasons": row.reasons,
                "status": DuplicateCandidate.Status.DISMISSED,
                "found_at": row.found_at,
                "decided_at": row.decided_at,
                "decided_by_id": row.decided_by_id,
            },
        )
        carried += updated + int(created)
    closed, _by_model = rows.filter(status=DuplicateCandidate.Status.OPEN).delete()
    duplicates_find_later(member_ids=[survivor.pk])
    moved = carried + closed
    return {"members.DuplicateCandidate.member": moved} if moved else {}


# --- deciding (the review queue) ------------------------------------------------------------------


class DuplicateDecidedError(ConflictError):
    code = "duplicate_decided"
    default_message = _("This pair has been decided already.")


class DuplicateChoiceError(DomainError):
    code = "duplicate_choice"
    default_message = _("Choose one of the pair's two members to keep.")


def duplicate_dismiss(*, candidate_id: int, actor: User | None) -> DuplicateCandidate:
    """ "Not the same person": remembered for good, so the pair is never proposed again.
    Dismissing a dismissed pair changes nothing; a merged pair cannot be dismissed."""
    with transaction.atomic():
        candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate_id)
        if candidate.status == DuplicateCandidate.Status.DISMISSED:
            return candidate
        if candidate.status != DuplicateCandidate.Status.OPEN:
            raise DuplicateDecidedError()
        candidate.status = DuplicateCandidate.Status.DISMISSED
        candidate.decided_at = timezone.now()
        candidate.decided_by = actor if actor is not None and actor.is_authenticated else None
        candidate.save(update_fields=["status", "decided_at", "decided_by"])
    return candidate


def duplicate_merge(
    *, candidate_id: int, survivor_id: int, actor: User | None, reason: str = ""
) -> MemberMerge:
    """ "Merge into this one": the pair's other member is merged into ``survivor_id``
    (``member_merge``), and the pair is marked merged by ``actor``.

    Locks the two members first, in primary-key order (the order of every merge, whose step
    then writes the pairs), then the pair, and re-checks it is still open: a "not the same
    person" or another merge of the pair that committed meanwhile wins, and this one is
    refused (``DuplicateDecidedError``) with nothing merged."""
    pair = DuplicateCandidate.objects.filter(pk=candidate_id).values_list(
        "member_a_id", "member_b_id"
    )
    if not pair:
        raise DuplicateDecidedError()
    member_a, member_b = pair[0]
    if survivor_id not in (member_a, member_b):
        raise DuplicateChoiceError()
    merged_id = member_b if survivor_id == member_a else member_a
    with transaction.atomic():
        list(
            Member.objects.select_for_update(of=("self",))
            .filter(pk__in=[member_a, member_b])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate_id)
        if candidate.status != DuplicateCandidate.Status.OPEN:
            raise DuplicateDecidedError()
        audit = member_merge(
            survivor_id=survivor_id, merged_id=merged_id, actor=actor, reason=reason
        )
        DuplicateCandidate.objects.filter(pk=candidate.pk).update(
            status=DuplicateCandidate.Status.MERGED,
            decided_at=audit.created_at,
            decided_by=actor if actor is not None and actor.is_authenticated else None,
        )
    return audit
