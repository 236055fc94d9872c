"""Who looked at whom: staff views of a member, logged."""

from __future__ import annotations

from consent.models import AccessLog, ConsentEvent
from members.models import User

Source = ConsentEvent.Source


def access_log_record(*, staff: User, member_id: int, view: str) -> AccessLog | None:
    """Log that a staff user opened a member's record. Members looking at themselves are not."""
    if not staff.is_authenticated or not staff.is_staff:
        return None
    return AccessLog.objects.create(staff=staff, member_id=member_id, view=view[:40])
