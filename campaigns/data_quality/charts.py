"""A small server-rendered bar chart per count: no JavaScript, nothing from the internet.

Each chart is an ``<svg role="img">`` with a ``<title>`` saying what it shows in words; the
table next to it holds the numbers. Colours are presentation attributes, not inline styles,
so the back-office's strict Content-Security-Policy allows them (as campaigns.results.charts).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_W, GAP, HEIGHT = 2, 0, 28
TODAY_COLOUR = "#0b5d3b"
PAST_COLOUR = "#7aa88f"
NO_DATA_COLOUR = "#dddddd"


def trend_chart(values: Sequence[int | None], *, title: str) -> SafeString:
    """One bar per day, oldest first, scaled to the highest value; a day without a snapshot
    is a short grey mark, today the darker bar."""
    top = max((v for v in values if v is not None), default=0) or 1
    width = len(values) * (BAR_W + GAP)
    bars = []
    for index, value in enumerate(values):
        x = index * (BAR_W + GAP)
        if value is None:
            bars.append((x, HEIGHT - 1, BAR_W, 1, NO_DATA_COLOUR))
            continue
        height = max(round(value / top * (HEIGHT - 2)), 1 if value else 0)
        colour = TODAY_COLOUR if index == len(values) - 1 else PAST_COLOUR
        bars.append((x, HEIGHT - height, BAR_W, height, colour))
    return format_html(
        '<svg class="kk-dq-trend" role="img" width="{}" height="{}" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        width,
        HEIGHT,
        width,
        HEIGHT,
        title,
        format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
            bars,
        ),
    )
