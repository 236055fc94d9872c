"""Reads for members and stores."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import connection
from django.db.models import Q, QuerySet

from members.activity_kinds import Kind
from members.card import CARD_PREFIX, card_token_from_payload
from members.errors import AmbiguousMemberError, DomainError, UnknownMemberError
from members.models import ActivityEvent, ApiKey, Member, Store
from members.phone import phone_try_normalise
from members.rows import RowReader, column, fetch_one, relation_cache, table


def _active_members() -> QuerySet[Member]:
    """Members who are neither erased nor merged into another: the ones lists, searches and
    counts show. A merged member's tombstone is reached only through its identifiers
    (``_member_by``), which resolve to the survivor."""
    return Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True).select_related(
        "user", "home_store"
    )


def member_resolve(member: Member) -> Member:
    """The member a tombstone was merged into (following chains), or the member itself.

    ``member_merge`` points every earlier tombstone straight at the new survivor, so a chain
    is one step long; older chains are still followed, and a cycle (which no merge writes)
    ends the walk rather than looping."""
    seen = {member.pk}
    while member.merged_into_id is not None:
        member = Member.objects.select_related("user", "home_store").get(pk=member.merged_into_id)
        if member.pk in seen:
            break
        seen.add(member.pk)
    return member


def _member_by(**lookup: object) -> Member | None:
    """The active member one unique identifier (card token, membership number) names: a
    merged member's number and card still work, and name the member they were merged into."""
    member = (
        Member.objects.filter(erased_at__isnull=True, **lookup)
        .select_related("user", "home_store")
        .first()
    )
    if member is None or member.merged_into_id is None:
        return member
    survivor = member_resolve(member)
    return None if survivor.is_erased or survivor.merged_into_id is not None else survivor


def member_get_by_card_payload(payload: str) -> Member:
    """The member behind a scanned QR payload (a merged member's card: the member they were
    merged into). Raises ``InvalidCardTokenError`` for a forged or malformed code and
    ``UnknownMemberError`` for a revoked (rotated) one."""
    token = card_token_from_payload(payload)
    member = _member_by(card_token=token)
    if member is None:
        raise UnknownMemberError()
    return member


# The most membership numbers an ambiguous identify lists (a household rarely has more).
AMBIGUOUS_CANDIDATES = 10


def member_identify(
    *,
    card: str | None = None,
    membership_number: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> Member:
    """Resolve exactly one identifier to an active member, or raise ``UnknownMemberError``.

    A phone number several members share (a family) identifies none of them: it raises
    ``AmbiguousMemberError`` with their membership numbers (at most
    ``AMBIGUOUS_CANDIDATES``, in number order), so the till can ask which one."""
    if card:
        return member_get_by_card_payload(card)
    queryset = _active_members()
    if membership_number:
        member = _member_by(membership_number=membership_number.replace(" ", ""))
    elif phone:
        e164 = phone_try_normalise(phone)
        matches = (
            list(queryset.filter(phone=e164).order_by("membership_number")[:AMBIGUOUS_CANDIDATES])
            if e164
            else []
        )
        if len(matches) > 1:
            raise AmbiguousMemberError(
                membership_numbers=[match.membership_number for match in matches]
            )
        member = matches[0] if matches else None
    elif email:
        member = queryset.filter(_email_q(email.strip())).first()
    else:
        member = None
    if member is None:
        raise UnknownMemberError()
    return member


DESK_RESULTS = 20


def _email_q(email: str) -> Q:
    """The login's address, or another address of the login: a merged member's, which the
    merge made the survivor's (members.merging). allauth keeps addresses in lower case, so
    the look-up uses its index."""
    return Q(user__email__iexact=email) | Q(
        user_id__in=EmailAddress.objects.filter(email=email.lower()).values("user_id")
    )


def member_desk_find(term: str) -> list[Member]:
    """Who the staff desk means by ``term``: a scanned card QR (one member, or
    ``InvalidCardTokenError`` / ``UnknownMemberError``), a membership number, a phone
    number in any format (every member sharing it: staff choose), an email, or a name.
    At most ``DESK_RESULTS``, by name."""
    term = (term or "").strip()
    if not term:
        return []
    if term.startswith(CARD_PREFIX):
        return [member_get_by_card_payload(term)]
    queryset = _active_members().order_by("last_name", "first_name", "pk")
    digits = term.replace(" ", "").replace("-", "")
    if digits.isdigit():
        exact = _member_by(membership_number=digits)
        if exact is not None:
            return [exact]
    e164 = phone_try_normalise(term)
    if e164:
        by_phone = list(queryset.filter(phone=e164)[:DESK_RESULTS])
        if by_phone:
            return by_phone
    if "@" in term:
        return list(queryset.filter(_email_q(term))[:DESK_RESULTS])
    if len(term) < 2:
        return []
    return list(queryset.filter(member_search_q(term))[:DESK_RESULTS])


def member_search_q(term: str) -> Q:
    """Staff search: a scanned card QR, membership number, email, phone in any format, name,
    or the id an imported member had in the old system (exactly). A card code that is forged
    or no longer valid finds nobody."""
    term = term.strip()
    if term.startswith(CARD_PREFIX):
        try:
            return Q(pk=member_get_by_card_payload(term).pk)
        except DomainError:
            return Q(pk__in=[])
    q = (
        Q(user__email__icontains=term)
        | Q(first_name__icontains=term)
        | Q(last_name__icontains=term)
        | Q(external_id=term)
    )
    digits = term.replace(" ", "").replace("-", "")
    if digits.isdigit():
        q |= Q(membership_number__startswith=digits)
        # a merged member's number finds the member it was merged into
        q |= Q(
            pk__in=Member.objects.filter(
                membership_number=digits, merged_into__isnull=False
            ).values("merged_into")
        )
    e164 = phone_try_normalise(term)
    if e164:
        q |= Q(phone=e164)
    parts = term.split()
    if len(parts) == 2:
        q |= Q(first_name__iexact=parts[0], last_name__iexact=parts[1])
    return q


def member_timeline(*, member: Member, limit: int = 50) -> QuerySet[ActivityEvent]:
    return member.events.select_related("store", "actor").order_by("-created_at", "-id")[:limit]


_KEY = RowReader(ApiKey, "k")
_STORE = RowReader(Store, "s")


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The API key with this prefix and its store (``key.store`` costs no query), revoked or
    not: every integration request starts here, so it is one hand-joined SELECT rather than
    a queryset compiled per call (members.rows); the same as
    ``ApiKey.objects.select_related("store").filter(prefix=prefix).first()``."""
    sql = (
        f"SELECT {_KEY.layout(connection).select}, {_STORE.layout(connection).select} "  # noqa: S608
        f"FROM {table(ApiKey, connection)} k JOIN {table(Store, connection)} s "
        f"ON s.{column(Store, 'pk', connection)} = k.{column(ApiKey, 'store', connection)} "
        f"WHERE k.{column(ApiKey, 'prefix', connection)} = %s"
    )
    row = fetch_one(sql, [prefix])
    if row is None:
        return None
    key = _KEY.build(row, 0, connection)
    assert key is not None
    relation_cache(key, "store", _STORE.build(row, _KEY.width, connection))
    return key


def member_email_verified_by_link(*, member: Member) -> bool:
    """The member confirmed their email address with the link we mailed them (sign-up, or a
    change of address): ``email_verified`` on the timeline (``member_email_verified``)."""
    return ActivityEvent.objects.filter(member=member, kind=Kind.EMAIL_VERIFIED).exists()
