"""Server-side SVG charts for the results page: no JavaScript, nothing from the internet.

Each chart is an accessible ``<svg role="img">`` with a ``<title>`` and ``<desc>``; the page
shows the same numbers in a table next to it. Colours come from presentation attributes
(not inline styles), so the strict Content-Security-Policy allows them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from campaigns.results.report import Funnel, Uplift

PALETTE = ["#0b5d3b", "#2f6fb0", "#b35c00", "#7a3e9d", "#8a8a00"]
CONTROL_COLOUR = "#777777"
TEXT = "#222222"
GRID = "#dddddd"
STAGES = ("delivered", "opened", "clicked", "activated", "redeemed")


@dataclass(frozen=True)
class Labels:
    """Translated words the charts need, passed in by the view (the active language)."""

    title: str
    description: str
    stages: dict[str, str]
    variant: str = "Variant"


def _h(template: str, *args: object) -> SafeString:
    """``format_html`` with floats rounded to one decimal first (coordinates, lengths)."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def _fmt(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}".replace(",", "\u00a0")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    base = 10**exponent
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * base:
            return step * base
    return 10 * base


def funnel_chart(funnel: Sequence[Funnel], labels: Labels) -> SafeString:
    """Grouped horizontal bars: for each stage, one bar per variant (members)."""
    variants = [row for row in funnel if row.variant_id is not None] or list(funnel[-1:])
    bar_h, gap, label_w, width = 14, 10, 110, 640
    group_h = len(variants) * bar_h + gap
    legend_h = 24
    height = legend_h + len(STAGES) * group_h + 24
    top = max((getattr(v, s) for v in variants for s in STAGES), default=0)
    scale_max = _nice_max(float(top))
    plot_w = width - label_w - 60
    parts: list[SafeString] = []
    for i, v in enumerate(variants):
        x = label_w + i * 110
        parts.append(
            _h(
                '<rect x="{}" y="4" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="14" font-size="12" fill="{}">{} {}</text>',
                x,
                PALETTE[i % len(PALETTE)],
                x + 16,
                TEXT,
                labels.variant,
                v.code or "–",
            )
        )
    for s_index, stage in enumerate(STAGES):
        y0 = legend_h + s_index * group_h
        parts.append(
            _h(
                '<text x="{}" y="{}" font-size="12" text-anchor="end" fill="{}">{}</text>',
                label_w - 8,
                y0 + (len(variants) * bar_h) / 2 + 4,
                TEXT,
                labels.stages.get(stage, stage),
            )
        )
        for i, v in enumerate(variants):
            value = getattr(v, stage)
            w = plot_w * value / scale_max
            y = y0 + i * bar_h
            parts.append(
                _h(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {}</title></rect>"
                    '<text x="{}" y="{}" font-size="11" fill="{}">{}</text>',
                    label_w,
                    y,
                    w,
                    bar_h - 2,
                    PALETTE[i % len(PALETTE)],
                    labels.variant,
                    v.code,
                    value,
                    label_w + w + 4,
                    y + bar_h - 4,
                    TEXT,
                    _fmt(value),
                )
            )
    return _svg(width, height, labels, mark_safe("".join(parts)))


def uplift_chart(
    rows: Sequence[tuple[str, Uplift]], labels: Labels, *, unit: str = "kr"
) -> SafeString:
    """A forest plot: per row the uplift (contacted - control per member) as a dot with its
    95 % interval as a line, and a vertical line at zero. Rows without an interval show the
    dot only."""
    width, label_w, row_h, top_pad = 640, 120, 34, 30
    height = top_pad + len(rows) * row_h + 30
    values = [0.0]
    for _label, u in rows:
        values.append(u.difference)
        if u.interval is not None:
            values += [u.interval.low, u.interval.high]
    span = max(abs(min(values)), abs(max(values))) or 1.0
    span = _nice_max(span * 1.05)
    plot_l, plot_r = label_w, width - 20

    def x(value: float) -> float:
        return plot_l + (value + span) / (2 * span) * (plot_r - plot_l)

    parts: list[SafeString] = [
        _h(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="1"/>'
            '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{}">0</text>'
            '<text x="{}" y="{}" font-size="11" text-anchor="start" fill="{}">−{} {}</text>'
            '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="{}">+{} {}</text>',
            x(0),
            top_pad - 10,
            x(0),
            height - 24,
            TEXT,
            x(0),
            height - 8,
            TEXT,
            plot_l,
            height - 8,
            TEXT,
            _fmt(span),
            unit,
            plot_r,
            height - 8,
            TEXT,
            _fmt(span),
            unit,
        )
    ]
    for i, (label, u) in enumerate(rows):
        cy = top_pad + i * row_h + row_h / 2
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            _h(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" font-size="12" text-anchor="end" fill="{}">{}</text>',
                plot_l,
                cy + row_h / 2,
                plot_r,
                cy + row_h / 2,
                GRID,
                label_w - 8,
                cy + 4,
                TEXT,
                label,
            )
        )
        if u.interval is not None:
            parts.append(
                _h(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" '
                    'stroke-width="3"><title>{} … {}</title></line>',
                    x(u.interval.low),
                    cy,
                    x(u.interval.high),
                    cy,
                    colour,
                    _fmt(u.interval.low, 2),
                    _fmt(u.interval.high, 2),
                )
            )
        parts.append(
            _h(
                '<circle cx="{}" cy="{}" r="6" fill="{}"><title>{} {}</title></circle>',
                x(u.difference),
                cy,
                colour,
                _fmt(u.difference, 2),
                unit,
            )
        )
    return _svg(width, height, labels, mark_safe("".join(parts)))


def means_chart(
    rows: Sequence[tuple[str, float, float]], labels: Labels, names: tuple[str, str]
) -> SafeString:
    """Paired vertical bars: contacted vs control mean per row (e.g. revenue per member)."""
    width, height, bottom, left = 640, 240, 40, 50
    top = max([v for _l, a, b in rows for v in (a, b)] + [0.0])
    scale_max = _nice_max(top)
    plot_h = height - bottom - 20
    group_w = (width - left - 20) / max(len(rows), 1)
    bar_w = min(40.0, group_w / 3)
    parts: list[SafeString] = []
    for tick in range(5):
        value = scale_max * tick / 4
        y = height - bottom - plot_h * tick / 4
        parts.append(
            _h(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="{}">{}</text>',
                left,
                y,
                width - 20,
                y,
                GRID,
                left - 4,
                y + 3,
                TEXT,
                _fmt(value),
            )
        )
    for i, (label, contacted, control) in enumerate(rows):
        gx = left + i * group_w + group_w / 2
        for j, (value, colour, name) in enumerate(
            ((contacted, PALETTE[0], names[0]), (control, CONTROL_COLOUR, names[1]))
        ):
            h = plot_h * value / scale_max
            bx = gx - bar_w + j * bar_w
            parts.append(
                _h(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} – {}: {}</title></rect>",
                    bx,
                    height - bottom - h,
                    bar_w - 2,
                    h,
                    colour,
                    label,
                    name,
                    _fmt(value, 2),
                )
            )
        parts.append(
            _h(
                '<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="{}">{}</text>',
                gx,
                height - bottom + 16,
                TEXT,
                label,
            )
        )
    legend = format_html_join(
        "",
        '<rect x="{}" y="4" width="12" height="12" fill="{}"/>'
        '<text x="{}" y="14" font-size="12" fill="' + TEXT + '">{}</text>',
        (
            (left + k * 140, colour, left + k * 140 + 16, name)
            for k, (colour, name) in enumerate(((PALETTE[0], names[0]), (CONTROL_COLOUR, names[1])))
        ),
    )
    return _svg(width, height, labels, mark_safe(legend + "".join(parts)))


def _svg(width: int, height: float, labels: Labels, body: SafeString) -> SafeString:
    return _h(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        'viewBox="0 0 {} {}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'font-family="system-ui, sans-serif"><title>{}</title><desc>{}</desc>{}</svg>',
        width,
        height,
        labels.title,
        labels.description,
        body,
    )
