"""The staff desk ("Kunddisken"): find a member and see them in one view (docs/desk.md).

members owns the page: the search, the member's header and the frame. Higher apps add what
they know from their ``AppConfig.ready``, as they add panels to "My pages":

- ``desk_section_register``: a section of the customer view (points and tier, vouchers,
  purchases, consent, offers). It renders HTML for the member with the request, so it may
  hold forms: each form posts to its own app's view, which calls one service.
- ``desk_home_register``: a part of the desk's first page, beside the search (the arrivals
  at the door, from rewards).

Each customer view shown is a staff access to the member's data (``members.staff_access``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from members.models import Member

Section = Callable[[HttpRequest, Member], str]

Home = Callable[[HttpRequest], str]

_sections: list[tuple[int, str, Section]] = []
_home: dict[str, Home] = {}


def desk_section_register(*, name: str, order: int, render: Section) -> None:
    global _sections
    _sections = [s for s in _sections if s[1] != name]
    _sections.append((order, name, render))
    _sections.sort(key=lambda s: s[0])


def desk_sections_render(request: HttpRequest, member: Member) -> list[str]:
    return [render(request, member) for _order, _name, render in _sections]


def desk_home_register(*, name: str, render: Home) -> None:
    _home[name] = render


def desk_home_render(request: HttpRequest) -> list[str]:
    return [render(request) for render in _home.values()]
