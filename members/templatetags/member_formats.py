"""Member pages' dates and amounts (members.formats): ``{{ value|day }}`` "4 dec. 2026",
``{{ value|day_time }}`` "4 dec. 2026 14:05", ``{{ value|clock }}`` "14:05",
``{{ ore|kr }}`` "1 298 kr", ``{{ ore|kr_number }}`` "1 298"."""

from __future__ import annotations

import datetime

from django import template

from members.formats import date_short, datetime_short, kronor_number, kronor_short, time_short

register = template.Library()


@register.filter
def day(value: datetime.date | None) -> str:
    return date_short(value)


@register.filter
def day_time(value: datetime.datetime | None) -> str:
    return datetime_short(value)


@register.filter
def clock(value: datetime.datetime | datetime.time | None) -> str:
    return time_short(value)


@register.filter
def kr(ore: int | None) -> str:
    return kronor_short(ore)


@register.filter
def kr_number(ore: int | None) -> str:
    return kronor_number(ore)
