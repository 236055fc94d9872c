"""Date arithmetic for privacy requests (pure functions)."""

from __future__ import annotations

import calendar
import datetime


def months_add(value: datetime.datetime, months: int) -> datetime.datetime:
    """The same day ``months`` later (or earlier), clamped to the month's last day."""
    month_index = value.year * 12 + value.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def privacy_deadline(requested_at: datetime.datetime) -> datetime.datetime:
    """Art. 12(3): answer within one month of receipt."""
    return months_add(requested_at, 1)
