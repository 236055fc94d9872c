"""Panels on "My pages" that higher apps contribute (points, tier, offers, challenges).

Each app registers a function that returns rendered HTML for the member, from its
``AppConfig.ready``; members knows nothing of them beyond this list. Panels hold no forms
and read nothing from the request: they render without it (``render_to_string`` with no
``request``), so the context processors run once for the page, not once per panel
(docs/benchmarks.md "Member pages").
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from members.models import Member

Panel = Callable[[HttpRequest, Member], str]

_panels: list[tuple[int, str, Panel]] = []


def panel_register(*, name: str, order: int, render: Panel) -> None:
    global _panels
    _panels = [p for p in _panels if p[1] != name]
    _panels.append((order, name, render))
    _panels.sort(key=lambda p: p[0])


def panels_render(request: HttpRequest, member: Member) -> list[str]:
    return [render(request, member) for _order, _name, render in _panels]
