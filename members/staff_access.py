"""Staff looked at one member's data: every back-office view that shows it tells this module,
and the consent app writes the staff access log (``consent.AccessLog``; docs/privacy.md).

members sits below consent, so its views (the desk, the member lists, the timeline) call
``staff_access`` and consent registers the writer from its ``AppConfig.ready``. Views of
higher apps call it the same way, so there is one rule for what counts.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

Recorder = Callable[[HttpRequest, int, str], None]

_recorders: dict[str, Recorder] = {}


def staff_access_register(*, name: str, recorder: Recorder) -> None:
    _recorders[name] = recorder


def staff_access(request: HttpRequest, member_id: int, view: str) -> None:
    """``view``: a short code (``desk``, ``points``, ``list:rewards.purchase``...)."""
    for recorder in _recorders.values():
        recorder(request, member_id, view)
