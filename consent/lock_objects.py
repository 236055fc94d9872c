"""Row locks and look-ups every consent and privacy write starts with."""

from __future__ import annotations

from consent.errors import MemberErasedError, UnknownPurposeError
from consent.models import Purpose
from members.models import Member
from members.selectors import member_resolve


def member_lock(member: Member | int) -> Member:
    """Lock the member row: every consent or privacy change of one member runs in turn. A
    member merged into another locks (and returns) the survivor. Call inside the write's
    transaction."""
    pk = member if isinstance(member, int) else member.pk
    locked = Member.objects.select_for_update().get(pk=pk)
    for _hop in range(3):
        if locked.merged_into_id is None:
            break
        # Merged meanwhile (a page opened before the merge, a write that waited on the
        # merge's lock): the person is the survivor now, so the change is theirs
        # (consent.merging), never a tombstone's.
        locked = Member.objects.select_for_update().get(pk=member_resolve(locked).pk)
    if locked.erased_at is not None:
        raise MemberErasedError()
    return locked


def purpose_get(purpose: Purpose | str) -> Purpose:
    """The purpose itself, or the one with this code."""
    if isinstance(purpose, Purpose):
        return purpose
    found = Purpose.objects.filter(code=purpose).first()
    if found is None:
        raise UnknownPurposeError()
    return found
