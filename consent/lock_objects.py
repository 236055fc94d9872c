"""Row locks and look-ups every consent and privacy write starts with."""

from __future__ import annotations

from consent.errors import MemberErasedError, UnknownPurposeError
from consent.models import Purpose
from members.models import Member


def member_lock(member: Member | int) -> Member:
    """Lock the member row: every consent or privacy change of one member runs in turn.
    Call inside the write's transaction."""
    pk = member if isinstance(member, int) else member.pk
    locked = Member.objects.select_for_update().get(pk=pk)
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
